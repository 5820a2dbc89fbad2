"""The error every recipe check raises, and the training section every stage shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional


class ConfigError(ValueError):
    """A recipe key with a bad value; the message names the dotted key and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str, source: str | None = None):
        where = f"{source}: " if source else ""
        super().__init__(f"{where}recipe key '{key}' = {value!r} is invalid: {allowed}")
        self.key, self.value, self.allowed = key, value, allowed


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(key, value, allowed)


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule and bookkeeping for one training stage (shared engine)."""

    lr: float = 1e-3  # peak learning rate, reached at the end of warmup
    betas: tuple[float, float] = (0.9, 0.98)  # AdamW betas
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    schedule: Literal["noam", "constant", "cosine"] = "noam"  # noam: linear rise then 1/sqrt(step);
    # cosine: linear rise then half a cosine down to 0 at max_steps
    warmup_steps: int = 200  # optimiser steps of linear warmup
    max_steps: int = 1000  # optimiser steps in total
    max_minutes: float = 0.0  # minutes of training in total (across restarts) after which the stage ends as at
    # max_steps, with a final validation and checkpoint; a later run with a larger value resumes (0 = no limit)
    batch_tokens: int = 6000  # AR/NAR: max tokens (phones + frames) per batch
    batch_size: int = 8  # codec/vocoder: segments per batch
    segment_seconds: float = 1.0  # codec/vocoder: length of random training crops
    grad_accum: int = 1  # micro-batches per optimiser step
    grad_clip: float = 1.0  # max global gradient norm (0 = off)
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 on CUDA, fp32 on CPU
    log_every: int = 10  # steps between progress lines / metrics records
    validate_every: int = 200  # steps between validation passes
    checkpoint_every: int = 200  # steps between checkpoints
    sample_every: int = 500  # steps between audio + spectrogram samples (0 = off)
    keep_last: int = 3  # checkpoints kept besides best.pt
    max_nonfinite: int = 20  # consecutive non-finite steps before the run stops
    num_workers: int = 0  # data-loader worker processes
    init_from: Optional[str] = None  # checkpoint of this stage whose weights start a new run (fine-tuning);
    # the optimiser and schedule start afresh; ignored when the run resumes from its own last.pt

    def validate(self) -> None:
        _check(self.lr > 0, "lr", self.lr, "a positive learning rate")
        _check(all(0 <= b < 1 for b in self.betas), "betas", self.betas, "two numbers in [0, 1)")
        _check(self.warmup_steps >= 0, "warmup_steps", self.warmup_steps, ">= 0")
        _check(self.max_steps > 0, "max_steps", self.max_steps, "> 0")
        _check(self.max_minutes >= 0, "max_minutes", self.max_minutes, ">= 0 minutes (0 = no limit)")
        _check(self.batch_tokens > 0, "batch_tokens", self.batch_tokens, "> 0")
        _check(self.batch_size > 0, "batch_size", self.batch_size, "> 0")
        _check(self.segment_seconds > 0, "segment_seconds", self.segment_seconds, "> 0 seconds")
        _check(self.grad_accum >= 1, "grad_accum", self.grad_accum, ">= 1")
        _check(self.grad_clip >= 0, "grad_clip", self.grad_clip, ">= 0 (0 turns clipping off)")
        for key in ("log_every", "validate_every", "checkpoint_every"):
            _check(getattr(self, key) > 0, key, getattr(self, key), "> 0 steps")
        _check(self.sample_every >= 0, "sample_every", self.sample_every, ">= 0 (0 = off)")
        _check(self.keep_last >= 1, "keep_last", self.keep_last, ">= 1")
        _check(self.max_nonfinite >= 1, "max_nonfinite", self.max_nonfinite, ">= 1")
        _check(self.num_workers >= 0, "num_workers", self.num_workers, ">= 0")
        _check(self.schedule != "cosine" or self.max_steps > self.warmup_steps, "max_steps", self.max_steps,
               f"> warmup_steps ({self.warmup_steps}) for the cosine schedule")
