"""Helpers for the never-lose-work tests: `tts train` on the demo recipe with tiny settings, a slow toy task."""

from __future__ import annotations

import json
import time
from pathlib import Path

from train_fixtures import ToyTask

REPOSITORY = Path(__file__).resolve().parents[2]
DEMO_RECIPE = REPOSITORY / "recipes" / "demo.yaml"


def demo_overrides(run: Path, **codec_train) -> list[str]:
    """--set values: the demo corpus into `run`, one thread, a small codec trained for a few steps."""
    train = {"max_steps": 6, "log_every": 1, "validate_every": 3, "checkpoint_every": 2, "sample_every": 0,
             "batch_size": 2, "segment_seconds": 0.25, "keep_last": 3, **codec_train}
    sets = [f"output_dir={run}", f"data.root={REPOSITORY / 'data' / 'demo'}", "threads=1", "device=cpu",
            "codec.channels=4", "codec.dimension=16", "codec.codebook_size=16"]
    sets += [f"codec.train.{key}={value}" for key, value in train.items()]
    return sets


def set_options(overrides: list[str]) -> list[str]:
    return [part for value in overrides for part in ("--set", value)]


def train_steps(run_dir: Path) -> list[int]:
    """The steps of the train lines in a stage's metrics.jsonl, in file order."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [record["step"] for record in map(json.loads, lines) if record["split"] == "train"]


class SlowToyTask(ToyTask):
    """The toy task with steps of at least `seconds` (a wall-clock budget then ends it after a few)."""

    def __init__(self, recipe, seconds: float = 0.02):
        super().__init__(recipe)
        self.seconds = seconds

    def train_step(self, modules, batch, step, device):
        time.sleep(self.seconds)
        yield from super().train_step(modules, batch, step, device)
