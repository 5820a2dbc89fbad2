"""The codec stage: our EnCodec model learns to resynthesise random crops of the prepared corpus.

Loss (EnCodec's reconstruction terms, weights below): waveform L1 + multi-resolution log-mel L1
+ VQ commitment; each step yields it once, as `tts.train.task` describes. Codebooks are not
trained by the optimiser: they follow the encoder by exponential moving average, are k-means
initialised on the first batch, and dead entries are replaced from the batch (encodec's
quantiser does all three).

Shapes: B batch, S samples, T frames, Q codebooks.
Batch: {"ids": [B], "wav": (B, 1, S) float32, "n_samples": [B] real samples before padding}.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tts.codec import trained_settings
from tts.config import Recipe, TrainConfig
from tts.models.codec_model import CodecModel, dead_code_threshold, dropout_levels
from tts.models.layers import IGNORE, token_accuracy, token_loss
from tts.train.batching import CropBatches, batches_from_start, round_up, training_crop_batches, validation_records

log = logging.getLogger(__name__)

WAV_WEIGHT = 1.0  # waveform L1 (EnCodec: 0.1 against a larger spectral loss than ours)
MEL_WEIGHT = 1.0  # multi-resolution log-mel L1 (mean over resolutions, nats)
COMMIT_WEIGHT = 1.0  # VQ commitment: encoder output to its quantised value, MSE
VALIDATION_SECONDS = 4.0  # validation crops: up to this long, from the start of each utterance
VALIDATION_UTTERANCES = 16  # validation utterances scored at each validation pass

Batch = dict[str, Any]


class CodecTask:
    """Training of our EnCodec model (see tts/train/task.py for the protocol). The crops are counted in
    `LENGTH_KEY` units, `per_second` of them a second and `per_code` a codec frame (MelCodecTask: mel frames)."""

    name = "codec"
    MODEL: Any = CodecModel
    LENGTH_KEY = "n_samples"

    def __init__(self, recipe: Recipe, corpus: Any | None = None):
        if recipe.codec.kind != "trained":
            raise ValueError(f"codec.kind is {recipe.codec.kind!r}: only kind 'trained' has a codec to "
                             "train (encodec_24khz is pretrained; none needs no codec)")
        self.recipe = recipe
        self.cfg = recipe.codec
        self.sample_rate = recipe.audio.sample_rate
        self._corpus = corpus  # a PreparedCorpus; opened on first use unless given (tests)
        self._mel_loss: nn.Module | None = None
        self._validation: list[Batch] | None = None
        self._phone_durations: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------------ setup

    @property
    def per_second(self) -> float:
        """LENGTH_KEY units (samples) per second."""
        return self.sample_rate

    @property
    def per_code(self) -> int:
        """LENGTH_KEY units per codec frame."""
        return self.cfg.hop_length

    @property
    def mel_per_unit(self) -> float:
        """Mel frames per LENGTH_KEY unit."""
        return 1 / self.recipe.audio.hop_length

    @property
    def train_config(self) -> TrainConfig:
        return self.cfg.train

    @property
    def corpus(self) -> Any:
        if self._corpus is None:
            from tts.data.corpus import PreparedCorpus, prepared_folder

            corpus = PreparedCorpus(prepared_folder(self.recipe))
            self.check_corpus(corpus)
            self._corpus = corpus
        return self._corpus

    def check_corpus(self, corpus: Any) -> None:
        if corpus.sample_rate != self.sample_rate:
            raise ValueError(f"the prepared corpus is at {corpus.sample_rate} Hz but audio.sample_rate is "
                             f"{self.sample_rate}; prepare it again")

    @property
    def segment_length(self) -> int:
        """Training crop length: train.segment_seconds rounded up to whole codec frames."""
        return round_up(self.cfg.train.segment_seconds * self.per_second, self.per_code)

    def build_modules(self) -> dict[str, nn.Module]:
        vectors = self.cfg.train.batch_size * self.segment_length // self.per_code  # codec frames per batch
        threshold = dead_code_threshold(vectors, self.cfg.codebook_size)
        modules = {"generator": self.MODEL.from_settings(trained_settings(self.recipe), threshold)}
        if self.cfg.phone_weight > 0:  # training only: the codec's checkpoint loads without it
            from tts.text.symbols import N_SYMBOLS

            modules["phones"] = nn.Linear(self.cfg.dimension, N_SYMBOLS)
        return modules

    def optimizer_groups(self) -> dict[str, list[str]]:
        return {"generator": ["generator", "phones"] if self.cfg.phone_weight > 0 else ["generator"]}

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"codec": trained_settings(self.recipe)}

    # ------------------------------------------------------------------ data

    def train_batches(self, epoch: int, rank: int, world_size: int) -> CropBatches:
        """One random crop per utterance, deterministic per (seed, epoch); equal batches per rank."""
        return training_crop_batches(self.collate, self.corpus, self.LENGTH_KEY, self.segment_length,
                                     self.cfg.train.batch_size, self.recipe.seed, epoch, rank, world_size)

    def validation_batches(self) -> Iterable[Batch]:
        """The first validation utterances, from their start, up to VALIDATION_SECONDS each."""
        if self._validation is None:
            records = validation_records(self.corpus, VALIDATION_UTTERANCES, log)
            longest = max(int(r[self.LENGTH_KEY]) for r in records)
            length = round_up(min(longest, VALIDATION_SECONDS * self.per_second), self.per_code)
            self._validation = batches_from_start(self.collate, records, self.cfg.train.batch_size, length)
        return self._validation

    def collate(self, records: Sequence[dict], starts: Sequence[int], length: int) -> Batch:
        """Crops [start, start + length) of each utterance, zero-padded at the end when short."""
        wavs, n_samples = [], []
        for record, start in zip(records, starts):
            wav = self.corpus.audio(record)[start:start + length]  # (<= length,)
            n_samples.append(int(wav.shape[0]))
            wavs.append(np.pad(wav, (0, length - wav.shape[0])))
        wav = torch.from_numpy(np.stack(wavs).astype(np.float32))[:, None]  # (B, 1, S)
        return {"ids": [r["id"] for r in records], "wav": wav, "n_samples": n_samples,
                **self.phone_labels(records, starts, length)}

    def phone_labels(self, records: Sequence[dict], starts: Sequence[int], length: int) -> Batch:
        """{"phones": (B, T) long}: the phone (symbol id) the aligner hears at the middle of each codec frame
        of each crop, IGNORE past the utterance's end; {} when codec.phone_weight is 0."""
        if self.cfg.phone_weight <= 0:
            return {}
        from tts.text.symbols import encode

        if self._phone_durations is None:
            from tts.train.durations import load_mel_durations

            self._phone_durations = load_mel_durations(self.recipe, self.corpus)
        middles = np.arange(length // self.per_code) * self.per_code + self.per_code // 2  # (T,) units
        labels = np.full((len(records), len(middles)), IGNORE, dtype=np.int64)
        for row, (record, start) in enumerate(zip(records, starts)):
            durations = self._phone_durations.get(record["id"])
            if durations is None:
                continue
            mel = np.floor((start + middles) * self.mel_per_unit).astype(np.int64)  # (T,) mel frame indices
            phone = np.searchsorted(np.cumsum(durations), mel, side="right")  # (T,) index into the phones
            inside = (phone < len(durations)) & (mel < int(record["n_mel_frames"]))
            labels[row, inside] = np.asarray(encode(record["phones"]), dtype=np.int64)[phone[inside]]
        return {"phones": torch.from_numpy(labels)}

    def phone_loss(self, modules: dict[str, nn.Module], first: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Cross-entropy of the phone classifier on codebook 1's latents (B, D, T) against batch["phones"]."""
        logits, labels = self._phone_logits(modules, first, batch)
        if not bool((labels != IGNORE).any()):  # no frame of the batch has a phone: nothing to learn (not NaN)
            return logits.sum() * 0.0
        return token_loss(logits, labels)

    def _phone_logits(self, modules: dict[str, nn.Module], first: torch.Tensor,
                      batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (B, T, symbols) of the classifier on codebook 1's latents (B, D, >= T), labels (B, T))."""
        labels = batch["phones"].to(first.device)
        return modules["phones"](first.float().transpose(1, 2)[:, :labels.size(1)]), labels

    def batch_ids(self, batch: Batch) -> list[str]:
        return list(batch["ids"])

    def batch_tokens(self, batch: Batch) -> int:
        return int(batch["wav"].numel())  # samples

    # ------------------------------------------------------------------ steps

    def mel_loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Multi-resolution log-mel L1 in float32 (also under autocast)."""
        if self._mel_loss is None:
            from tts.audio.spectral import MultiResolutionMelLoss

            self._mel_loss = MultiResolutionMelLoss(self.sample_rate)
        self._mel_loss = self._mel_loss.to(target.device)
        with torch.autocast(target.device.type, enabled=False):
            return self._mel_loss(prediction.float(), target.float())

    def train_step(self, modules: dict[str, nn.Module], batch: Batch, step: int,
                   device: torch.device) -> Iterator[tuple[str, torch.Tensor, dict[str, float]]]:
        real = batch["wav"].to(device)  # (B, 1, S)
        levels = dropout_levels(self.cfg.quantizer_dropout, self.cfg.n_codebooks, self.recipe.seed, step)
        out = modules["generator"](real, levels)  # (B, 1, S), codes, scalar, codebook 1's latents
        fake = out.output.float()
        wav_l1 = F.l1_loss(fake, real)
        mel = self.mel_loss(fake, real)
        loss = WAV_WEIGHT * wav_l1 + MEL_WEIGHT * mel + COMMIT_WEIGHT * out.commit
        logs = {"wav_l1": wav_l1.item(), "mel": mel.item(), "commit": out.commit.item()}
        yield ("generator", *self.finish_step(loss, logs, modules, out.first, batch, levels))

    def finish_step(self, loss: torch.Tensor, logs: dict[str, float], modules: dict[str, nn.Module],
                    first: torch.Tensor, batch: Batch, levels: int | None) -> tuple[torch.Tensor, dict[str, float]]:
        """A step's loss plus codec.phone_weight x the phone classifier's cross-entropy, and its logs (with the loss,
        and the levels it quantised with under quantizer dropout)."""
        if self.cfg.phone_weight > 0:
            phone_ce = self.phone_loss(modules, first, batch)
            loss = loss + self.cfg.phone_weight * phone_ce
            logs["phone_ce"] = phone_ce.item()
        logs["loss"] = loss.item()
        if self.cfg.quantizer_dropout > 0:
            logs["levels"] = float(levels or self.cfg.n_codebooks)
        return loss, logs

    def phone_metrics(self, modules: dict[str, nn.Module], first: torch.Tensor, batch: Batch) -> dict[str, float]:
        """Validation: the phone classifier's cross-entropy and accuracy on codebook 1 ({} without one)."""
        if self.cfg.phone_weight <= 0:
            return {}
        logits, labels = self._phone_logits(modules, first, batch)
        if not bool((labels != IGNORE).any()):
            return {}
        return {"phone_ce": float(token_loss(logits, labels)), "phone_accuracy": token_accuracy(logits, labels)}

    @torch.no_grad()
    def validate(self, modules: dict[str, nn.Module], batch: Batch, device: torch.device) -> dict[str, float]:
        """Mel distance and waveform L1 of resynthesised validation crops (codes as inference makes them)."""
        from tts.audio.spectral import multi_resolution_mel_distance

        real = batch["wav"].to(device)
        out = modules["generator"](real)
        fake = out.output.float()
        distances, l1s = [], []
        for f, r, n in zip(fake, real, batch["n_samples"]):
            distances.append(multi_resolution_mel_distance(f[..., :n], r[..., :n], self.sample_rate))
            l1s.append(float((f[..., :n] - r[..., :n]).abs().mean()))
        distance, wav_l1 = float(np.mean(distances)), float(np.mean(l1s))
        # "loss" picks best.pt: the training loss without the commitment term
        return {"loss": MEL_WEIGHT * distance + WAV_WEIGHT * wav_l1, "mel_distance": distance,
                "wav_l1": wav_l1, **self.phone_metrics(modules, out.first, batch)}

    @torch.no_grad()
    def write_samples(self, modules: dict[str, nn.Module], folder: Path, step: int,
                      device: torch.device) -> None:
        """The first validation utterance resynthesised (wav), plus a PNG: reference over decoded."""
        from tts.audio.io import save_audio
        from tts.codec import Codec
        from tts.plot_files import plot_spectrograms

        record = self.corpus.records("validation")[:1] or self.corpus.records("train")[:1]
        real = self.corpus.audio(record[0])  # (S,)
        codec = Codec(getattr(modules["generator"], "module", modules["generator"]),
                      trained_settings(self.recipe), self.cfg.chunk_seconds)
        wav = torch.from_numpy(real)[None, None].to(device)  # (1, 1, S)
        fake = codec(wav)[0, 0].float().cpu().numpy()  # (S,)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        utt = record[0]["id"]
        save_audio(folder / f"codec-{step:07d}-{utt}.wav", fake, self.sample_rate)
        reference = folder / f"reference-{utt}.wav"
        if not reference.exists():
            save_audio(reference, real, self.sample_rate)
        plot_spectrograms([(real, self.sample_rate, f"reference {utt}"),
                           (fake, self.sample_rate, f"codec resynthesis, step {step}")],
                          folder / f"codec-{step:07d}-{utt}.png", self.recipe.audio)

