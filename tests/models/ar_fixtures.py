"""Shared by the AR model tests: a batch of random sentences with voice prompts."""

from __future__ import annotations

import torch

V = 32  # codebook size
N_SYMBOLS = 20  # phone ids 1..19 (0 pads)


def sentences(lengths: tuple[int, int] = (6, 3)) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """Two sentences of `lengths` phones, each with a prompt's phones (2 and 5) and codebook-1 codes (7 and 1)."""
    g = torch.Generator().manual_seed(1)
    phones = [torch.randint(1, N_SYMBOLS, (n,), generator=g) for n in lengths]
    prompt_phones = [torch.randint(1, N_SYMBOLS, (n,), generator=g) for n in (2, 5)]
    prompt_codes = [torch.randint(0, V, (n,), generator=g) for n in (7, 1)]
    return phones, prompt_phones, prompt_codes
