"""A toy training task for engine tests, a fake prepared corpus for the AR/NAR tasks, and process entry points.

The toy task regresses random vectors through a small MLP with dropout, and draws noise from
python's, numpy's and torch's random generators in every step, so that a resumed run only
matches an uninterrupted one if every random state and the data position come back exactly.
"""

from __future__ import annotations

import math
import os
import random
import signal
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tts.config import Recipe, TrainConfig, recipe_from_dict
from tts.train.batching import BatchList


def toy_recipe(output_dir: Path, **train) -> Recipe:
    settings = dict(lr=0.01, warmup_steps=2, max_steps=8, log_every=1, validate_every=4, checkpoint_every=2,
                    sample_every=0, keep_last=2, max_nonfinite=3)
    settings.update(train)
    return recipe_from_dict({"output_dir": str(output_dir), "device": "cpu", "ar": {"train": settings}})


class ToyTask:
    """Regression over 3 batches per epoch; batches named in `nan_ids` (or all: "*") have a NaN loss;
    `kill_at_step` SIGKILLs the process during that step."""

    name = "ar"

    def __init__(self, recipe: Recipe, nan_ids: tuple[str, ...] = (), kill_at_step: int | None = None):
        self.recipe, self.nan_ids, self.kill_at_step = recipe, set(nan_ids), kill_at_step
        self.built: dict[str, nn.Module] = {}
        self.samples: list[int] = []

    @property
    def train_config(self) -> TrainConfig:
        return self.recipe.ar.train

    def build_modules(self) -> dict[str, nn.Module]:
        self.built = {"model": nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.2), nn.Tanh(), nn.Linear(16, 2))}
        return self.built

    def optimizer_groups(self) -> dict[str, list[str]]:
        return {"model": ["model"]}

    def train_batches(self, epoch: int, rank: int, world_size: int) -> BatchList:
        g = torch.Generator().manual_seed(100 * epoch + rank)
        data = [(torch.randn(5, 4, generator=g), torch.randn(5, 2, generator=g)) for _ in range(3)]
        return BatchList([[i] for i in range(len(data))],
                         lambda i, items: {"ids": [f"e{epoch}-r{rank}-b{i}"], "x": data[i][0], "y": data[i][1]})

    def validation_batches(self):
        g = torch.Generator().manual_seed(999)
        return [{"ids": ["v"], "x": torch.randn(5, 4, generator=g), "y": torch.randn(5, 2, generator=g)}]

    def batch_ids(self, batch):
        return batch["ids"]

    def batch_tokens(self, batch):
        return 5

    def train_step(self, modules, batch, step, device):
        if self.kill_at_step is not None and step == self.kill_at_step:
            os.kill(os.getpid(), signal.SIGKILL)
        noise = random.random() + float(np.random.rand()) + float(torch.rand(()))
        loss = ((modules["model"](batch["x"]) - batch["y"]) ** 2).mean() * (1 + 0.01 * noise)
        if batch["ids"][0] in self.nan_ids or "*" in self.nan_ids:
            loss = loss * math.nan
        yield "model", loss, {"loss": loss.item()}

    def validate(self, modules, batch, device):
        return {"loss": ((modules["model"](batch["x"]) - batch["y"]) ** 2).mean().item()}

    def write_samples(self, modules, folder, step, device):
        torch.rand(100)  # must not disturb training's random state
        self.samples.append(step)
        (folder / "sample.txt").write_text(str(step))

    def checkpoint_extras(self):
        return {"toy": True}


def run_toy(output_dir: str, kill_at_step: str) -> None:
    """Entry point of a training subprocess: python train_fixtures.py OUTPUT_DIR KILL_AT_STEP."""
    from tts.train.engine import train

    torch.set_num_threads(1)
    task = ToyTask(toy_recipe(Path(output_dir)), kill_at_step=int(kill_at_step))
    train(task, Path(output_dir) / "ar")


