"""STFT / ISTFT, mel filterbanks, log-mel features, Griffin-Lim and a multi-resolution mel loss.

Shapes: B batch, S samples, F = n_fft // 2 + 1 frequency bins, T frames, M mel bins.
    waveform (..., S) or (B, 1, S)   spectrum (..., F, T) complex   mel (..., M, T)
A (B, 1, S) waveform gives (B, M, T) features: the channel axis is dropped, as the fixed layouts
say (waveform (B, 1, S), mel (B, M, T)). Every other leading shape is kept as it is.

Conventions, chosen to match librosa's defaults so that its figures and tools line up:
- frames are centred: the signal is zero-padded by n_fft // 2 on each side ("constant", as
  librosa.stft), so S samples give T = 1 + S // hop_length frames (`mel_frames`);
- periodic Hann window of win_length, zero-padded to n_fft in the middle;
- Slaney mel scale and Slaney area normalisation (librosa.filters.mel's default);
- the mel spectrogram is of the STFT *magnitude* (power 1, as HiFi-GAN-style vocoders use);
- log-mel = ln(max(mel, LOG_FLOOR)) with LOG_FLOOR = 1e-5, i.e. a floor of -11.51 (-100 dB).
Parity with ln(max(librosa.feature.melspectrogram(power=1), 1e-5)), max abs difference in
log-mel: ~1e-7 for float64 input; ~5e-7 for float32 noise; for float32 audio with deep
spectral valleys, float32 FFT rounding (~1e-7 of the loudest bin) shows up to ~2e-3 in bins
near the floor but stays below 1e-4 wherever mel > 1e-3 (tests/audio/test_audio_spectral.py,
scripts/bench_mel.py).

Functions accept numpy arrays or torch tensors and return torch tensors. Settings are plain
numbers, as in torchaudio's functional API: a recipe's come from `AudioConfig.stft_kwargs()` and
`AudioConfig.mel_kwargs()`, e.g. `log_mel(wav, **recipe.audio.mel_kwargs())`. win_length None
means n_fft and f_max None means sample_rate / 2, as in torchaudio.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

LOG_FLOOR = 1e-5  # mel amplitudes below this are floored before the log (-100 dB)


# --------------------------------------------------------------------------- STFT


def hann_window(win_length: int, device: torch.device | str | None = None,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Periodic Hann window (win_length,), the one librosa and torch.stft use for analysis."""
    # computed in float64 then rounded: torch's float32 cosine is a few ulp off scipy's window
    return torch.hann_window(win_length, periodic=True, dtype=torch.float64, device=device).to(dtype)


def stft(wav: np.ndarray | torch.Tensor, n_fft: int, hop_length: int, win_length: int | None = None,
         window: torch.Tensor | None = None) -> torch.Tensor:
    """Centred, zero-padded STFT: (..., S) -> complex (..., F, T) with T = 1 + S // hop_length."""
    x = _as_tensor(wav)
    win_length = win_length or n_fft
    if window is None:
        window = hann_window(win_length, x.device, x.dtype)
    lead, n = x.shape[:-1], x.shape[-1]
    if n == 0:
        raise ValueError("stft of an empty waveform (0 samples)")
    spec = torch.stft(x.reshape(-1, n), n_fft, hop_length, win_length, window.to(x.dtype),
                      center=True, pad_mode="constant", return_complex=True)  # (N, F, T)
    return spec.reshape(*lead, *spec.shape[-2:])  # (..., F, T)


