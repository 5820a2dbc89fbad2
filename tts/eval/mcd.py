"""Fidelity against reference audio: mel-cepstral distortion (MCD) with DTW alignment,
multi-resolution mel distance, and duration ratio.

Mel-cepstra here are MFCC-like, from a fixed analysis so that numbers compare across runs
and models whatever their own audio settings (`MCD_ANALYSIS`): audio at 16 kHz, a 25 ms Hann
window every 5 ms (FFT 512), an 80-band Slaney mel filterbank over 0-8 kHz, the natural log
of the band amplitudes (half the log power), and an orthonormal DCT-II; coefficients
c1..c24 are kept and c0 (overall level) is left out, so a change of gain does not count.
Band powers are floored 50 dB below the loudest band of the same signal: without a floor,
digital silence in a reference (engine audio has it) against the faint noise of a synthesis
dominates the score (white noise at 40 dB SNR scored 17 dB with a fixed 1e-10 floor and
0.4 dB with this one, where another flite voice saying the same sentence scores ~30 dB).
Per frame

    MCD = 10 / ln(10) * sqrt(2 * sum_k (c_k - c'_k)^2)   [dB]

averaged over the frames of the DTW path that aligns the two sequences (steps (1,1), (1,0),
(0,1), Euclidean cost). These are not the SPTK mel-generalised cepstra of the literature
(all-pass warping alpha=0.42): absolute values run higher than published MCDs; compare them
only with each other.
"""

from __future__ import annotations

import functools
import math

import numpy as np

# Glossary: S samples, T frames, K cepstral coefficients.

MCD_ANALYSIS = {
    "sample_rate": 16000,  # Hz
    "n_fft": 512,  # samples
    "win_length": 400,  # samples (25 ms)
    "hop_length": 80,  # samples (5 ms)
    "n_mels": 80,  # mel bands over 0 .. sample_rate / 2
    "n_cepstra": 24,  # c1 .. c24 (c0 excluded)
    "dynamic_range_db": 50.0,  # mel powers are floored this far below the signal's loudest band
}
_MCD_SCALE = 10.0 / math.log(10.0) * math.sqrt(2.0)  # dB per unit of Euclidean cepstral distance
DEFAULT_SECONDS_PER_PHONE = 0.08  # typical read English; used when there is no reference audio


@functools.lru_cache(maxsize=4)
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=0.0,
                               fmax=sample_rate / 2).astype(np.float64)  # (M, n_fft // 2 + 1)


@functools.lru_cache(maxsize=4)
def _dct_matrix(n_mels: int, n_cepstra: int) -> np.ndarray:
    """Rows 1..n_cepstra of the orthonormal DCT-II over n_mels bands: (K, M)."""
    k = np.arange(1, n_cepstra + 1)[:, None]
    m = np.arange(n_mels)[None, :]
    return np.sqrt(2.0 / n_mels) * np.cos(np.pi * k * (2 * m + 1) / (2 * n_mels))


