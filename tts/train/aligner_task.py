"""The aligner training stage: where each phone of an utterance is spoken, learned from the audio alone.

The aligner (tts.models.alignment.Aligner) reads the phones and the prepared log-mel frames (each
bin normalised over its utterance) and is trained by the forward-sum loss: minus the log-likelihood
of every monotonic alignment of the frames to the phones. It needs no codes, so it can train while
the codec does. Its durations (tts.train.durations) train the durations model (stage durations).

Batches are dicts of CPU tensors: ids, phones (B, L), phone_lengths (B,), frames (B, T, M) (zero past
an utterance's end), frame_lengths (B,), tokens.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tts.config import Recipe, TrainConfig
from tts.models.alignment import (Aligner, attention_durations, forward_sum_loss, may_skip, monotonic_path,
                                  normalised_frames, pad_frames)
from tts.models.layers import pad_right
from tts.train.batching import BatchList, bucket_batches, shard_batches, short_first
from tts.train.task import PreparedCorpusTask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Spoken:
    """An utterance of the aligner's data: its phone ids and how many mel frames it has."""

    id: str
    phones: torch.Tensor  # (L,) long
    n_mel_frames: int
    record: dict


class MelDataset:
    """Utterances of one split with phones and log-mel frames (no codes needed)."""

    def __init__(self, corpus: Any, split: str):
        from tts.text.symbols import encode

        self.corpus = corpus
        self.items = [Spoken(r["id"], torch.tensor(encode(r["phones"]), dtype=torch.long), int(r["n_mel_frames"]), r)
                      for r in corpus.records(split) if int(r.get("n_mel_frames") or 0) > 0]

    def __len__(self) -> int:
        return len(self.items)

    def lengths(self) -> list[int]:
        """Tokens of each utterance: phones + mel frames."""
        return [len(u.phones) + u.n_mel_frames for u in self.items]

    def frames(self, index: int) -> torch.Tensor:
        """The aligner's input (F, M) of utterance `index`."""
        return normalised_frames(torch.from_numpy(self.corpus.mel(self.items[index].record)))