def ddp_worker(rank: int, world_size: int, port: int, output_dir: str) -> None:
    """One process of a two-process gloo run (torch.multiprocessing.spawn target)."""
    from tts.train.engine import train

    torch.set_num_threads(1)
    # as under torchrun: the launcher hosts the rendezvous store, so no rank's exit takes it from the others
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size),
                      RANK=str(rank), LOCAL_RANK=str(rank), TORCHELASTIC_USE_AGENT_STORE="True")
    task = ToyTask(toy_recipe(Path(output_dir), max_steps=4, validate_every=2))
    train(task, Path(output_dir) / "ar")
    torch.save(task.built["model"].state_dict(), Path(output_dir) / f"rank{rank}.pt")
    # the work is saved: leave without interpreter teardown, where gloo's worker threads, still holding tensors,
    # can abort the process (SIGABRT, "terminate called without an active exception") under a loaded run
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# ---------------------------------------------------------------------------- fake prepared corpus


class FakeCorpus:
    """What ARTask, NARTask and DurationsTask read from tts.data.corpus.PreparedCorpus, made up in memory."""

    def __init__(self, folder: Path, n_codebooks: int = 3, codebook_size: int = 16, utterances: int = 12):
        from tts.text.symbols import PHONES

        self.folder = folder
        self.sample_rate = 16000
        self.settings = {"codec": {"kind": "trained", "n_codebooks": n_codebooks, "codebook_size": codebook_size,
                                   "frame_rate": 25.0, "hop_length": 640, "sample_rate": 16000}}
        self.has_codes = True
        rng = np.random.default_rng(0)
        self._records, self._codes = [], {}
        for i in range(utterances):
            n_phones, n_frames = int(rng.integers(4, 10)), int(rng.integers(6, 20))
            record = {"id": f"utt{i:02d}", "speaker": f"spk{i % 2}", "text": f"sentence {i}",
                      "phones": [PHONES[int(j)] for j in rng.integers(0, len(PHONES), n_phones)],
                      "n_frames": n_frames, "n_mel_frames": 4 * n_frames - 2, "split": "validation" if i < 2 else "train"}
            self._records.append(record)
            self._codes[record["id"]] = rng.integers(0, codebook_size, (n_codebooks, n_frames))

    def records(self, split="all"):
        return [r for r in self._records if split == "all" or r["split"] == split]

    def codes(self, record):
        return self._codes[record["id"]]

    def audio(self, record):
        return np.zeros(record["n_frames"] * 640, dtype=np.float32)

    def durations(self, off_by: dict[str, int] | None = None) -> dict[str, np.ndarray]:
        """Made-up aligner durations: random frames of each phone (some phones get none) summing to each
        utterance's frames, but for the utterances in `off_by`, whose sums are off by that many frames."""
        rng = np.random.default_rng(1)
        durations = {}
        for record in self._records:
            L, T = len(record["phones"]), record["n_frames"]
            bounds = np.sort(rng.integers(0, T + 1, L - 1))
            d = np.diff(np.concatenate([[0], bounds, [T]]))
            d[-1] += (off_by or {}).get(record["id"], 0)
            durations[record["id"]] = d.clip(min=0).astype(np.int16)
        return durations

    def mel(self, record):
        """Log-mel (80, 4 T - 2): frame f of every bin holds f / 100, two frames short of 4 per code."""
        frames = 4 * record["n_frames"] - 2
        return np.tile(np.arange(frames, dtype=np.float32) / 100, (80, 1))


def tasks_recipe(output_dir: Path, **train) -> Recipe:
    """A tiny recipe of every model (its AR's pointer learns FakeCorpus.durations())."""
    settings = dict(lr=3e-3, warmup_steps=2, max_steps=4, batch_tokens=80, log_every=2, validate_every=4,
                    checkpoint_every=4, sample_every=4)
    settings.update(train)
    model = {"width": 32, "layers": 2, "heads": 4, "dropout": 0.0, "max_positions": 256, "prompt_seconds": 0.2,
             "train": settings}
    return recipe_from_dict({"output_dir": str(output_dir), "device": "cpu", "codec": {"kind": "none"},
                             "ar": model, "nar": model, "durations": model,
                             "aligner": {"width": 16, "train": dict(settings, batch_tokens=200, schedule="noam")},
                             "synthesis": {"max_frames_per_phone": 3.0}})


if __name__ == "__main__":
    run_toy(*sys.argv[1:])
