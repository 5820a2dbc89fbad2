"""Learning-rate schedules, as factors of the peak rate for optimiser update n (counted from 1).

noam: linear rise to the peak at `warmup` updates, then decay as 1/sqrt(n):
    factor(n) = min(n / warmup, sqrt(warmup / n))      (warmup = 0: 1/sqrt(n))
constant: 1 (after the same linear warmup when warmup > 0).
"""

from __future__ import annotations

import math

import torch


class LRFactor:
    """Picklable factor function for torch.optim.lr_scheduler.LambdaLR (which counts from 0)."""

    def __init__(self, schedule: str, warmup_steps: int):
        if schedule not in ("noam", "constant"):
            raise ValueError(f"unknown schedule {schedule!r}; use noam or constant")
        self.schedule, self.warmup_steps = schedule, warmup_steps

    def __call__(self, index: int) -> float:
        return lr_factor(index + 1, self.schedule, self.warmup_steps)


def lr_factor(update: int, schedule: str, warmup_steps: int) -> float:
    """Factor of the peak learning rate used by optimiser update `update` (1, 2, ...)."""
    n = max(update, 1)
    rise = n / warmup_steps if warmup_steps > 0 else 1.0
    if schedule == "constant":
        return min(1.0, rise)
    if warmup_steps == 0:
        return 1.0 / math.sqrt(n)
    return min(rise, math.sqrt(warmup_steps / n))


def build_scheduler(optimizer: torch.optim.Optimizer, schedule: str,
                    warmup_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR whose state (the update count) is saved in checkpoints."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, LRFactor(schedule, warmup_steps))