def istft(spec: torch.Tensor, hop_length: int, win_length: int | None = None,
          window: torch.Tensor | None = None, length: int | None = None) -> torch.Tensor:
    """Inverse of `stft` (least-squares overlap-add): complex (..., F, T) -> (..., S).

    `length` defaults to (T - 1) * hop_length; pass the original S for an exact round trip.
    """
    n_fft = 2 * (spec.shape[-2] - 1)
    win_length = win_length or n_fft
    if window is None:
        window = hann_window(win_length, spec.device, spec.real.dtype)
    lead = spec.shape[:-2]
    flat = spec.reshape(-1, *spec.shape[-2:])  # (N, F, T)
    wav = torch.istft(flat, n_fft, hop_length, win_length, window.to(flat.real.dtype), center=True,
                      length=length)  # (N, S)
    return wav.reshape(*lead, wav.shape[-1])  # (..., S)


def magnitude(spec: torch.Tensor) -> torch.Tensor:
    """|X|: complex (..., F, T) -> real (..., F, T)."""
    return spec.abs()


def phase(spec: torch.Tensor) -> torch.Tensor:
    """Angle of X in radians: complex (..., F, T) -> real (..., F, T)."""
    return spec.angle()


def power(spec: torch.Tensor) -> torch.Tensor:
    """|X|^2: complex (..., F, T) -> real (..., F, T)."""
    return spec.real ** 2 + spec.imag ** 2


def mel_frames(n_samples: int, hop_length: int) -> int:
    """Frames that `stft`/`log_mel` give for n_samples samples (centred framing)."""
    return 1 + n_samples // hop_length


def linear_spectrogram(wav: np.ndarray | torch.Tensor, n_fft: int, hop_length: int,
                       win_length: int | None = None) -> torch.Tensor:
    """STFT magnitude: (..., S) -> (..., F, T); (B, 1, S) -> (B, F, T)."""
    return magnitude(stft(_drop_channel(_as_tensor(wav)), n_fft, hop_length, win_length))


# --------------------------------------------------------------------------- mel


def hz_to_mel(hz: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """Hertz -> mel: Slaney (linear below 1 kHz, logarithmic above) or HTK (2595 log10(1 + f/700))."""
    hz = np.asarray(hz, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    linear = hz / (200.0 / 3)  # 15 mels at 1 kHz
    logarithmic = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (math.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, logarithmic, linear)


def mel_to_hz(mel: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """Mel -> Hertz, the inverse of `hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    linear = mel * (200.0 / 3)
    logarithmic = 1000.0 * np.exp((math.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, logarithmic, linear)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                   f_max: float | None = None, htk: bool = False, norm: str | None = "slaney"
                   ) -> torch.Tensor:
    """Triangular mel filters (M, F), equal to librosa.filters.mel with the same arguments.

    Filter edges are equally spaced on the mel scale between f_min and f_max (default
    sample_rate / 2). norm="slaney" divides each triangle by its width in Hz (equal area).
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2, got f_min={f_min}, "
                         f"f_max={f_max}, sample_rate={sample_rate}")
    if norm not in ("slaney", None):
        raise ValueError(f"norm must be 'slaney' or None, got {norm!r}")
    bins_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)  # (F,)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min, htk), hz_to_mel(f_max, htk), n_mels + 2), htk)  # (M+2,)
    widths = np.diff(edges)  # (M+1,)
    offsets = edges[:, None] - bins_hz[None, :]  # (M+2, F)
    rising = -offsets[:-2] / widths[:-1, None]  # (M, F)
    falling = offsets[2:] / widths[1:, None]  # (M, F)
    weights = np.maximum(0.0, np.minimum(rising, falling))  # (M, F)
    if norm == "slaney":
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


def log_mel(wav: np.ndarray | torch.Tensor, *, sample_rate: int, n_fft: int, hop_length: int, n_mels: int,
            win_length: int | None = None, f_min: float = 0.0, f_max: float | None = None) -> torch.Tensor:
    """Log-mel features (..., S) -> (..., M, T); (B, 1, S) -> (B, M, T). See the module notes."""
    x = _drop_channel(_as_tensor(wav))
    fbank = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max).to(x.device)  # (M, F)
    mag = magnitude(stft(x, n_fft, hop_length, win_length))  # (..., F, T)
    return torch.log(torch.clamp(torch.matmul(fbank.to(mag.dtype), mag), min=LOG_FLOOR))  # (..., M, T)