def align(model: Aligner, phones: torch.Tensor, frames: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(attention (F, L), durations (L,) in mel frames) of one utterance: phones (L,), frames (F, M).
    Durations come from the best monotonic path; with fewer frames than phones that need one, the
    frames are spread evenly (ValueError is not raised)."""
    device = next(model.parameters()).device
    with torch.no_grad():
        log_attention = model(phones.view(1, -1).to(device), torch.tensor([len(phones)], device=device),
                              frames.unsqueeze(0).to(device))[0].float().cpu().numpy()  # (F, L)
    durations, _ = attention_durations(log_attention, phones)
    return np.exp(log_attention), durations


class AlignerTask(PreparedCorpusTask):
    """Training stage "aligner" (see tts/train/task.py for the protocol)."""

    name = "aligner"

    def __init__(self, recipe: Recipe, corpus: Any = None):
        self.recipe = recipe
        self.section = recipe.aligner
        self._corpus = corpus
        self._datasets: dict[str, MelDataset] = {}
        self._validation: list[dict] | None = None

    @property
    def train_config(self) -> TrainConfig:
        return self.section.train

    def dataset(self, split: str) -> MelDataset:
        if split not in self._datasets:
            self._datasets[split] = MelDataset(self.corpus, split)
            if split == "train" and not len(self._datasets[split]):
                raise RuntimeError(f"the prepared corpus in {self.corpus.folder} has no training utterances "
                                   "with log-mel frames; run `tts prepare <recipe>` first")
        return self._datasets[split]

    def train_batches(self, epoch: int, rank: int, world_size: int) -> BatchList:
        data = self.dataset("train")
        lengths = np.asarray(data.lengths())
        chosen = short_first(lengths, epoch, self.section.short_first_epochs)
        batches = bucket_batches(lengths[chosen], self.train_config.batch_tokens,
                                 np.random.default_rng([self.recipe.seed, epoch + 1]))
        batches = [[int(chosen[i]) for i in batch] for batch in batches]
        return BatchList(shard_batches(batches, rank, world_size), lambda i, items: self.collate(data, items))

    def validation_batches(self) -> list[dict]:
        if self._validation is None:
            data = self.dataset("validation")
            if not len(data):
                log.warning("aligner: no validation utterances; no validation loss and no best.pt "
                            "(raise data.validation_fraction)")
            batches = bucket_batches(data.lengths(), self.train_config.batch_tokens,
                                     np.random.default_rng([self.recipe.seed, 0]))
            self._validation = [self.collate(data, items) for items in batches]
        return self._validation

    def collate(self, data: MelDataset, items: list[int]) -> dict[str, Any]:
        phones = [data.items[i].phones for i in items]
        frames = [data.frames(i) for i in items]  # (F_i, M)
        phone_lengths = torch.tensor([len(p) for p in phones])
        frame_lengths = torch.tensor([len(f) for f in frames])
        return {"ids": [data.items[i].id for i in items], "phones": pad_right(phones, int(phone_lengths.max())),
                "phone_lengths": phone_lengths, "frames": pad_frames(frames), "frame_lengths": frame_lengths,
                "tokens": int(phone_lengths.sum() + frame_lengths.sum())}

    def batch_ids(self, batch: dict) -> list[str]:
        return batch["ids"]

    def batch_tokens(self, batch: dict) -> int:
        return batch["tokens"]

    # ------------------------------------------------------------------ model

    def model_config(self) -> dict[str, Any]:
        from tts.text.symbols import N_SYMBOLS

        return {"n_symbols": N_SYMBOLS, "features": self.recipe.audio.n_mels, "width": self.section.width,
                "kernel": self.section.kernel}

    def build_modules(self) -> dict[str, nn.Module]:
        return {"model": Aligner(**self.model_config())}

    def optimizer_groups(self) -> dict[str, list[str]]:
        return {"model": ["model"]}

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"model_config": self.model_config(), "corpus_settings": dict(self.corpus.settings or {})}

    def _loss(self, model: nn.Module, batch: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, dict]:
        b = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        log_attention = model(b["phones"], b["phone_lengths"], b["frames"])
        return forward_sum_loss(log_attention, b["phone_lengths"], b["frame_lengths"]), log_attention, b

    def train_step(self, modules: dict[str, nn.Module], batch: dict, step: int, device: torch.device):
        loss, _, _ = self._loss(modules["model"], batch, device)
        yield "model", loss, {"loss": loss.item()}

    @torch.no_grad()
    def validate(self, modules: dict[str, nn.Module], batch: dict, device: torch.device) -> dict[str, float]:
        """loss: the forward-sum loss per frame; path_attention: the mean attention of each frame on the
        phone the monotonic path gives it (1 = the aligner is sure of every frame's phone)."""
        loss, log_attention, b = self._loss(modules["model"], batch, device)
        shares = []
        for row in range(len(b["ids"])):
            L, T = int(b["phone_lengths"][row]), int(b["frame_lengths"][row])
            attention = log_attention[row, :T, :L].float().cpu().numpy()
            try:
                path = monotonic_path(attention, may_skip(b["phones"][row, :L].cpu()))
            except ValueError:
                continue
            shares.append(float(np.exp(attention[np.arange(T), path]).mean()))
        return {"loss": loss.item(), "path_attention": float(np.mean(shares)) if shares else 0.0}

    @torch.no_grad()
    def write_samples(self, modules: dict[str, nn.Module], folder: Path, step: int, device: torch.device) -> None:
        """attention.png (the aligner's attention on a validation utterance, the path's phones marked)
        and sample.json (each phone with its frames)."""
        from tts import plot
        from tts.text.symbols import SYMBOLS

        data = self.dataset("validation") if len(self.dataset("validation")) else self.dataset("train")
        item = data.items[0]
        model = modules["model"]
        was_training = model.training
        model.eval()
        try:
            attention, durations = align(model, item.phones, data.frames(0))
        finally:
            model.train(was_training)
        plot.plot_attention(attention, folder / "attention.png",
                            title=f"{item.id}: aligner attention on phones, step {step}",
                            path=np.repeat(np.arange(len(durations)), durations))
        info = {"step": step, "id": item.id, "text": item.record.get("text", ""),
                "durations_ms": [[SYMBOLS[int(p)], int(d) * 1000 * self.recipe.audio.hop_length
                                  // self.recipe.audio.sample_rate] for p, d in zip(item.phones, durations)]}
        (folder / "sample.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
