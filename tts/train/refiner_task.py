"""Stage refiner: the mel refiner (tts/models/refiner.py) learns to carry the durations model's log-mels to the
recordings' (docs/refiner.md).

Pairs first (tts/train/spoken_mels.py): the durations model (<run>/durations/best.pt) speaks
refiner.utterances training recordings and every validation one at the aligner's durations of each recording,
prompted with another recording of its speaker, so that its frames line up with the recording's. Each codec
frame's r log-mel frames and the model's last hidden state there are kept side by side, (T, r M + D) float16,
in <run>/refiner/pairs.npz (minutes on a CPU; a killed computation leaves no file and starts again; delete the
file to speak them again after retraining the durations model). Training then draws random crops of
train.segment_seconds and regresses the flow's velocity (MelRefiner.loss). Validation reports that loss at
fixed noise, and refined_l1 / input_l1: the mean L1 against the recording of the refined log-mels and of the
durations model's own.

Batches: ids, mel and target (B, M, F) log-mels, hidden (B, D, T), F = T r.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from tts.checkpoint import read_checkpoint
from tts.config import Recipe, TrainConfig
from tts.models.refiner import MelRefiner
from tts.train.batching import CropBatches, random_crops
from tts.train.task import PreparedCorpusTask

log = logging.getLogger(__name__)

FILE = "pairs.npz"
VALIDATION_BATCHES = 8  # fixed crop batches of validation recordings scored at each validation pass
STATISTICS_RECORDINGS = 500  # training recordings whose log-mels give the refiner's per-band mean and spread


class RefinerTask(PreparedCorpusTask):
    """Training stage "refiner" (see tts/train/task.py for the protocol)."""

    name = "refiner"

    def __init__(self, recipe: Recipe, corpus: Any | None = None):
        self.recipe = recipe
        self.cfg = recipe.refiner
        self._corpus = corpus  # a PreparedCorpus; opened on first use unless given (tests)
        self._pairs: dict[str, np.ndarray] | None = None
        self._durations_config: dict[str, Any] | None = None
        self._validation: list[dict] | None = None

    @property
    def train_config(self) -> TrainConfig:
        return self.cfg.train

    @property
    def run_dir(self) -> Path:
        return Path(self.recipe.output_dir)

    @property
    def durations_config(self) -> dict[str, Any]:
        """The model_config of the durations model whose log-mels are refined (<run>/durations/best.pt)."""
        if self._durations_config is None:
            path = self.run_dir / "durations" / "best.pt"
            if not path.is_file():
                raise RuntimeError(f"stage refiner refines the durations model's log-mels, but {path} does not "
                                   "exist: train it first (`tts train <recipe> --stage durations`)")
            self._durations_config = read_checkpoint(path)["model_config"]
        return self._durations_config

    @property
    def pairs(self) -> dict[str, np.ndarray]:
        """{recording id: (T, r M + D) float16: the durations model's log-mels and hidden states}."""
        if self._pairs is None:
            from tts.train.spoken_mels import read_spoken_mels

            path = self.run_dir / "refiner" / FILE
            if not path.exists():
                compute_pairs(self.recipe, self.corpus, path)
            self._pairs = read_spoken_mels(path)
        return self._pairs

    # ------------------------------------------------------------------ data

    @property
    def mel_per_frame(self) -> int:
        return int(self.durations_config["mel_per_frame"])

    def _records(self, split: str) -> list[dict]:
        return [r for r in self.corpus.records(split) if r["id"] in self.pairs]

    def _length(self, record: dict) -> int:
        """Codec frames of a pair that the recording's own log-mels cover."""
        return min(len(self.pairs[record["id"]]), int(record["n_mel_frames"]) // self.mel_per_frame)

    @property
    def crop(self) -> int:
        """Codec frames per training crop (train.segment_seconds)."""
        return max(1, round(self.train_config.segment_seconds * self.recipe.codec_frame_rate))

    def collate(self, records: list[dict], starts: list[int], length: int) -> dict[str, Any]:
        """Crops of `length` codec frames from `starts`, a short recording repeating its edge frames."""
        r, M = self.mel_per_frame, self.recipe.audio.n_mels
        mels, hidden, targets = [], [], []
        for record, start in zip(records, starts):
            n = self._length(record)
            pair = np.asarray(self.pairs[record["id"]][:n], dtype=np.float32)  # (n, r M + D)
            target = np.asarray(self.corpus.mel(record), dtype=np.float32)[:, :n * r].T.reshape(n, r * M)  # (n, r M)
            both = np.concatenate([pair, target], axis=1)[start:start + length]
            both = np.pad(both, ((0, length - len(both)), (0, 0)), mode="edge")  # (length, 2 r M + D)
            mels.append(both[:, :r * M].reshape(length * r, M).T)  # (M, F)
            hidden.append(both[:, r * M:-r * M].T)  # (D, T)
            targets.append(both[:, -r * M:].reshape(length * r, M).T)  # (M, F)
        return {"ids": [r["id"] for r in records], "mel": torch.from_numpy(np.stack(mels)),
                "hidden": torch.from_numpy(np.stack(hidden)), "target": torch.from_numpy(np.stack(targets))}

    def _crops(self, records: list[dict], epoch: int, rank: int, world_size: int) -> CropBatches:
        chosen, starts = random_crops(records, [self._length(r) for r in records], self.crop,
                                      self.train_config.batch_size, self.recipe.seed, epoch, rank, world_size)
        return CropBatches(self.collate, chosen, starts, self.crop)

    def train_batches(self, epoch: int, rank: int, world_size: int) -> CropBatches:
        """Random crops of the spoken training recordings, deterministic per (seed, epoch)."""
        records = self._records("train")
        if not records:
            raise ValueError(f"{self.run_dir / 'refiner' / FILE} holds no training recording")
        return self._crops(records, epoch, rank, world_size)

    def validation_batches(self) -> Iterable[dict]:
        """Fixed crops of the validation recordings (the training ones' if none are held out)."""
        if self._validation is None:
            records = self._records("validation") or self._records("train")
            crops = self._crops(records, 0, 0, 1)
            self._validation = [crops[i] for i in range(min(VALIDATION_BATCHES, len(crops)))]
        return self._validation

    def batch_ids(self, batch: dict) -> list[str]:
        return list(batch["ids"])

    def batch_tokens(self, batch: dict) -> int:
        return int(batch["mel"].size(0) * batch["mel"].size(2))  # mel frames

    # ------------------------------------------------------------------ model and steps

    def model_config(self) -> dict[str, Any]:
        return {"mel_bins": self.recipe.audio.n_mels, "hidden_width": int(self.durations_config["width"]),
                "mel_per_frame": self.mel_per_frame, "channels": self.cfg.channels, "blocks": self.cfg.blocks,
                "kernel": self.cfg.kernel}

    def build_modules(self) -> dict[str, nn.Module]:
        """A fresh refiner whose normalisation is the per-band mean and spread of training recordings' log-mels."""
        model = MelRefiner.from_config(self.model_config())
        records = self._records("train")[:STATISTICS_RECORDINGS]
        frames = np.concatenate([np.asarray(self.corpus.mel(r), dtype=np.float32) for r in records], axis=1)
        model.mean.copy_(torch.from_numpy(frames.mean(axis=1, keepdims=True)))
        model.std.copy_(torch.from_numpy(frames.std(axis=1, keepdims=True)).clamp(min=1e-3))
        return {"model": model}

    def optimizer_groups(self) -> dict[str, list[str]]:
        return {"model": ["model"]}

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"model_config": self.model_config(), "audio": dataclasses.asdict(self.recipe.audio)}

    def train_step(self, modules: dict[str, nn.Module], batch: dict, step: int, device: torch.device):
        loss = modules["model"].loss(batch["mel"].to(device), batch["hidden"].to(device), batch["target"].to(device))
        yield "model", loss, {"loss": loss.item()}

    @torch.no_grad()
    def validate(self, modules: dict[str, nn.Module], batch: dict, device: torch.device) -> dict[str, float]:
        model = modules["model"]
        mel, hidden, target = (batch[k].to(device) for k in ("mel", "hidden", "target"))
        generator = torch.Generator(device=device).manual_seed(self.recipe.seed)
        refined = torch.stack([model.refine(m, h, self.recipe.synthesis.refiner_steps) for m, h in zip(mel, hidden)])
        return {"loss": model.loss(mel, hidden, target, generator).item(),
                "refined_l1": (refined - target).abs().mean().item(), "input_l1": (mel - target).abs().mean().item()}

    # ------------------------------------------------------------------ samples

    @torch.no_grad()
    def write_samples(self, modules: dict[str, nn.Module], folder: Path, step: int, device: torch.device) -> None:
        """A validation recording's log-mels (durations model, refined, recording) plotted, and the refined ones
        through the run's mel vocoder when it has one."""
        from tts import plot_files
        from tts.audio.io import save_audio
        from tts.vocode import load_vocoder

        record = (self._records("validation") or self._records("train"))[0]
        batch = self.collate([record], [0], self._length(record))
        refined = modules["model"].refine(batch["mel"][0].to(device), batch["hidden"][0].to(device),
                                          self.recipe.synthesis.refiner_steps)
        plot_files.plot_mels([(batch["mel"][0].numpy(), "durations model"), (refined.cpu().numpy(), "refined"),
                              (batch["target"][0].numpy(), f"recording ({record['id']})")],
                             folder / "mel_spectrogram.png", self.recipe.audio)
        info = {"step": step, "id": record["id"], "text": record.get("text", "")}
        try:
            vocoder = load_vocoder(self.run_dir, device)
            save_audio(folder / "refined.wav", vocoder(refined)[0, 0].float().cpu().numpy(), vocoder.sample_rate)
            info["wav"] = "refined.wav"
        except (FileNotFoundError, ValueError) as err:
            log.warning("the refiner's sample is not voiced: %s", err)
        (folder / "sample.json").write_text(json.dumps(info, indent=2), encoding="utf-8")


def compute_pairs(recipe: Recipe, corpus: Any, path: Path) -> None:
    """The durations model's log-mels and hidden states of refiner.utterances training recordings (0: all) and
    every validation one, at the aligner's durations, each prompted with another recording of its speaker; saved
    at `path` as (T, r M + D) float16 per recording."""
    from tts.train.spoken_mels import aligned_durations_model, write_spoken_mels

    durations, speak_aligned = aligned_durations_model(recipe, corpus, "refiner")

    def speak(group: list[dict], prompt_records: list[dict]) -> list[torch.Tensor]:
        mels, hidden = speak_aligned(group, prompt_records)
        # each codec frame's r log-mel frames, then its hidden state
        return [torch.cat([mel.T.reshape(h.size(1), -1).T, h]) for mel, h in zip(mels, hidden)]  # (r M + D, T)

    write_spoken_mels(path, corpus, durations, recipe.refiner.utterances, recipe.seed, speak,
                      "durations model")
