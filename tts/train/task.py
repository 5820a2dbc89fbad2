"""What a training stage gives the shared engine (`tts.train.engine.train`).

One engine trains every stage (tts.config.STAGES: codec, ar, nar, aligner, durations, the vocoders).
A stage is a `Task`: it builds its named modules, says which optimiser owns which modules, feeds
batches, and computes losses.
GAN stages yield one loss per optimiser in order (discriminator, then generator); the engine
back-propagates and steps that optimiser before asking for the next loss.

What the engine also understands (optional):
- `train_batches` may return a sequence (`len` and indexing) that builds batch i on access: a
  restart then jumps to its batch for free, and `train.num_workers` loader processes can build them.
- `find_unused_parameters: bool` class attribute, passed to DistributedDataParallel.
- Randomness of a step should come from the global generators (restored exactly on resume) or
  from generators seeded by the batch's position; `validate` and `write_samples` may draw freely
  (the engine puts the global random state back afterwards).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol

import torch
from torch import nn

from tts.config import Recipe, TrainConfig

Batch = Any  # whatever a task's loaders yield; the task moves it to the device


class Task(Protocol):
    """One trainable stage."""

    name: str  # "codec", "ar", "nar", "durations", ...: the run sub-folder and the recipe section
    recipe: Recipe

    @property
    def train_config(self) -> TrainConfig:
        """The stage's TrainConfig (e.g. recipe.ar.train)."""

    def build_modules(self) -> dict[str, nn.Module]:
        """Fresh named modules (e.g. {"model": ...} or {"generator": ..., "discriminator": ...})."""

    def optimizer_groups(self) -> dict[str, list[str]]:
        """Optimiser name -> module names it updates; each gets AdamW + the stage schedule."""

    def train_batches(self, epoch: int, rank: int, world_size: int) -> Iterable[Batch]:
        """One epoch of training batches, deterministic given (recipe.seed, epoch); sharded by rank."""

    def validation_batches(self) -> Iterable[Batch]:
        """A fixed list of validation batches."""

    def batch_ids(self, batch: Batch) -> list[str]:
        """Utterance ids in a batch (logged when a step is skipped as non-finite)."""

    def batch_tokens(self, batch: Batch) -> int:
        """Tokens (or samples) in a batch, for throughput figures."""

    def train_step(self, modules: dict[str, nn.Module], batch: Batch, step: int,
                   device: torch.device) -> Iterator[tuple[str, torch.Tensor, dict[str, float]]]:
        """Yield (optimizer name, loss, scalar logs) per optimiser, in the order they step."""

    @torch.no_grad()
    def validate(self, modules: dict[str, nn.Module], batch: Batch,
                 device: torch.device) -> dict[str, float]:
        """Scalar metrics on one validation batch (averaged by the engine over batches)."""

    @torch.no_grad()
    def write_samples(self, modules: dict[str, nn.Module], folder: Path, step: int,
                      device: torch.device) -> None:
        """Write a validation sample (wav + spectrogram PNG) into `folder`."""

    def checkpoint_extras(self) -> dict[str, Any]:
        """What a checkpoint needs beyond weights to be used alone (symbols, codec settings...)."""


class PreparedCorpusTask:
    """A task that reads its recipe's prepared corpus: given to the constructor (tests), else opened on first
    use of `corpus` (by open_corpus, which a task may extend)."""

    recipe: Recipe
    _corpus: Any

    @property
    def corpus(self) -> Any:
        if self._corpus is None:
            self._corpus = self.open_corpus()
        return self._corpus

    def open_corpus(self) -> Any:
        from tts.data.corpus import PreparedCorpus, prepared_folder

        return PreparedCorpus(prepared_folder(self.recipe))