def mel_cepstrum(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """MFCC-like mel-cepstra c1..c24 of a mono waveform (S,) -> (T, K), with MCD_ANALYSIS."""
    config = MCD_ANALYSIS
    return log_mel_amplitude(wav, sample_rate) @ _dct_matrix(config["n_mels"], config["n_cepstra"]).T  # (T, K)


def spectral_variance_ratio(wav: np.ndarray, sample_rate: int, reference: np.ndarray, reference_rate: int) -> float:
    """How much a synthesis's log-mel bands move over time against its reference's: the mean over
    bands of their standard deviations over the frames, over the reference's (MCD_ANALYSIS). Needs no alignment;
    below 1 the synthesis is smoother than speech (the over-smoothing of a regression model)."""
    spread = log_mel_amplitude(wav, sample_rate).std(axis=0)  # (M,)
    reference_spread = log_mel_amplitude(reference, reference_rate).std(axis=0)  # (M,)
    return float(spread.mean() / max(float(reference_spread.mean()), 1e-9))


def log_mel_amplitude(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """Natural-log mel amplitudes (T, M) of a mono waveform (S,) with MCD_ANALYSIS, floored
    dynamic_range_db below the loudest band."""
    config = MCD_ANALYSIS
    wav = np.asarray(wav, dtype=np.float64)
    if wav.ndim != 1:
        raise ValueError(f"mel analysis expects mono audio (S,), got shape {wav.shape}")
    if sample_rate != config["sample_rate"]:
        from tts.audio.io import resample

        wav = np.asarray(resample(wav.astype(np.float32), sample_rate, config["sample_rate"]), np.float64)
    n_fft, win, hop = config["n_fft"], config["win_length"], config["hop_length"]
    if wav.size < win:
        wav = np.pad(wav, (0, win - wav.size))
    frames = np.lib.stride_tricks.sliding_window_view(wav, win)[::hop]  # (T, win)
    spectrum = np.fft.rfft(frames * np.hanning(win + 1)[:-1], n=n_fft)  # (T, n_fft // 2 + 1)
    mel_power = (np.abs(spectrum) ** 2) @ _mel_basis(config["sample_rate"], n_fft, config["n_mels"]).T  # (T, M)
    floor = max(mel_power.max(), 1e-20) * 10.0 ** (-config["dynamic_range_db"] / 10.0)
    return 0.5 * np.log(np.maximum(mel_power, floor))  # (T, M)


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of a (N, K) and b (P, K) -> (N, P)."""
    squared = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def dtw(cost: np.ndarray) -> tuple[float, np.ndarray]:
    """Cheapest monotonic path through a cost matrix (N, P) from (0, 0) to (N-1, P-1).

    Steps (1,1), (1,0) and (0,1), each adding the cost of the cell entered. Returns the
    total cost and the path as index pairs (L, 2). Cells on one anti-diagonal depend only
    on the two before it, so each anti-diagonal is filled in one vectorised step.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2 or 0 in cost.shape:
        raise ValueError(f"dtw expects a non-empty 2-D cost matrix, got shape {cost.shape}")
    n, p = cost.shape
    total = np.full((n + 1, p + 1), np.inf)  # total[i, j]: best cost of a path ending at cell (i-1, j-1)
    total[0, 0] = 0.0
    for diagonal in range(2, n + p + 1):
        i = np.arange(max(1, diagonal - p), min(n, diagonal - 1) + 1)
        j = diagonal - i
        best_before = np.minimum(np.minimum(total[i - 1, j - 1], total[i - 1, j]), total[i, j - 1])
        total[i, j] = cost[i - 1, j - 1] + best_before
    path = [(n - 1, p - 1)]
    i, j = n, p
    while (i, j) != (1, 1):
        steps = ((i - 1, j - 1), (i - 1, j), (i, j - 1))  # the diagonal wins ties
        i, j = min(steps, key=lambda step: total[step])
        path.append((i - 1, j - 1))
    return float(total[n, p]), np.array(path[::-1], dtype=np.int64)


def mel_cepstral_distortion(wav: np.ndarray, sample_rate: int, reference: np.ndarray, reference_rate: int,
                            align: bool = True) -> float:
    """MCD in dB between a waveform and its reference; DTW-aligned, or frame by frame if not `align`."""
    a = mel_cepstrum(wav, sample_rate)  # (T, K)
    b = mel_cepstrum(reference, reference_rate)  # (T', K)
    if align:
        distances = pairwise_distances(a, b)  # (T, T')
        _, path = dtw(distances)
        frame_distances = distances[path[:, 0], path[:, 1]]  # (L,)
    else:
        frames = min(len(a), len(b))
        frame_distances = np.sqrt(((a[:frames] - b[:frames]) ** 2).sum(1))  # (T,)
    return float(_MCD_SCALE * frame_distances.mean())


def mel_distance(wav: np.ndarray, sample_rate: int, reference: np.ndarray, reference_rate: int) -> float:
    """Multi-resolution log-mel L1 distance, frame by frame, over the shorter of the two signals.

    Without alignment: it measures copy-synthesis (codec, vocoder), where the two line up in time.
    """
    from tts.audio.spectral import multi_resolution_mel_distance

    if sample_rate != reference_rate:
        from tts.audio.io import resample

        wav = resample(np.asarray(wav, np.float32), sample_rate, reference_rate)
    samples = min(len(wav), len(reference))
    return float(multi_resolution_mel_distance(np.asarray(wav[:samples], np.float32),
                                               np.asarray(reference[:samples], np.float32), reference_rate))


def count_phones(phones: list[str]) -> int:
    """ARPAbet phones in a phone sequence, leaving out word boundaries and punctuation."""
    return sum(1 for phone in phones if phone[:1].isalpha())


def duration_ratio(seconds: float, reference_seconds: float) -> float:
    """Duration of a synthesis over that of its reference (1 = same length)."""
    if reference_seconds <= 0:
        raise ValueError(f"reference duration must be > 0 seconds, got {reference_seconds}")
    return seconds / reference_seconds


def expected_duration(n_phones: int, seconds_per_phone: float = DEFAULT_SECONDS_PER_PHONE) -> float:
    """Duration expected of n phones at a speaking rate (seconds per phone)."""
    return n_phones * seconds_per_phone
