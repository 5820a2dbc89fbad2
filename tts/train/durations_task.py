"""The durations training stage: phone durations and log-mel frames, as a change of the AR stage
(tts/train/ar_task.py) (docs/durations.md).

Same data and prompt as the AR (a prefix of the utterance, its codes shown), but the target's frames
show the phone they speak, at the durations the aligner read off the recording (tts/train/durations.py,
computed from <run>/aligner/best.pt on first use). The model (tts/models/durations.py) regresses each
codec frame's r log-mel frames, by an L1 over the frames after the prompt, and each phone's
log(1 + frames), by a squared error over the phones that start after the prompt. Validation also
reports duration_error, the mean absolute error of the rounded durations in frames, and keeps that squared
error over all its phones in the model (duration_variance), which synthesis needs to speak each phone at its
mean length rather than a typical, shorter one (tts/models/durations.py).

Batches: ids, phones (B, L), phone_lengths, codes (B, Q, T), audio_lengths, prompt_lengths,
mel (B, T, r, M), frame_phone and place (B, T), durations and duration_wanted (B, L), tokens.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tts.models.alignment import frame_phones
from tts.models.durations import DurationsModel
from tts.models.layers import length_mask, pad_right
from tts.train.ar_task import ARTask
from tts.train.batching import CodesDataset

log = logging.getLogger(__name__)

DURATION_LOSS = 1.0  # weight of the durations' squared error beside the mel L1


def masked_mel_l1(mel: torch.Tensor, target: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
    """Mean L1 of log-mel frames (B, T, r, M) against `target` over the positions `wanted` (B, T)."""
    error = (mel.float() - target).abs().mean(dim=(2, 3))  # (B, T)
    return (error * wanted).sum() / wanted.sum().clamp(min=1)


class DurationsTask(ARTask):
    """Training stage "durations" (see tts/train/task.py for the protocol)."""

    name = "durations"

    # ------------------------------------------------------------------ data

    @property
    def mel_per_frame(self) -> int:
        """Mel frames per codec frame (the frames each audio position predicts)."""
        audio = self.recipe.audio
        frame_rate = float(self.codec_settings.get("frame_rate", self.recipe.codec_frame_rate))
        ratio = audio.sample_rate / audio.hop_length / frame_rate
        if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
            raise ValueError(f"the durations model needs a whole number of mel frames per codec frame, but the "
                             f"mel rate {audio.sample_rate / audio.hop_length:g} Hz (audio.hop_length) over the "
                             f"codec's {frame_rate:g} Hz is {ratio:g}; change audio.hop_length")
        return int(round(ratio))

    def collate(self, data: CodesDataset, items: list[int], rng: np.random.Generator) -> dict[str, Any]:
        codes, phones, phone_lengths, audio_lengths, prompt_lengths = self.utterances(data, items, rng)
        T = int(audio_lengths.max())
        frame_phone, place, durations, wanted = [], [], [], []
        for index, prompt in zip(items, prompt_lengths.tolist()):
            d = self.phone_durations[data.items[index].id]  # (L,)
            phone, within = frame_phones(d)
            frame_phone.append(phone)
            place.append(within)
            durations.append(d)
            wanted.append(torch.cumsum(d, 0) - d >= prompt)  # the phone starts after the prompt
        L = int(phone_lengths.max())
        return {"ids": [data.items[i].id for i in items],
                "phones": pad_right(phones, L), "phone_lengths": phone_lengths,
                "codes": pad_right(codes, T), "audio_lengths": audio_lengths, "prompt_lengths": prompt_lengths,
                "mel": self._mel_targets(data, items, T),
                "frame_phone": pad_right(frame_phone, T), "place": pad_right(place, T),
                "durations": pad_right(durations, L),
                "duration_wanted": pad_right([w.long() for w in wanted], L).bool(),
                "tokens": int(phone_lengths.sum() + audio_lengths.sum())}

    def _mel_targets(self, data: CodesDataset, items: list[int], positions: int) -> torch.Tensor:
        """(B, positions, r, M): position t holds the log-mel frames [t r, (t + 1) r) of the utterance,
        padded with silence (the log floor) past its end."""
        from tts.audio.spectral import LOG_FLOOR

        r, floor = self.mel_per_frame, float(np.log(LOG_FLOOR))
        rows = []
        for index in items:
            mel = torch.from_numpy(self.corpus.mel(data.items[index].record))  # (M, F)
            frames = mel.T[:positions * r]  # (F', M)
            frames = torch.nn.functional.pad(frames, (0, 0, 0, positions * r - frames.size(0)), value=floor)
            rows.append(frames.view(positions, r, -1))  # (positions, r, M)
        return torch.stack(rows)

    # ------------------------------------------------------------------ model and steps

    def model_config(self) -> dict[str, Any]:
        return {**super().model_config(), "n_codebooks": self.n_codebooks, "mel_bins": self.recipe.audio.n_mels,
                "mel_per_frame": self.mel_per_frame}

    def build_modules(self) -> dict[str, nn.Module]:
        return {"model": DurationsModel.from_config(self.model_config())}

    def _losses(self, model: nn.Module, b: dict) -> tuple[torch.Tensor, ...]:
        """(mel L1, durations' mean squared error in log(1 + frames), that error of each phone (B, L), the
        predicted log(1 + frames) (B, L))."""
        mel, log_frames = model(b["phones"], b["phone_lengths"], b["codes"], b["audio_lengths"],
                                b["prompt_lengths"], b["frame_phone"], b["place"])
        T = b["codes"].size(2)
        wanted = length_mask(b["audio_lengths"], T) & ~length_mask(b["prompt_lengths"], T)  # (B, T)
        phones = b["duration_wanted"].float()
        error = (log_frames.float() - torch.log1p(b["durations"].float())) ** 2
        duration_loss = (error * phones).sum() / phones.sum().clamp(min=1)
        return masked_mel_l1(mel, b["mel"], wanted), duration_loss, error, log_frames.float()

    def train_step(self, modules: dict[str, nn.Module], batch: dict, step: int, device: torch.device):
        b = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        mel_l1, duration_loss, *_ = self._losses(modules["model"], b)
        loss = mel_l1 + DURATION_LOSS * duration_loss
        yield "model", loss, {"loss": loss.item(), "mel_l1": mel_l1.item(), "duration_loss": duration_loss.item()}

    def validation_batches(self) -> list[dict]:
        self._spread = [0.0, 0]  # squared log errors and phones of this validation pass so far
        return super().validation_batches()

    @torch.no_grad()
    def validate(self, modules: dict[str, nn.Module], batch: dict, device: torch.device) -> dict[str, float]:
        b = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        model, wanted = modules["model"], b["duration_wanted"]
        mel_l1, duration_loss, squared, log_frames = self._losses(model, b)
        error = (torch.expm1(log_frames).round().clamp(min=0) - b["durations"]).abs()[wanted].mean()
        spread = getattr(self, "_spread", [0.0, 0])
        self._spread = [spread[0] + float(squared[wanted].sum()), spread[1] + int(wanted.sum())]
        model.duration_variance.fill_(self._spread[0] / max(self._spread[1], 1))  # the pass so far: all of it at its end
        return {"loss": float(mel_l1 + DURATION_LOSS * duration_loss), "mel_l1": mel_l1.item(),
                "duration_loss": duration_loss.item(), "duration_error": error.item()}

    # ------------------------------------------------------------------ samples

    @torch.no_grad()
    def write_samples(self, modules: dict[str, nn.Module], folder: Path, step: int, device: torch.device) -> None:
        """A validation utterance spoken at the model's own durations, through the run's mel vocoder."""
        (data, index), prompt = self.sample_pair()
        item = data.items[index]
        prompt_phones = prompt[0].items[prompt[1]].phones if prompt else None
        prompt_codes = prompt[0].codes(prompt[1]) if prompt else None
        mels, durations = modules["model"].speak([item.phones], [prompt_codes] if prompt else None,
                                                 [prompt_phones] if prompt else None)
        voiced = self.render_mel(folder, mels[0], item, device)
        info = {"step": step, "id": item.id, "text": item.record.get("text", ""),
                "prompt": prompt[0].items[prompt[1]].id if prompt else None,
                "frames": int(durations[0].sum()), "true_frames": item.n_frames}
        if voiced:
            info["wav"] = "mel.wav"
        (folder / "sample.json").write_text(json.dumps(info, indent=2), encoding="utf-8")

    def render_mel(self, folder: Path, mel: torch.Tensor, item: Any, device: torch.device) -> bool:
        """mel.wav and mel_spectrogram.png: log-mel frames (M, F) through the run's mel vocoder (what
        synthesis hears); skipped with a warning while there is none. Whether it was voiced."""
        from tts import plot_files
        from tts.audio.io import save_audio
        from tts.vocode import load_vocoder

        try:
            vocoder = load_vocoder(Path(self.recipe.output_dir), device)
        except (FileNotFoundError, ValueError) as err:
            log.warning("the durations model's sample is not voiced: %s", err)
            return False
        if vocoder.input != "mel":
            return False
        wav = vocoder(mel.to(device))[0, 0].float().cpu().numpy()  # (S,)
        save_audio(folder / "mel.wav", wav, vocoder.sample_rate)
        plot_files.plot_spectrograms([(wav, vocoder.sample_rate, f"durations model ({item.id})"),
                                      (self.corpus.audio(item.record), self.corpus.sample_rate, "reference")],
                                     folder / "mel_spectrogram.png", self.recipe.audio)
        return True
