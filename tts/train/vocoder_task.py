"""The vocoder stage: a GAN generator learns features -> waveform on random crops of the corpus.

Each step yields the discriminator's loss (least squares on real vs generated audio), then the
generator's (least squares + feature matching + multi-resolution log-mel L1), as `tts.train.task`
describes. For the first vocoder.adversarial_start steps the generator learns from the mel loss
alone and the discriminators are not run (a cheap warm-up that gets the spectrum right first).
Features are the prepared log-mels (input "mel"), or the log-mels a mel-domain codec decodes
from the prepared codes (input "codec_mel": a mel vocoder fine-tuned on what the codec will feed
it, its own rebuild rather than the true log-mel).

Alignment: a prepared log-mel has T = 1 + S // hop centred frames (frame t is centred on
sample t x hop). The generator turns frames [t0, t0 + n) into samples [t0 x hop, (t0 + n) x hop):
a fixed half-hop offset that it learns, and that inference reproduces by feeding the same
features (the whole utterance from t0 = 0, cut to S samples). Codec frames t cover samples
[t x codec hop, (t + 1) x codec hop) and are cut the same way.

Shapes: B batch, S samples, T frames, M mel bins, Q codebooks.
Batch: {"ids": [B], "features": (B, M, T) float or (B, Q, T) long codes, "audio": (B, 1, T x hop)}.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from tts.audio.spectral import LOG_FLOOR
from tts.config import Recipe, TrainConfig
from tts.models.vocoder import (build_discriminator, build_generator, discriminator_loss,
                                feature_matching_loss, generator_adversarial_loss)
from tts.train.batching import CropBatches, training_crop_batches, validation_records
from tts.train.task import PreparedCorpusTask

log = logging.getLogger(__name__)

VALIDATION_UTTERANCES = 8  # whole validation utterances scored at each validation pass
Batch = dict[str, Any]


class VocoderTask(PreparedCorpusTask):
    """GAN training of the vocoder (see tts/train/task.py for the protocol)."""

    name = "vocoder"

    def __init__(self, recipe: Recipe, corpus: Any | None = None, run_recipe: Recipe | None = None):
        self.recipe = recipe
        self.run_recipe = run_recipe  # the run's own recipe when `recipe` is derived (stage codec_vocoder)
        self.cfg = recipe.vocoder
        self.hop = recipe.audio.hop_length  # samples per generator input frame
        self.uses_codes = self.cfg.input == "codec_mel"
        self.crop_hop = recipe.codec_hop if self.uses_codes else self.hop  # samples per stored feature frame
        self._corpus = corpus  # a PreparedCorpus; opened on first use unless given (tests)
        self._codec: Any | None = None  # frozen codec that decodes the codes, loaded on first use
        self._mel: nn.Module | None = None
        self._mel_loss: nn.Module | None = None
        self._mel_checked = False
        self._validation: list[Batch] | None = None

    # ------------------------------------------------------------------ setup

    @property
    def train_config(self) -> TrainConfig:
        return self.cfg.train

    @property
    def corpus(self) -> Any:
        corpus = super().corpus
        if not self._mel_checked:
            self._check_corpus(corpus)
            self._mel_checked = True
        return corpus

    def _check_corpus(self, corpus: Any) -> None:
        from tts.vocode import check_mel_settings

        audio = corpus.settings.get("audio")
        if audio is None:
            raise ValueError(f"{corpus.folder} does not record its audio settings; prepare it again")
        check_mel_settings(self.recipe.audio, audio, "the recipe", f"the prepared corpus {corpus.folder}")
        if self.uses_codes and not corpus.has_codes:
            raise ValueError(f"vocoder.input is {self.cfg.input} but {corpus.folder} has no codec codes; "
                             "train the codec stage and run `tts prepare` again")

    def build_modules(self) -> dict[str, nn.Module]:
        return {"generator": build_generator(self.recipe), "discriminator": build_discriminator(self.recipe)}

    def optimizer_groups(self) -> dict[str, list[str]]:
        return {"discriminator": ["discriminator"], "generator": ["generator"]}

    def checkpoint_extras(self) -> dict[str, Any]:
        from tts.codec import expected_settings

        extras: dict[str, Any] = {"audio": dataclasses.asdict(self.recipe.audio),
                                  "vocoder_input": self.cfg.input, "hop_length": self.hop}
        if self.uses_codes:
            extras["codec"] = expected_settings(self.recipe)
            extras["codec_digest"] = self.codec_digest
        return extras

    @property
    def codec_digest(self) -> str | None:
        """Content hash of the codec checkpoint whose codes the corpus holds (None: not recorded)."""
        from tts.codec import CHECKPOINT_DIGEST

        return ((self.corpus.settings or {}).get("codec") or {}).get(CHECKPOINT_DIGEST)

    def check_resume(self, checkpoint: dict[str, Any], path: Path) -> None:
        """ValueError when a vocoder on codec features would resume on the codes of another codec
        checkpoint than it was trained on (the codec trained on, and the codes prepared again)."""
        from tts.codec import weights_differ

        if self.uses_codes and weights_differ(checkpoint.get("codec_digest"), self.codec_digest):
            raise ValueError(f"{path} was trained on the codes of another codec checkpoint than the prepared "
                             f"corpus's now (the codec was trained on or replaced since). Move {path.parent} aside "
                             "to train it afresh on the new codes")

    # ------------------------------------------------------------------ data

    @property
    def segment_frames(self) -> int:
        """Feature frames per training crop (train.segment_seconds, at least one)."""
        return max(1, round(self.train_config.segment_seconds * self.recipe.audio.sample_rate / self.crop_hop))

    def _collate(self, records: list[dict], starts: list[int | None], frames: int | None) -> Batch:
        return CropReader(self.corpus, self.crop_hop, self.uses_codes).collate(records, starts, frames)

    def train_batches(self, epoch: int, rank: int, world_size: int) -> CropBatches:
        """Random crops, deterministic per (seed, epoch); every rank gets the same number of batches."""
        return training_crop_batches(CropReader(self.corpus, self.crop_hop, self.uses_codes).collate, self.corpus,
                                     "n_frames" if self.uses_codes else "n_mel_frames", self.segment_frames,
                                     self.train_config.batch_size, self.recipe.seed, epoch, rank, world_size)

    def validation_batches(self) -> Iterable[Batch]:
        """Whole validation utterances, one per batch (the training set's first ones if none are held out)."""
        if self._validation is None:
            records = validation_records(self.corpus, VALIDATION_UTTERANCES, log)
            self._validation = [self._collate([r], [None], None) for r in records]
        return self._validation

    def batch_ids(self, batch: Batch) -> list[str]:
        return list(batch["ids"])

    def batch_tokens(self, batch: Batch) -> int:
        return int(batch["audio"].numel())  # samples

    # ------------------------------------------------------------------ steps

    def _inputs(self, batch: Batch, device: torch.device) -> torch.Tensor:
        """Generator input (B, M, T): the log-mel, or the one the codec decodes from the codes."""
        features = batch["features"].to(device)
        if not self.uses_codes:
            return features
        if self._codec is None:
            from tts.codec import load_codec

            # building the codec draws initial weights from the global RNG; keep that out of the
            # training stream so that a resumed run (which loads it at another step) stays exact
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                self._codec = load_codec(self.recipe, device, with_vocoder=False)
            if self._codec is None:
                raise RuntimeError(f"vocoder.input is {self.cfg.input} but the recipe has no trained codec; "
                                   "train the codec stage first")
            self._codec.requires_grad_(False)
        # (B, M, T x strides): the log-mel the mel-domain codec decodes
        return self._codec.vocoder_features(features, self.cfg.input).to(device).float()

    def _log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """Log-mel of the recipe, in float32 even under autocast: (B, 1, S) -> (B, M, T)."""
        if self._mel is None:
            from tts.audio.spectral import MelSpectrogram

            self._mel = MelSpectrogram(**self.recipe.audio.mel_kwargs())
        self._mel = self._mel.to(wav.device)
        with torch.autocast(wav.device.type, enabled=False):
            return self._mel(wav.float())

    def mel_loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Multi-resolution log-mel L1 in float32 (also under autocast): the distance eval reports."""
        if self._mel_loss is None:
            from tts.audio.spectral import MultiResolutionMelLoss, mel_resolutions

            rate = self.recipe.audio.sample_rate
            self._mel_loss = MultiResolutionMelLoss(
                rate, mel_resolutions(rate, self.cfg.mel_loss_windows, self.cfg.mel_loss_bands))
        self._mel_loss = self._mel_loss.to(target.device)
        with torch.autocast(target.device.type, enabled=False):
            return self._mel_loss(prediction.float(), target.float())

    def reconstruction(self, fake: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted mel loss of generated vs real audio, and its value for the log."""
        mel = self.mel_loss(fake, real)
        return self.cfg.mel_loss_weight * mel, {"mel_l1": mel.item()}

    def adversarial_on(self, step: int) -> bool:
        return step >= self.cfg.adversarial_start

    def train_step(self, modules: dict[str, nn.Module], batch: Batch, step: int,
                   device: torch.device) -> Iterator[tuple[str, torch.Tensor, dict[str, float]]]:
        generator, discriminator = modules["generator"], modules["discriminator"]
        real = batch["audio"].to(device)  # (B, 1, S)
        fake = generator(self._inputs(batch, device))  # (B, 1, S)
        reconstruction, parts = self.reconstruction(fake, real)
        if not self.adversarial_on(step):  # reconstruction warm-up: no discriminator pass at all
            yield "generator", reconstruction, {"loss": reconstruction.item(), **parts}
            return
        n = real.shape[0]

        # one discriminator call on real and generated audio together (one forward per backward)
        outputs = discriminator(torch.cat([real, fake.detach()]))
        d_loss = discriminator_loss(*_split(outputs, n))
        yield "discriminator", d_loss, {"d_loss": d_loss.item()}

        real_out, fake_out = _split(discriminator(torch.cat([real, fake])), n)
        adversarial = generator_adversarial_loss(fake_out)
        features = feature_matching_loss(real_out, fake_out)
        g_loss = adversarial + self.cfg.feature_loss_weight * features + reconstruction
        yield "generator", g_loss, {"loss": g_loss.item(), "g_adv": adversarial.item(),
                                    "feature_match": features.item(), **parts}

    @torch.no_grad()
    def validate(self, modules: dict[str, nn.Module], batch: Batch, device: torch.device) -> dict[str, float]:
        from tts.audio.spectral import multi_resolution_mel_distance

        real = batch["audio"].to(device)
        fake = modules["generator"](self._inputs(batch, device))
        mel = nn.functional.l1_loss(self._log_mel(fake), self._log_mel(real))
        distances = [multi_resolution_mel_distance(f[..., :s], r[..., :s], self.recipe.audio.sample_rate)
                     for f, r, s in zip(fake, real, batch["n_samples"])]
        distance = float(np.mean(distances))
        # "loss" picks best.pt: the multi-resolution distance that eval compares with Griffin-Lim
        return {"loss": distance, "mel_distance": distance, "mel_l1": float(mel)}

    @torch.no_grad()
    def write_samples(self, modules: dict[str, nn.Module], folder: Path, step: int,
                      device: torch.device) -> None:
        """The first validation utterance, vocoded: wav, plus a PNG of reference over vocoded spectrograms."""
        from tts.audio.io import save_audio
        from tts.plot_files import plot_spectrograms

        batch = next(iter(self.validation_batches()))
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        rate, n = self.recipe.audio.sample_rate, batch["n_samples"][0]
        fake = modules["generator"](self._inputs(batch, device))[0, 0, :n].float().cpu().numpy()
        real = batch["audio"][0, 0, :n].numpy()
        name = f"vocoder-{step:07d}-{batch['ids'][0]}"
        save_audio(folder / f"{name}.wav", fake, rate)
        reference = folder / f"reference-{batch['ids'][0]}.wav"
        if not reference.exists():
            save_audio(reference, real, rate)
        plot_spectrograms([(real, rate, f"reference {batch['ids'][0]}"), (fake, rate, f"vocoded, step {step}")],
                          folder / f"{name}.png", self.recipe.audio)


@dataclass(frozen=True)
class CropReader:
    """Reads aligned (features, audio) crops from the corpus; small and picklable for loader workers."""

    corpus: Any
    hop: int
    uses_codes: bool

    def features(self, record: dict) -> np.ndarray:
        """(M, T) log-mel float32, or (Q, T) codes int64."""
        return self.corpus.codes(record) if self.uses_codes else self.corpus.mel(record)

    def crop(self, record: dict, start: int | None, frames: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Features [start, start + frames) and the matching audio, padded at the end if short."""
        features, wav = self.features(record), self.corpus.audio(record)  # (C, T), (S,)
        start = start or 0
        frames = frames or features.shape[-1]
        features = features[:, start:start + frames]
        wav = wav[start * self.hop:(start + frames) * self.hop]
        if features.shape[-1] < frames:  # utterance shorter than a crop: silence after it
            pad = 0 if self.uses_codes else math.log(LOG_FLOOR)
            features = np.pad(features, ((0, 0), (0, frames - features.shape[-1])), constant_values=pad)
        wav = np.pad(wav, (0, frames * self.hop - wav.shape[-1]))
        return features, wav.astype(np.float32)

    def collate(self, records: list[dict], starts: list[int | None], frames: int | None) -> Batch:
        pairs = [self.crop(r, s, frames) for r, s in zip(records, starts)]
        features = torch.from_numpy(np.stack([f for f, _ in pairs]))  # (B, C, T)
        audio = torch.from_numpy(np.stack([w for _, w in pairs]))[:, None]  # (B, 1, T x hop)
        return {"ids": [r["id"] for r in records], "features": features, "audio": audio,
                "n_samples": [int(r["n_samples"]) for r in records]}


def _split(outputs: list, n: int) -> tuple[list, list]:
    """Discriminator outputs on cat([real, fake]) -> (outputs on real, outputs on fake)."""
    real = [(logits[:n], [f[:n] for f in maps]) for logits, maps in outputs]
    fake = [(logits[n:], [f[n:] for f in maps]) for logits, maps in outputs]
    return real, fake
