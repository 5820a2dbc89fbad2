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

import math
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tts.audio.spectral import LOG_FLOOR
from tts.codec import mel_vocoder_path
from tts.config import Recipe
from tts.models.codec_model import MelCodecModel, dropout_levels
from tts.train.batching import round_up
from tts.train.codec_task import COMMIT_WEIGHT, Batch, CodecTask


class MelCodecTask(CodecTask):
    """Training of a mel-domain codec (see tts/train/task.py for the protocol): crops in mel frames."""

    MODEL = MelCodecModel
    LENGTH_KEY = "n_mel_frames"

    def __init__(self, recipe: Recipe, corpus: Any | None = None):
        if recipe.codec.kind != "trained" or recipe.codec.domain != "mel":
            raise ValueError("MelCodecTask trains codec.kind 'trained' with codec.domain 'mel'")
        super().__init__(recipe, corpus)

    @property
    def per_second(self) -> float:
        return self.recipe.audio.sample_rate / self.recipe.audio.hop_length

    @property
    def per_code(self) -> int:
        return self.cfg.mel_frames_per_code

    @property
    def mel_per_unit(self) -> float:
        return 1.0

    def check_corpus(self, corpus: Any) -> None:
        from tts.vocode import check_mel_settings

        audio = corpus.settings.get("audio")
        if audio is None:
            raise ValueError(f"{corpus.folder} does not record its audio settings; prepare it again")
        check_mel_settings(self.recipe.audio, audio, "the recipe", f"the prepared corpus {corpus.folder}")

    def collate(self, records: Sequence[dict], starts: Sequence[int], length: int) -> Batch:
        return {**collate_mels(self.corpus, records, starts, length), **self.phone_labels(records, starts, length)}

    def batch_tokens(self, batch: Batch) -> int:
        return int(batch["mel"].shape[0] * batch["mel"].shape[-1])  # mel frames

    # ------------------------------------------------------------------ steps

    def train_step(self, modules: dict[str, nn.Module], batch: Batch, step: int,
                   device: torch.device) -> Iterator[tuple[str, torch.Tensor, dict[str, float]]]:
        mel = batch["mel"].to(device)  # (B, M, F)
        levels = dropout_levels(self.cfg.quantizer_dropout, self.cfg.n_codebooks, self.recipe.seed, step)
        with torch.autocast(device.type, enabled=False):  # log-mels and codebooks in float32
            out = modules["generator"](mel, levels)
            mel_l1 = F.l1_loss(out.output, mel)
            loss, logs = self.finish_step(mel_l1 + COMMIT_WEIGHT * out.commit,
                                          {"mel_l1": mel_l1.item(), "commit": out.commit.item()},
                                          modules, out.first, batch, levels)
        yield "generator", loss, logs

    @torch.no_grad()
    def validate(self, modules: dict[str, nn.Module], batch: Batch, device: torch.device) -> dict[str, float]:
        """Log-mel L1 over the real frames of each validation crop, codes as inference makes them."""
        mel = batch["mel"].to(device)

        def l1_of(recon: torch.Tensor) -> float:
            return float(np.mean([float((r[:, :n] - m[:, :n]).abs().mean())
                                  for r, m, n in zip(recon.float(), mel, batch["n_mel_frames"])]))

        out = modules["generator"](mel)
        l1 = l1_of(out.output)
        metrics = {"loss": l1, "mel_l1": l1, **self.phone_metrics(modules, out.first, batch)}  # "loss": best.pt
        if self.cfg.n_codebooks > 1:  # what the first codebook alone keeps (the AR's share of the codes)
            metrics["mel_l1_level1"] = l1_of(modules["generator"](mel, 1).output)
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
