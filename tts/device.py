"""Which torch device a setting names: 'auto', 'cpu', 'cuda' or 'cuda:N'."""

from __future__ import annotations

import torch


def resolve_device(setting: str | torch.device) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cpu', 'cuda', 'cuda:N' as given (CUDA must exist)."""
    if str(setting) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(setting)!r} asks for CUDA, but torch sees no GPU; use cpu")
    return device
