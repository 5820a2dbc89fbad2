"""Learning-rate schedules, as factors of the peak rate for optimiser update n (counted from 1).

noam: linear rise to the peak at `warmup` updates, then decay as 1/sqrt(n):
    factor(n) = min(n / warmup, sqrt(warmup / n))      (warmup = 0: 1/sqrt(n))
constant: 1 (after the same linear warmup when warmup > 0).
cosine: the same linear warmup, then half a cosine from 1 down to 0 at `max_steps`:
    factor(n) = 0.5 x (1 + cos(pi x (n - warmup) / (max_steps - warmup)))
"""

from __future__ import annotations

import math

import torch


class LRFactor:
    """Picklable factor function for torch.optim.lr_scheduler.LambdaLR (which counts from 0)."""

    def __init__(self, schedule: str, warmup_steps: int, max_steps: int = 0):
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; use one of {', '.join(SCHEDULES)}")
        self.schedule, self.warmup_steps, self.max_steps = schedule, warmup_steps, max_steps

    def __call__(self, index: int) -> float:
        return lr_factor(index + 1, self.schedule, self.warmup_steps, self.max_steps)


SCHEDULES = ("noam", "constant", "cosine")


def lr_factor(update: int, schedule: str, warmup_steps: int, max_steps: int = 0) -> float:
    """Factor of the peak learning rate used by optimiser update `update` (1, 2, ...)."""
    n = max(update, 1)
    rise = n / warmup_steps if warmup_steps > 0 else 1.0
    if schedule == "constant":
        return min(1.0, rise)
    if schedule == "cosine":
        if n <= warmup_steps:
            return rise
        if max_steps <= warmup_steps:
            raise ValueError(f"the cosine schedule needs max_steps ({max_steps}) > warmup_steps ({warmup_steps})")
        done = min(1.0, (n - warmup_steps) / (max_steps - warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * done))
    if warmup_steps == 0:
        return 1.0 / math.sqrt(n)
    return min(rise, math.sqrt(warmup_steps / n))


def build_scheduler(optimizer: torch.optim.Optimizer, schedule: str, warmup_steps: int,
                    max_steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR whose state (the update count) is saved in checkpoints."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, LRFactor(schedule, warmup_steps, max_steps))
