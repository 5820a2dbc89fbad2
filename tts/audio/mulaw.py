"""mu-law companding and quantisation for any bit depth, on numpy arrays or torch tensors.

Shapes: any (..., S); codes have the same shape as the waveform.

Convention (torchaudio's `mu_law_encoding` / `mu_law_decoding`, codes identical to it):
    mu = 2**bits - 1
    y = sign(x) * log1p(mu * |x|) / log1p(mu)          # compressed, in [-1, 1]
    code = floor((y + 1) / 2 * mu + 0.5)               # round to nearest, in [0, mu]
    decode: y = code / mu * 2 - 1, x = sign(y) * ((1 + mu) ** |y| - 1) / mu

librosa's `mu_compress(quantize=True)` uses the same compression curve but a different
quantiser: signed codes in [-2**(bits-1), 2**(bits-1) - 1] from `np.digitize(..., right=True)`,
which rounds up, i.e. librosa_code + 2**(bits-1) == ceil((y + 1) / 2 * mu). Our codes therefore
equal librosa's shifted by 2**(bits-1), or are one less where the scaled value's fraction is
below one half. tests/audio/test_mulaw.py checks both relations.

Inputs beyond [-1, 1] are clipped to full scale before encoding.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def _mu(bits: int) -> int:
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 24:
        raise ValueError(f"bits must be an integer in [1, 24], got {bits!r}")
    return 2 ** int(bits) - 1


def mu_law_compress(x: Array, bits: int = 8) -> Array:
    """Continuous mu-law curve: (..., S) in [-1, 1] -> (..., S) in [-1, 1] (no quantisation)."""
    mu = _mu(bits)
    xt = _as_float_tensor(x).clamp(-1.0, 1.0)
    y = torch.sign(xt) * torch.log1p(mu * xt.abs()) / torch.log1p(torch.tensor(float(mu), dtype=xt.dtype))
    return _back(y, x)


def mu_law_encode(x: Array, bits: int = 8) -> Array:
    """Waveform (..., S) in [-1, 1] -> integer codes (..., S) in [0, 2**bits - 1] (int64)."""
    mu = _mu(bits)
    xt = _as_float_tensor(x).clamp(-1.0, 1.0)
    mu_t = torch.tensor(float(mu), dtype=xt.dtype, device=xt.device)
    y = torch.sign(xt) * torch.log1p(mu_t * xt.abs()) / torch.log1p(mu_t)  # (..., S) in [-1, 1]
    codes = ((y + 1) / 2 * mu_t + 0.5).to(torch.int64)  # truncation of a non-negative value = floor
    return _back(codes, x)


def mu_law_decode(codes: Array, bits: int = 8) -> Array:
    """Integer codes (..., S) in [0, 2**bits - 1] -> waveform (..., S) in [-1, 1] (float32)."""
    mu = _mu(bits)
    ct = codes if isinstance(codes, torch.Tensor) else torch.from_numpy(np.asarray(codes))
    if ct.is_floating_point() or ct.is_complex():
        raise ValueError(f"mu_law_decode takes integer codes, got dtype {ct.dtype}")
    if ct.numel() and (int(ct.min()) < 0 or int(ct.max()) > mu):
        raise ValueError(f"codes must lie in [0, {mu}] for bits={bits}, "
                         f"got [{int(ct.min())}, {int(ct.max())}]")
    mu_t = torch.tensor(float(mu), dtype=torch.float32, device=ct.device)
    y = ct.to(torch.float32) / mu_t * 2 - 1  # (..., S) in [-1, 1]
    x = torch.sign(y) * (torch.exp(y.abs() * torch.log1p(mu_t)) - 1) / mu_t
    return _back(x, codes)


def _as_float_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.to(torch.float32)
    data = np.asarray(x)
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float32)
    return torch.from_numpy(data)


def _back(result: torch.Tensor, reference: np.ndarray | torch.Tensor):
    return result if isinstance(reference, torch.Tensor) else result.numpy()
