"""MCD, DTW and duration ratio on synthetic and flite audio."""

import numpy as np
import pytest

from tts.eval.mcd import (count_phones, dtw, duration_ratio, expected_duration, mel_cepstral_distortion,
                          mel_cepstrum, mel_distance, pairwise_distances, spectral_variance_ratio)

from eval_fixtures import read

RATE = 16000


def chirp_speech(seconds: float = 1.5, seed: int = 0, formant_swing: float = 400.0) -> np.ndarray:
    """A speech-like test signal: a harmonic tone with a gliding pitch and a moving formant."""
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 120 + 60 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    formant = 600 + formant_swing * np.sin(2 * np.pi * 1.3 * t)
    wav = sum(np.exp(-((k * pitch - formant) / 300.0) ** 2) * np.sin(k * phase) for k in range(1, 30))
    wav += 0.001 * np.random.default_rng(seed).standard_normal(len(t))
    return (0.3 * wav / np.abs(wav).max()).astype(np.float32)


def add_noise(wav: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(wav)).astype(np.float32)
    return wav + noise * np.sqrt(np.mean(wav ** 2) / 10 ** (snr_db / 10))


def test_mel_cepstrum_shape():
    cepstra = mel_cepstrum(chirp_speech(1.0), RATE)
    assert cepstra.shape[1] == 24
    assert abs(cepstra.shape[0] - RATE // 80) <= 5  # one frame every 5 ms


def test_identical_signals_have_zero_mcd():
    wav = chirp_speech()
    assert mel_cepstral_distortion(wav, RATE, wav, RATE) == pytest.approx(0.0, abs=1e-6)


def test_mcd_ignores_gain():  # c0 is left out
    wav = chirp_speech()
    assert mel_cepstral_distortion(0.1 * wav, RATE, wav, RATE) < 0.05


def test_mcd_grows_with_noise():
    wav = chirp_speech()
    scores = [mel_cepstral_distortion(add_noise(wav, snr), RATE, wav, RATE) for snr in (40, 20, 10, 0)]
    assert scores[0] > 0
    assert all(a < b for a, b in zip(scores, scores[1:])), scores


def test_mcd_does_not_depend_on_the_sample_rate():
    wav = chirp_speech()
    import librosa

    at_22k = librosa.resample(wav, orig_sr=RATE, target_sr=22050)
    assert mel_cepstral_distortion(at_22k, 22050, wav, RATE) < 1.0


def test_dtw_of_a_sequence_with_itself_is_the_diagonal():
    x = np.random.default_rng(0).standard_normal((30, 4))
    total, path = dtw(pairwise_distances(x, x))
    assert total == pytest.approx(0.0, abs=1e-5)
    assert np.array_equal(path, np.stack([np.arange(30), np.arange(30)], 1))


def test_dtw_undoes_a_time_stretch():
    x = np.random.default_rng(1).standard_normal((40, 6))
    stretched = np.repeat(x, [1 + (i % 3 == 0) for i in range(40)], axis=0)  # some frames doubled
    total, path = dtw(pairwise_distances(stretched, x))
    assert total == pytest.approx(0.0, abs=1e-5)
    assert np.array_equal(stretched[path[:, 0]], x[path[:, 1]])
    assert path[0].tolist() == [0, 0] and path[-1].tolist() == [len(stretched) - 1, 39]
    assert np.all(np.diff(path, axis=0) >= 0)


def test_dtw_brute_force_small():
    cost = np.array([[1.0, 5.0, 9.0], [4.0, 1.0, 6.0], [7.0, 8.0, 1.0]])
    total, path = dtw(cost)
    assert total == pytest.approx(3.0)
    assert path.tolist() == [[0, 0], [1, 1], [2, 2]]
    total, _ = dtw(np.array([[1.0, 2.0, 3.0]]))  # one row: every column must be visited
    assert total == pytest.approx(6.0)


def test_dtw_rejects_empty():
    with pytest.raises(ValueError):
        dtw(np.zeros((0, 3)))


def test_aligned_mcd_is_robust_to_a_time_shift():
    wav = chirp_speech()
    shifted = np.concatenate([np.zeros(1234, np.float32), wav])
    aligned = mel_cepstral_distortion(shifted, RATE, wav, RATE)
    unaligned = mel_cepstral_distortion(shifted, RATE, wav, RATE, align=False)
    noisy = mel_cepstral_distortion(add_noise(wav, 10), RATE, wav, RATE)
    assert aligned < 0.3 * unaligned
    assert aligned < noisy


def test_mcd_between_voices_exceeds_mcd_of_noise(clips):
    slt, rate = read(clips["slt_1"])
    rms, _ = read(clips["rms_1"])
    other_voice = mel_cepstral_distortion(rms, rate, slt, rate)
    light_noise = mel_cepstral_distortion(add_noise(slt, 30), rate, slt, rate)
    assert light_noise < 5.0 < other_voice


def test_mel_distance_zero_for_identical_and_positive_for_noise():
    wav = chirp_speech()
    assert mel_distance(wav, RATE, wav, RATE) == pytest.approx(0.0, abs=1e-6)
    assert mel_distance(add_noise(wav, 10), RATE, wav, RATE) > mel_distance(add_noise(wav, 30), RATE, wav, RATE)


def test_spectral_variance_ratio_needs_no_alignment_and_sees_smoothing():
    wav = chirp_speech()
    assert spectral_variance_ratio(wav, RATE, wav, RATE) == pytest.approx(1.0)
    assert spectral_variance_ratio(wav[::-1].copy(), RATE, wav, RATE) == pytest.approx(1.0, abs=0.05)  # reversed
    steadier = chirp_speech(formant_swing=100.0)  # the same voice with a formant that moves less
    assert spectral_variance_ratio(steadier, RATE, wav, RATE) < 0.9 < 1.1 < spectral_variance_ratio(wav, RATE, steadier, RATE)


def test_duration_helpers():
    assert duration_ratio(3.0, 2.0) == pytest.approx(1.5)
    with pytest.raises(ValueError):
        duration_ratio(1.0, 0.0)
    assert count_phones(["HH", "AH0", "L", "OW1", "_", "W", "ER1", "L", "D", "."]) == 8
    assert expected_duration(10, 0.1) == pytest.approx(1.0)