class MelSpectrogram(nn.Module):
    """Log-mel features as a module: window and filterbank are buffers, so .to(device) moves them.

    Takes the settings of `log_mel`. forward: waveform (..., S) or (B, 1, S) -> log-mel (..., M, T)
    or (B, M, T), float32.
    """

    def __init__(self, *, sample_rate: int, n_fft: int, hop_length: int, n_mels: int,
                 win_length: int | None = None, f_min: float = 0.0, f_max: float | None = None):
        super().__init__()
        self.sample_rate, self.n_fft, self.hop_length, self.n_mels = sample_rate, n_fft, hop_length, n_mels
        self.win_length = win_length or n_fft
        self.register_buffer("window", hann_window(self.win_length), persistent=False)
        self.register_buffer("filterbank", mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max),
                             persistent=False)  # (M, F)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = _drop_channel(_as_tensor(wav)).float()
        mag = magnitude(stft(x, self.n_fft, self.hop_length, self.win_length, self.window))  # (..., F, T)
        return torch.log(torch.clamp(torch.matmul(self.filterbank, mag), min=LOG_FLOOR))  # (..., M, T)

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
                f"win_length={self.win_length}, n_mels={self.n_mels}")


# --------------------------------------------------------------------------- inversion


def griffin_lim(magnitude_spec: np.ndarray | torch.Tensor, hop_length: int, win_length: int | None = None,
                n_iter: int = 32, momentum: float = 0.99, length: int | None = None,
                seed: int = 0) -> torch.Tensor:
    """Waveform (..., S) whose STFT magnitude approximates (..., F, T) (fast Griffin-Lim).

    Alternates projections between the given magnitude and consistent spectrograms, with
    Perraudin et al.'s momentum (0 gives classic Griffin-Lim). Random start phase from `seed`.
    """
    mag = _as_tensor(magnitude_spec).float()
    n_fft = 2 * (mag.shape[-2] - 1)
    win_length = win_length or n_fft
    window = hann_window(win_length, mag.device)
    generator = torch.Generator().manual_seed(seed)
    angles = torch.polar(torch.ones(mag.shape), 2 * math.pi * torch.rand(mag.shape, generator=generator))
    angles = angles.to(mag.device)  # (..., F, T) unit complex
    previous = torch.zeros_like(angles)
    n_samples = (mag.shape[-1] - 1) * hop_length
    for _ in range(n_iter):
        wav = istft(mag * angles, hop_length, win_length, window, length=n_samples)  # (..., S)
        projected = stft(wav, n_fft, hop_length, win_length, window)  # (..., F, T)
        accelerated = projected + momentum * (projected - previous)
        previous = projected
        angles = accelerated / accelerated.abs().clamp(min=1e-16)
    return istft(mag * angles, hop_length, win_length, window, length=length or n_samples)


def mel_to_linear(mel: np.ndarray | torch.Tensor, *, sample_rate: int, n_fft: int, f_min: float = 0.0,
                  f_max: float | None = None, n_iter: int = 32) -> torch.Tensor:
    """Non-negative linear magnitude (..., F, T) whose mel projection approximates mel (..., M, T).

    mel is the amplitude (not the log), made with the filterbank of these settings (M from its
    shape). Starts from the pseudo-inverse clipped to be positive, then refines with
    multiplicative non-negative least-squares updates, which keep every bin >= 0.
    """
    target = _as_tensor(mel).float()
    fbank = mel_filterbank(sample_rate, n_fft, target.shape[-2], f_min, f_max).to(target.device)  # (M, F)
    estimate = torch.matmul(torch.linalg.pinv(fbank), target).clamp(min=1e-8)  # (..., F, T)
    gram = fbank.T @ fbank  # (F, F)
    numerator = torch.matmul(fbank.T, target)  # (..., F, T)
    for _ in range(n_iter):
        estimate = estimate * numerator / torch.matmul(gram, estimate).clamp(min=1e-12)
    return estimate


