"""The NAR training stage: codebooks 2..Q, as a small change of the AR stage (tts/train/ar_task.py).

Same data, same prompt (a prefix of the utterance, all levels shown), but each utterance of a
batch is trained on one level k drawn uniformly from 2..Q, given the levels below it; the loss
covers the frames after the prompt. Validation scores every level.

Batches: ids, phones (B, L), phone_lengths, codes (B, Q, T), audio_lengths, prompt_lengths,
level (B,) (0-based: level k is codebook k + 1), tokens.

With `nar.predict: mel` (the mel mode) the model instead regresses each frame's log-mel frames from
codebook 1 of the target (and the phones and the prompt), by an L1 over the frames after the prompt;
batches then also hold mel (B, T, r, M) and noisy_first (B, T): codebook 1 with up to `nar.code_noise`
of its target frames replaced by random codes, a share drawn per utterance with the batch (so the
same on a resumed run), which training reads in place of the true codes. Validation reports mel_l1
from the true codes (the loss best.pt follows) and mel_l1_noisy from the corrupted ones.

With `nar.condition: durations` the target's frames show the phone they speak instead (durations
the aligner read off the recording, tts/train/durations.py), and the model also predicts each phone's
log(1 + frames): batches hold frame_phone and place (B, T), durations (B, L) and duration_wanted
(B, L) (the phones that start after the prompt, whose durations count in the loss). The loss is
the mel L1 plus the durations' squared error; validation also reports duration_error, the mean
absolute error of the rounded durations in frames.

With `nar.pitch: true` batches also hold pitch (B, L), each phone's z-score of ln F0 (NaN for none,
tts/train/pitch.py), which the frames read and a second head predicts: its squared error over the
voiced phones that start after the prompt joins the loss, and validation reports pitch_loss and
pitch_error (the mean absolute error in semitones).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tts.models.layers import IGNORE, length_mask, pad_right, token_accuracy, token_loss
from tts.models.nar import NARModel
from tts.train.ar_task import ARTask, masked_mel_l1
from tts.train.batching import CodesDataset

DURATION_LOSS = 1.0  # weight of the durations' squared error beside the mel L1
PITCH_LOSS = 1.0  # weight of the pitch z-scores' squared error beside the mel L1


class NARTask(ARTask):
    """Training stage "nar" (see tts/train/task.py for the protocol)."""

    name = "nar"
    _durations: dict[str, np.ndarray] | None = None  # durations mode: {utterance id: frames of each phone}
    _pitch: dict[str, np.ndarray] | None = None  # nar.pitch: {utterance id: z-score of each phone}
    _pitch_std: float | None = None  # nar.pitch: standard deviation of ln F0 that the z-scores divide by

    @property
    def predicts_mel(self) -> bool:
        return self.section.predict == "mel"

    @property
    def reads_durations(self) -> bool:
        return self.section.condition == "durations"

    def model_config(self) -> dict[str, Any]:
        config = {**super().model_config(), "n_codebooks": self.n_codebooks}
        if self.predicts_mel:
            config.update(mel_bins=self.recipe.audio.n_mels, mel_per_frame=self.mel_per_frame)
        if self.reads_durations:
            config["condition"] = "durations"
        if self.section.pitch:
            config["pitch"] = True
        return config

    def _all_durations(self) -> dict[str, np.ndarray]:
        """{utterance id: frames of each phone} from the aligner, loaded (or computed) on first use."""
        if self._durations is None:
            from tts.train.durations import durations_path, load_durations

            self._durations = load_durations(self.recipe, self)
            self._durations_file = durations_path(self.recipe)
        return self._durations

    def durations(self, data: CodesDataset, index: int) -> torch.Tensor:
        """Frames (L,) of each phone of utterance `index`, read off the recording by the aligner."""
        item, durations = data.items[index], self._all_durations()
        if item.id not in durations:
            raise RuntimeError(f"{self._durations_file} has no durations of utterance {item.id}: it was computed "
                               "for another prepared corpus; delete it to compute them again")
        d = torch.from_numpy(durations[item.id].astype(np.int64))
        if len(d) != len(item.phones) or int(d.sum()) != item.n_frames:
            raise RuntimeError(f"{self._durations_file}: the durations of {item.id} do not fit its phones and "
                               "frames (the corpus was prepared again since): delete the file to compute them again")
        return d

    def pitch(self, data: CodesDataset, index: int) -> torch.Tensor:
        """Z-scores (L,) of ln F0 of each phone of utterance `index` (NaN for none), at the aligner's durations."""
        if self._pitch is None:
            from tts.train.pitch import load_pitch, pitch_path

            self._pitch, (_, self._pitch_std) = load_pitch(self.recipe, self, self._all_durations())
            self._pitch_file = pitch_path(self.recipe)
        item = data.items[index]
        if item.id not in self._pitch or len(self._pitch[item.id]) != len(item.phones):
            raise RuntimeError(f"{self._pitch_file} has no pitch of utterance {item.id} for its phones: it was "
                               "computed for another prepared corpus; delete it to compute it again")
        return torch.from_numpy(self._pitch[item.id].astype(np.float32))

    def build_modules(self) -> dict[str, nn.Module]:
        return {"model": NARModel.from_config(self.model_config())}

    def collate(self, data: CodesDataset, items: list[int], rng: np.random.Generator) -> dict[str, Any]:
        codes = [data.codes(i) for i in items]  # each (Q, T)
        phones = [data.items[i].phones for i in items]
        phone_lengths = torch.tensor([len(p) for p in phones])
        audio_lengths = torch.tensor([c.size(1) for c in codes])
        prompt_lengths = torch.tensor([self.prompt_length(c.size(1), rng) for c in codes])
        levels = torch.from_numpy(rng.integers(1, max(self.n_codebooks, 2), size=len(items)))
        batch = {"ids": [data.items[i].id for i in items],
                 "phones": pad_right(phones, int(phone_lengths.max())), "phone_lengths": phone_lengths,
                 "codes": pad_right(codes, int(audio_lengths.max())), "audio_lengths": audio_lengths,
                 "prompt_lengths": prompt_lengths, "level": levels,
                 "tokens": int(phone_lengths.sum() + audio_lengths.sum())}
        if self.predicts_mel:
            T = int(audio_lengths.max())
            batch["mel"] = self._mel_targets(data, items, T)
            batch["noisy_first"] = self._noisy_first(batch["codes"][:, 0], prompt_lengths, rng)
        if self.reads_durations:
            batch.update(self._aligned_inputs(data, items, prompt_lengths))
        return batch

    def _aligned_inputs(self, data: CodesDataset, items: list[int], prompt_lengths: torch.Tensor) -> dict[str, Any]:
        """frame_phone, place (B, T), durations and duration_wanted (B, L) of the durations mode."""
        from tts.models.alignment import frame_phones

        frame_phone, place, durations, wanted = [], [], [], []
        for index, prompt in zip(items, prompt_lengths.tolist()):
            d = self.durations(data, index)
            phone, within = frame_phones(d)
            frame_phone.append(phone)
            place.append(within)
            durations.append(d)
            wanted.append(torch.cumsum(d, 0) - d >= prompt)  # the phone starts after the prompt
        T, L = max(len(f) for f in frame_phone), max(len(d) for d in durations)
        out = {"frame_phone": pad_right(frame_phone, T), "place": pad_right(place, T),
               "durations": pad_right(durations, L), "duration_wanted": pad_right([w.long() for w in wanted], L).bool()}
        if self.section.pitch:
            pitch = [self.pitch(data, index) for index in items]
            out["pitch"] = torch.stack([torch.nn.functional.pad(p, (0, L - len(p)), value=float("nan")) for p in pitch])
        return out

    def _aligned(self, model: nn.Module, b: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Durations mode: (mel L1, durations' squared error in log(1 + frames), predicted frames (B, L),
        {pitch_loss, pitch_error} with nar.pitch, else {})."""
        mel, log_frames, pitch = model.aligned(b["phones"], b["phone_lengths"], b["codes"], b["audio_lengths"],
                                               b["prompt_lengths"], b["frame_phone"], b["place"], b.get("pitch"))
        T = b["codes"].size(2)
        wanted = length_mask(b["audio_lengths"], T) & ~length_mask(b["prompt_lengths"], T)  # (B, T)
        phones = b["duration_wanted"].float()
        error = (log_frames.float() - torch.log1p(b["durations"].float())) ** 2
        duration_loss = (error * phones).sum() / phones.sum().clamp(min=1)
        pitch_terms = {}
        if pitch is not None:
            known = b["duration_wanted"] & ~torch.isnan(b["pitch"])  # (B, L)
            difference = (pitch.float() - b["pitch"].nan_to_num(0.0)) * known
            pitch_terms = {"pitch_loss": (difference ** 2).sum() / known.sum().clamp(min=1),
                           "pitch_error": difference.abs().sum() / known.sum().clamp(min=1) * self.semitones_per_z}
        return masked_mel_l1(mel, b["mel"], wanted), duration_loss, torch.expm1(log_frames.float()), pitch_terms

    @property
    def semitones_per_z(self) -> float:
        """Semitones in one z-score of the run's pitch (its ln F0 standard deviation x 12 / ln 2)."""
        if self._pitch_std is None:
            from tts.train.pitch import pitch_path, read_pitch

            self._pitch_std = read_pitch(pitch_path(self.recipe))[1][1]
        return self._pitch_std * 12 / np.log(2)

    def _noisy_first(self, first: torch.Tensor, prompt_lengths: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Codebook 1 (B, T) with a share u_b ~ U(0, code_noise) of each utterance's target frames
        replaced by codes drawn uniformly (the prompt's frames are kept)."""
        B, T = first.shape
        shares = rng.uniform(0.0, self.section.code_noise, size=(B, 1))
        replace = torch.from_numpy(rng.random((B, T)) < shares) & ~length_mask(prompt_lengths, T)
        random_codes = torch.from_numpy(rng.integers(0, self.codebook_size, size=(B, T)))
        return torch.where(replace, random_codes, first)

    def _level_logits(self, model: nn.Module, b: dict, level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, T, V) of `level` and their targets (B, T): the level's codes after the prompt."""
        logits = model(b["phones"], b["phone_lengths"], b["codes"], b["audio_lengths"], b["prompt_lengths"], level)
        T = b["codes"].size(2)
        wanted = length_mask(b["audio_lengths"], T) & ~length_mask(b["prompt_lengths"], T)  # (B, T)
        target = b["codes"].gather(1, level.view(-1, 1, 1).expand(-1, 1, T)).squeeze(1)  # (B, T)
        return logits, target.masked_fill(~wanted, IGNORE)

    def _mel(self, model: nn.Module, b: dict, first: torch.Tensor) -> torch.Tensor:
        """Mean L1 of the mel mode's log-mel frames, read from codebook 1 `first` (B, T), against
        b["mel"] over the target's frames (after the prompt, before the end)."""
        codes = b["codes"].clone()
        codes[:, 0] = first
        mel = model.mel(b["phones"], b["phone_lengths"], codes, b["audio_lengths"], b["prompt_lengths"])
        T = codes.size(2)
        wanted = length_mask(b["audio_lengths"], T) & ~length_mask(b["prompt_lengths"], T)  # (B, T)
        return masked_mel_l1(mel, b["mel"], wanted)

    def train_step(self, modules: dict[str, nn.Module], batch: dict, step: int, device: torch.device):
        b = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        if self.reads_durations:
            mel_l1, duration_loss, _, pitch = self._aligned(modules["model"], b)
            loss = mel_l1 + DURATION_LOSS * duration_loss + PITCH_LOSS * pitch.get("pitch_loss", 0.0)
            logged = {"loss": loss.item(), "mel_l1": mel_l1.item(), "duration_loss": duration_loss.item()}
            yield "model", loss, {**logged, **({"pitch_loss": pitch["pitch_loss"].item()} if pitch else {})}
            return
        if self.predicts_mel:
            loss = self._mel(modules["model"], b, b["noisy_first"])
            yield "model", loss, {"loss": loss.item()}
            return
        logits, targets = self._level_logits(modules["model"], b, b["level"])
        loss = token_loss(logits, targets)
        yield "model", loss, {"loss": loss.item(), "accuracy": token_accuracy(logits, targets)}

    @torch.no_grad()
    def validate(self, modules: dict[str, nn.Module], batch: dict, device: torch.device) -> dict[str, float]:
        b = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        if self.reads_durations:
            mel_l1, duration_loss, frames, pitch = self._aligned(modules["model"], b)
            wanted = b["duration_wanted"]
            error = (frames.round().clamp(min=0) - b["durations"]).abs()[wanted].mean()
            loss = mel_l1 + DURATION_LOSS * duration_loss + PITCH_LOSS * pitch.get("pitch_loss", 0.0)
            return {"loss": float(loss), "mel_l1": mel_l1.item(), "duration_loss": duration_loss.item(),
                    "duration_error": error.item(), **{k: float(v) for k, v in pitch.items()}}
        if self.predicts_mel:
            clean = self._mel(modules["model"], b, b["codes"][:, 0]).item()
            return {"loss": clean, "mel_l1": clean, "mel_l1_noisy": self._mel(modules["model"], b, b["noisy_first"]).item()}
        metrics: dict[str, float] = {}
        for k in range(1, self.n_codebooks):
            level = torch.full_like(b["level"], k)
            logits, targets = self._level_logits(modules["model"], b, level)
            metrics[f"loss_level{k + 1}"] = token_loss(logits, targets).item()
            metrics[f"accuracy_level{k + 1}"] = token_accuracy(logits, targets)
            metrics[f"top10_accuracy_level{k + 1}"] = token_accuracy(logits, targets, k=10)
        levels = range(2, self.n_codebooks + 1)
        metrics["loss"] = sum(metrics[f"loss_level{k}"] for k in levels) / len(levels)
        metrics["accuracy"] = sum(metrics[f"accuracy_level{k}"] for k in levels) / len(levels)
        return metrics

    @torch.no_grad()
    def write_samples(self, modules: dict[str, nn.Module], folder: Path, step: int, device: torch.device) -> None:
        """Levels 2..Q of a validation utterance from its true codebook 1 (the NAR alone), decoded."""
        (data, index), prompt = self.sample_pair()
        item = data.items[index]
        first = data.codes(index)[0]  # (T,)
        prompt_phones = prompt[0].items[prompt[1]].phones if prompt else None
        prompt_codes = prompt[0].codes(prompt[1]) if prompt else None
        model = modules["model"]
        if model.reads_durations:
            mels, durations = model.speak([item.phones], [prompt_codes] if prompt else None,
                                          [prompt_phones] if prompt else None)
            self.render_mel(folder, mels[0], item, device, label="NAR, predicted durations")
            info = {"step": step, "id": item.id, "text": item.record.get("text", ""),
                    "prompt": prompt[0].items[prompt[1]].id if prompt else None,
                    "frames": int(durations[0].sum()), "true_frames": int(first.size(0)), "wav": "mel.wav"}
            (folder / "sample.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
            return
        if model.predicts_mel:
            mel = model.generate([item.phones], [first], [prompt_codes] if prompt else None,
                                 [prompt_phones] if prompt else None)[0]
            self.render_mel(folder, mel, item, device, label="NAR mel mode, true codebook 1")
            info = {"step": step, "id": item.id, "text": item.record.get("text", ""),
                    "prompt": prompt[0].items[prompt[1]].id if prompt else None, "frames": int(first.size(0)),
                    "codebook_1": "true codes", "wav": "mel.wav"}
            (folder / "sample.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
            return
        codes, latents = self.fill_levels(modules["model"], item.phones, first, prompt_codes, prompt_phones, device)
        exact = (codes == data.codes(index)).float().mean(dim=1)  # (Q,) share equal to the truth
        info = {"step": step, "id": item.id, "text": item.record.get("text", ""),
                "prompt": prompt[0].items[prompt[1]].id if prompt else None, "frames": int(codes.size(1)),
                "codebook_1": "true codes", "agreement_per_level": [round(float(x), 4) for x in exact]}
        self.render(folder, codes, item, info, device, latents)
