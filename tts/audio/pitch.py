"""Fundamental frequency by YIN (de Cheveigné and Kawahara, 2002), batched in torch.

Frames are centred on samples t x hop, as the log-mels are (`tts.audio.spectral.mel_frames`), so S samples
give T = 1 + S // hop frames. A frame is voiced where the cumulative mean normalised difference dips below
`threshold` at a lag between sample_rate / f_max and sample_rate / f_min; its F0 is the first such dip,
refined to the local minimum and by a parabola through its neighbours.

Shapes: B batch, S samples, T frames, K lags.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SILENCE = 1e-4  # frames whose mean square is below this (-40 dBFS) are unvoiced


def yin(wav: torch.Tensor, sample_rate: int, hop_length: int, f_min: float = 50.0, f_max: float = 500.0,
        threshold: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """F0 in Hz (0 where unvoiced) and the voiced mask of (B, S) audio: (B, T) float, (B, T) bool."""
    if not 0 < f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 < f_min < f_max <= sample_rate / 2, got {f_min} and {f_max} Hz at {sample_rate} Hz")
    lag_min, lag_max = int(sample_rate / f_max), int(sample_rate / f_min) + 1
    window = lag_max  # samples integrated per lag
    size = window + lag_max + 1
    x = F.pad(wav.float(), (size // 2, size // 2 + hop_length))
    frames = x.unfold(-1, size, hop_length)[:, :1 + wav.shape[-1] // hop_length]  # (B, T, size)
    head = frames[..., :window]
    n_fft = 1 << (2 * size - 1).bit_length()
    correlation = torch.fft.irfft(torch.fft.rfft(frames, n_fft).mul(torch.fft.rfft(head, n_fft).conj()), n_fft)
    correlation = correlation[..., :lag_max + 1]  # (B, T, K): sum_j x_j x_{j + lag}
    energy = F.pad(frames.pow(2).cumsum(-1), (1, 0))  # (B, T, size + 1)
    lags = torch.arange(lag_max + 1, device=wav.device)
    shifted = energy[..., lags + window] - energy[..., lags]  # (B, T, K): sum_j x_{j + lag}^2
    difference = (shifted[..., :1] + shifted - 2 * correlation).clamp(min=0)  # (B, T, K)
    normalised = torch.ones_like(difference)
    running = difference[..., 1:].cumsum(-1)
    normalised[..., 1:] = difference[..., 1:] * lags[1:] / running.clamp(min=1e-12)
    normalised[..., :lag_min] = 2.0  # lags above f_max are not candidates
    below = normalised < threshold
    voiced = below.any(-1) & (head.pow(2).mean(-1) > SILENCE)
    lag = below.float().argmax(-1)  # (B, T): first dip below the threshold
    for _ in range(lag_max):  # walk down to the local minimum
        step = (lag < lag_max) & (normalised.gather(-1, (lag + 1).clamp(max=lag_max)[..., None])[..., 0]
                                  < normalised.gather(-1, lag[..., None])[..., 0])
        if not bool(step.any()):
            break
        lag = lag + step.long()
    inner = lag.clamp(1, lag_max - 1)
    left, middle, right = (normalised.gather(-1, (inner + k)[..., None])[..., 0] for k in (-1, 0, 1))
    curvature = left - 2 * middle + right
    offset = torch.where(curvature > 1e-9, 0.5 * (left - right) / curvature.clamp(min=1e-9), torch.zeros_like(left))
    f0 = sample_rate / (inner.float() + offset.clamp(-1, 1))
    return torch.where(voiced, f0, torch.zeros_like(f0)), voiced