def griffin_lim_from_log_mel(log_mel_spec: np.ndarray | torch.Tensor, *, sample_rate: int, n_fft: int,
                             hop_length: int, n_mels: int, win_length: int | None = None, f_min: float = 0.0,
                             f_max: float | None = None, n_iter: int = 32, length: int | None = None,
                             seed: int = 0) -> torch.Tensor:
    """Waveform (..., S) from log-mel (..., M, T) made with the settings of `log_mel`: exp,
    `mel_to_linear`, then `griffin_lim`."""
    features = _as_tensor(log_mel_spec).float()
    if features.dim() < 2 or features.shape[-2] != n_mels:
        raise ValueError(f"expected a log-mel (..., {n_mels} mel bins, frames), got shape {tuple(features.shape)}")
    linear = mel_to_linear(torch.exp(features), sample_rate=sample_rate, n_fft=n_fft, f_min=f_min,
                           f_max=f_max)  # (..., F, T)
    return griffin_lim(linear, hop_length, win_length, n_iter=n_iter, length=length, seed=seed)


# --------------------------------------------------------------------------- multi-resolution loss


def mel_resolutions(sample_rate: int, window_seconds: Sequence[float] = (0.016, 0.032, 0.064),
                    max_mels: int = 80) -> list[tuple[int, int, int]]:
    """(n_fft, hop_length, n_mels) per resolution, scaled to the rate.

    n_fft is the power of two nearest each window length (16 kHz: 256, 512, 1024), the hop a
    quarter of it, and n_mels min(max_mels, n_fft // 8) so that no mel filter falls between FFT bins.
    """
    out = []
    for seconds in window_seconds:
        n_fft = 2 ** int(round(math.log2(seconds * sample_rate)))
        out.append((n_fft, n_fft // 4, min(max_mels, n_fft // 8)))
    return out


class MultiResolutionMelLoss(nn.Module):
    """Mean L1 distance between log-mels at several FFT sizes: (B, 1, S) or (..., S) pairs -> scalar."""

    def __init__(self, sample_rate: int, resolutions: Sequence[tuple[int, int, int]] | None = None):
        super().__init__()
        self.resolutions = list(resolutions or mel_resolutions(sample_rate))
        self.mels = nn.ModuleList(
            MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
            for n_fft, hop, n_mels in self.resolutions)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if prediction.shape != target.shape:
            raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} "
                             "must have the same shape; crop them to the same length first")
        losses = [torch.nn.functional.l1_loss(mel(prediction), mel(target)) for mel in self.mels]
        return torch.stack(losses).mean()


def multi_resolution_mel_distance(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor,
                                  sample_rate: int) -> float:
    """Multi-resolution log-mel L1 distance between two waveforms (nats; 0 = identical).

    Both are cropped to the shorter length, so a small length mismatch is tolerated; for
    misaligned audio (different timing) use a DTW-based measure instead.
    """
    x, y = _as_tensor(a).float().cpu(), _as_tensor(b).float().cpu()
    n = min(x.shape[-1], y.shape[-1])
    if n == 0:
        raise ValueError("multi_resolution_mel_distance of an empty waveform")
    with torch.no_grad():
        return float(MultiResolutionMelLoss(sample_rate)(x[..., :n], y[..., :n]))


# --------------------------------------------------------------------------- helpers


def _as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() or x.is_complex() else x.float()
    data = np.asarray(x)
    if data.dtype not in (np.float32, np.float64, np.complex64, np.complex128):
        data = data.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(data))


def _drop_channel(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, S) -> (B, S); anything else unchanged."""
    return x[:, 0] if x.dim() == 3 and x.shape[1] == 1 else x
