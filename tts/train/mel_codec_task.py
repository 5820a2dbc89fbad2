"""The codec stage for `codec.domain: mel`: a SEANet autoencoder with a residual VQ over log-mel.

The model (`tts.models.codec_model.MelCodecModel`) learns to rebuild random crops of the
prepared log-mels through its quantiser: loss = L1 between log-mels + VQ commitment. No
waveform is read or made in training (the prepared corpus already holds the log-mels), which
is why this codec trains in minutes on a CPU where a waveform codec needs hours; the mel
vocoder, trained before it, turns decoded log-mels into audio. The codebooks follow the
encoder by EMA (k-means start, dead entries replaced), as in the waveform codec.

Shapes: B batch, M mel bins, F mel frames (a multiple of the strides' product), T codec frames.
Batch: {"ids": [B], "mel": (B, M, F) float32, "n_mel_frames": [B] real frames before padding}.
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tts.audio.spectral import LOG_FLOOR
from tts.codec import mel_vocoder_path, trained_settings
from tts.config import Recipe, TrainConfig
from tts.models.codec_model import MelCodecModel, dead_code_threshold, dropout_levels
from tts.train.batching import CropBatches, batches_from_start, round_up, training_crop_batches, validation_records

log = logging.getLogger(__name__)

COMMIT_WEIGHT = 1.0  # VQ commitment: encoder output to its quantised value, MSE
VALIDATION_SECONDS = 4.0  # validation crops: up to this long, from the start of each utterance
VALIDATION_UTTERANCES = 16  # validation utterances scored at each validation pass

Batch = dict[str, Any]


class MelCodecTask:
    """Training of a mel-domain codec (see tts/train/task.py for the protocol)."""

    name = "codec"

    def __init__(self, recipe: Recipe, corpus: Any | None = None):
        if recipe.codec.kind != "trained" or recipe.codec.domain != "mel":
            raise ValueError("MelCodecTask trains codec.kind 'trained' with codec.domain 'mel'")
        self.recipe = recipe
        self.cfg = recipe.codec
        self.per_code = self.cfg.mel_frames_per_code
        self._corpus = corpus  # a PreparedCorpus; opened on first use unless given (tests)
        self._validation: list[Batch] | None = None

    @property
    def train_config(self) -> TrainConfig:
        return self.cfg.train

    @property
    def corpus(self) -> Any:
        if self._corpus is None:
            from tts.data.corpus import PreparedCorpus, prepared_folder
            from tts.vocode import check_mel_settings

            corpus = PreparedCorpus(prepared_folder(self.recipe))
            audio = corpus.settings.get("audio")
            if audio is None:
                raise ValueError(f"{corpus.folder} does not record its audio settings; prepare it again")
            check_mel_settings(self.recipe.audio, audio, "the recipe", f"the prepared corpus {corpus.folder}")
            self._corpus = corpus
        return self._corpus

    @property
    def segment_frames(self) -> int:
        """Mel frames per training crop: train.segment_seconds rounded up to whole codec frames."""
        frames = self.cfg.train.segment_seconds * self.recipe.audio.sample_rate / self.recipe.audio.hop_length
        return round_up(frames, self.per_code)

    def build_modules(self) -> dict[str, nn.Module]:
        vectors = self.cfg.train.batch_size * self.segment_frames // self.per_code  # codec frames per batch
        threshold = dead_code_threshold(vectors, self.cfg.codebook_size)
        return {"generator": MelCodecModel.from_settings(trained_settings(self.recipe), threshold)}

    def optimizer_groups(self) -> dict[str, list[str]]:
        return {"generator": ["generator"]}

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"codec": trained_settings(self.recipe)}

    # ------------------------------------------------------------------ data

    def train_batches(self, epoch: int, rank: int, world_size: int) -> CropBatches:
        """One random crop per utterance, deterministic per (seed, epoch); equal batches per rank."""
        return training_crop_batches(functools.partial(collate_mels, self.corpus), self.corpus, "n_mel_frames",
                                     self.segment_frames, self.cfg.train.batch_size, self.recipe.seed, epoch, rank,
                                     world_size)

    def validation_batches(self) -> Iterable[Batch]:
        """The first validation utterances, from their start, up to VALIDATION_SECONDS each."""
        if self._validation is None:
            records = validation_records(self.corpus, VALIDATION_UTTERANCES, log)
            longest = max(int(r["n_mel_frames"]) for r in records)
            limit = VALIDATION_SECONDS * self.recipe.audio.sample_rate / self.recipe.audio.hop_length
            frames = round_up(min(longest, limit), self.per_code)
            self._validation = batches_from_start(functools.partial(collate_mels, self.corpus), records,
                                                  self.cfg.train.batch_size, frames)
        return self._validation

    def batch_ids(self, batch: Batch) -> list[str]:
        return list(batch["ids"])

    def batch_tokens(self, batch: Batch) -> int:
        return int(batch["mel"].shape[0] * batch["mel"].shape[-1])  # mel frames

    # ------------------------------------------------------------------ steps

    def train_step(self, modules: dict[str, nn.Module], batch: Batch, step: int,
                   device: torch.device) -> Iterator[tuple[str, torch.Tensor, dict[str, float]]]:
        mel = batch["mel"].to(device)  # (B, M, F)
        levels = dropout_levels(self.cfg.quantizer_dropout, self.cfg.n_codebooks, self.recipe.seed, step)
        with torch.autocast(device.type, enabled=False):  # log-mels and codebooks in float32
            recon, _, commit = modules["generator"](mel, levels)
            mel_l1 = F.l1_loss(recon, mel)
            loss = mel_l1 + COMMIT_WEIGHT * commit
        logs = {"mel_l1": mel_l1.item(), "commit": commit.item(), "loss": loss.item()}
        if self.cfg.quantizer_dropout > 0:
            logs["levels"] = float(levels or self.cfg.n_codebooks)
        yield "generator", loss, logs

    @torch.no_grad()
    def validate(self, modules: dict[str, nn.Module], batch: Batch, device: torch.device) -> dict[str, float]:
        """Log-mel L1 over the real frames of each validation crop, codes as inference makes them."""
        mel = batch["mel"].to(device)

        def l1_with(levels: int | None) -> float:
            recon = modules["generator"](mel, levels)[0].float()
            return float(np.mean([float((r[:, :n] - m[:, :n]).abs().mean())
                                  for r, m, n in zip(recon, mel, batch["n_mel_frames"])]))

        l1 = l1_with(None)
        metrics = {"loss": l1, "mel_l1": l1}  # "loss" picks best.pt
        if self.cfg.n_codebooks > 1:  # what the first codebook alone keeps (the AR's share of the codes)
            metrics["mel_l1_level1"] = l1_with(1)
        return metrics

    @torch.no_grad()
    def write_samples(self, modules: dict[str, nn.Module], folder: Path, step: int,
                      device: torch.device) -> None:
        """The first validation utterance's log-mel beside its rebuild through the codes (PNG),
        and the rebuild as audio when the run's mel vocoder exists."""
        from tts.plot_files import plot_mels

        generator = getattr(modules["generator"], "module", modules["generator"])
        record = (self.corpus.records("validation") or self.corpus.records("train"))[0]
        batch = collate_mels(self.corpus, [record], [0], round_up(int(record["n_mel_frames"]), self.per_code))
        n = int(record["n_mel_frames"])
        real = batch["mel"][0, :, :n].numpy()
        fake = generator(batch["mel"].to(device))[0][0, :, :n].float().cpu()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        utt = record["id"]
        plot_mels([(real, f"log-mel {utt}"), (fake.numpy(), f"through the codes, step {step}")],
                  folder / f"codec-{step:07d}-{utt}.png", self.recipe.audio)
        vocoder_path = mel_vocoder_path(self.recipe)
        if vocoder_path.exists():
            from tts.audio.io import save_audio
            from tts.vocode import load_vocoder

            vocoder = load_vocoder(vocoder_path, device)
            wav = vocoder(fake)[0, 0, : int(record["n_samples"])].cpu().numpy()
            save_audio(folder / f"codec-{step:07d}-{utt}.wav", wav, self.recipe.audio.sample_rate)


def collate_mels(corpus: Any, records: Sequence[dict], starts: Sequence[int], frames: int) -> Batch:
    """Log-mel crops [start, start + frames) of each utterance, padded with silence (the log floor)."""
    mels, n_frames = [], []
    for record, start in zip(records, starts):
        mel = corpus.mel(record)[:, start:start + frames]  # (M, <= frames)
        n_frames.append(int(mel.shape[-1]))
        mels.append(np.pad(mel, ((0, 0), (0, frames - mel.shape[-1])), constant_values=math.log(LOG_FLOOR)))
    return {"ids": [r["id"] for r in records], "mel": torch.from_numpy(np.stack(mels).astype(np.float32)),
            "n_mel_frames": n_frames}
