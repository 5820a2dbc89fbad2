"""scripts/stft_swap.py: the crosswise reconstructions take each half from the side they name; sharpening
raises the peaks of the spectrum over what lies between them and keeps each frame's energy."""

import numpy as np
import pytest
import torch

from stft_swap import sharpened, swapped

RATE = 16000


def _tone(frequency: float, seconds: float = 0.5, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (0.5 * np.sin(2 * np.pi * frequency * t + phase)).astype(np.float32)


def _stft(wav: np.ndarray, n_fft: int) -> torch.Tensor:
    return torch.stft(torch.from_numpy(wav), n_fft, n_fft // 4, window=torch.hann_window(n_fft), return_complex=True)


def test_swapping_a_signal_with_itself_gives_it_back():
    wav = _tone(220.0) + 0.1 * np.random.default_rng(0).standard_normal(RATE // 2).astype(np.float32)
    out = swapped(wav, wav, 320)
    inner = slice(320, -320)  # the ends lack a full window's overlap
    for name in ("synthesis magnitude, recording phase", "recording magnitude, synthesis phase"):
        np.testing.assert_allclose(out[name][inner], wav.clip(-1, 1)[inner], atol=1e-4)
    assert np.abs(out["recording magnitude, random phase"] - wav).max() > 0.1


def _peak_hz(wav: np.ndarray, n_fft: int = 1024) -> float:
    spectrum = _stft(wav, n_fft).abs()[:, 4:-4].mean(dim=1)  # (F,), the ends left out
    return float(spectrum.argmax()) * RATE / n_fft


def test_each_half_comes_from_the_side_it_names():
    """The magnitude sets where the energy lies, whatever phase it is given (within a bin or two)."""
    synthesis, recording = _tone(300.0), 0.2 * _tone(2000.0, phase=1.0)[:-500]  # another length: cut to it
    out = swapped(synthesis, recording, 1024)
    assert {len(wav) for wav in out.values()} == {len(recording)}
    assert abs(_peak_hz(out["synthesis magnitude, recording phase"]) - 300.0) < 100.0
    assert abs(_peak_hz(out["recording magnitude, synthesis phase"]) - 2000.0) < 100.0
    assert abs(_peak_hz(out["recording magnitude, random phase"]) - 2000.0) < 100.0


def test_sharpening_keeps_energy_and_raises_the_peaks():
    wav = _tone(440.0) + 0.05 * np.random.default_rng(1).standard_normal(RATE // 2).astype(np.float32)
    inner = slice(1024, -1024)
    np.testing.assert_allclose(sharpened(wav, 1.0, 1024)[inner], wav[inner], atol=1e-4)  # power 1: unchanged
    out = sharpened(wav, 1.5, 1024)
    assert len(out) == len(wav)
    assert np.sqrt(np.mean(out[inner] ** 2)) == pytest.approx(np.sqrt(np.mean(wav[inner] ** 2)), rel=0.1)

    def noise_share(x: np.ndarray) -> float:  # the share of the energy outside the tone's bins
        power = _stft(x, 1024).abs()[:, 4:-4] ** 2
        return float(1 - power[26:31].sum() / power.sum())  # 440 Hz is bin 28 at 15.6 Hz a bin

    assert noise_share(out) < 0.5 * noise_share(wav)
