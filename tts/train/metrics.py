"""Training metrics: metrics.jsonl lines (and TensorBoard scalars), and the window of steps between two log lines.

metrics.jsonl gets one JSON object per line: {"step", "split": "train"|"validation", "time", ...},
"time" being the seconds of training so far (across restarts).
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


class MetricsWriter:
    """metrics.jsonl lines (and TensorBoard scalars when tensorboard is installed), rank 0 only."""

    def __init__(self, run_dir: Path, enabled: bool, elapsed: float):
        self.path, self.enabled = run_dir / "metrics.jsonl", enabled
        self.start, self.before = time.perf_counter(), elapsed
        self.board = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.board = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                pass  # tensorboard is optional

    def elapsed(self) -> float:
        return self.before + time.perf_counter() - self.start

    def write(self, step: int, split: str, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        record = {"step": step, "split": split, "time": round(self.elapsed(), 3), **values}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.board is not None:
            for key, value in values.items():
                self.board.add_scalar(f"{split}/{key}", value, step)

    def close(self) -> None:
        if self.board is not None:
            self.board.close()


def forget_metrics_after(path: Path, step: int) -> None:
    """Drop metric lines of steps after the checkpoint we resume from (they will be redone)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:  # a line cut short by the kill
            continue
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    tmp.replace(path)


@dataclass
class LogWindow:
    """The optimiser steps since the last log line: their scalars, and the tokens and seconds of
    training (skipped steps included, validation not)."""

    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    seconds: float = 0.0
    tokens: int = 0
    steps: int = 0  # optimiser steps taken (skipped ones not counted)

    def add_time(self, tokens: int, seconds: float) -> None:
        self.tokens += tokens
        self.seconds += seconds

    def add_step(self, logs: dict[str, float]) -> None:
        self.steps += 1
        for key, value in logs.items():
            self.values[key].append(value)

    def record(self) -> dict[str, float]:
        """Mean of each scalar, plus tokens_per_second."""
        record = {key: sum(v) / len(v) for key, v in self.values.items()}
        record["tokens_per_second"] = self.tokens / max(self.seconds, 1e-9)
        return record

    def eta(self, steps_left: int) -> float:
        """Seconds until `steps_left` more steps are done, at this window's pace."""
        return self.seconds / max(self.steps, 1) * steps_left

    def clear(self) -> None:
        self.values.clear()
        self.seconds, self.tokens, self.steps = 0.0, 0, 0


def learning_rate(record: dict[str, float]) -> float:
    """The first learning rate in a train record ("lr", or "lr_<group>" with several optimisers)."""
    return next((v for k, v in record.items() if k.startswith("lr")), math.nan)


def format_duration(seconds: float) -> str:
    """"1h05m" from an hour on, else "4m07s"."""
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
