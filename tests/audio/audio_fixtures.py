"""Deterministic test signals for the audio and plot tests."""

from __future__ import annotations

import numpy as np


def tone(sample_rate: int, seconds: float, hz: float, amplitude: float = 0.5) -> np.ndarray:
    """A sine (S,) float32."""
    t = np.arange(int(round(sample_rate * seconds))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def harmonic(sample_rate: int, seconds: float, f0: float = 150.0) -> np.ndarray:
    """A gliding voice-like harmonic signal (S,) float32 with peak 0.3."""
    t = np.arange(int(round(sample_rate * seconds))) / sample_rate
    phase = 2 * np.pi * f0 * (t + 0.2 * t ** 2)
    wav = sum(np.sin(k * phase) / k for k in range(1, 12) if k * f0 * 1.4 < sample_rate / 2)
    return (0.3 * wav / np.abs(wav).max()).astype(np.float32)


def level_db(wav: np.ndarray) -> float:
    """RMS level in dBFS, computed independently of tts.audio."""
    return 10 * np.log10(np.mean(np.asarray(wav, np.float64) ** 2) + 1e-30)
