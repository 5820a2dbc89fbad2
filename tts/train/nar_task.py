"""The NAR training stage: codebooks 2..Q, as a small change of the AR stage (tts/train/ar_task.py).

Same data, same prompt (a prefix of the utterance, all levels shown), but each utterance of a
batch is trained on one level k given the levels below it: level 2 for a share nar.level2_share of
them (the level that codebook 1 predicts best: drawn uniformly, it learned almost nothing in the
time the others took), k drawn uniformly from 3..Q for the rest; the loss covers the frames after
the prompt. Validation scores every level.

Batches: ids, phones (B, L), phone_lengths, codes (B, Q, T), audio_lengths, prompt_lengths,
level (B,) (0-based: level k is codebook k + 1), tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tts.models.layers import IGNORE, length_mask, pad_right, token_accuracy, token_loss
from tts.models.nar import NARModel
from tts.train.ar_task import ARTask
from tts.train.batching import CodesDataset


class NARTask(ARTask):
    """Training stage "nar" (see tts/train/task.py for the protocol)."""

    name = "nar"

    def model_config(self) -> dict[str, Any]:
        return {**super().model_config(), "n_codebooks": self.n_codebooks}

    def build_modules(self) -> dict[str, nn.Module]:
        return {"model": NARModel.from_config(self.model_config())}

    def collate(self, data: CodesDataset, items: list[int], rng: np.random.Generator) -> dict[str, Any]:
        codes, phones, phone_lengths, audio_lengths, prompt_lengths = self.utterances(data, items, rng)
        levels = draw_levels(len(items), self.n_codebooks, self.recipe.nar.level2_share, rng)
        return {"ids": [data.items[i].id for i in items],
                "phones": pad_right(phones, int(phone_lengths.max())), "phone_lengths": phone_lengths,
                "codes": pad_right(codes, int(audio_lengths.max())), "audio_lengths": audio_lengths,
                "prompt_lengths": prompt_lengths, "level": levels,
                "tokens": int(phone_lengths.sum() + audio_lengths.sum())}

    def _level_logits(self, model: nn.Module, b: dict, level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, T, V) of `level` and their targets (B, T): the level's codes after the prompt."""
        logits = model(b["phones"], b["phone_lengths"], b["codes"], b["audio_lengths"], b["prompt_lengths"], level)
        T = b["codes"].size(2)
        wanted = length_mask(b["audio_lengths"], T) & ~length_mask(b["prompt_lengths"], T)  # (B, T)
        target = b["codes"].gather(1, level.view(-1, 1, 1).expand(-1, 1, T)).squeeze(1)  # (B, T)
        return logits, target.masked_fill(~wanted, IGNORE)

    def train_step(self, modules: dict[str, nn.Module], batch: dict, step: int, device: torch.device):
        b = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        logits, targets = self._level_logits(modules["model"], b, b["level"])
        loss = token_loss(logits, targets)
        yield "model", loss, {"loss": loss.item(), "accuracy": token_accuracy(logits, targets)}

    @torch.no_grad()
    def validate(self, modules: dict[str, nn.Module], batch: dict, device: torch.device) -> dict[str, float]:
        b = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
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
        codes, latents = self.fill_levels(modules["model"], item.phones, first, prompt_codes, prompt_phones, device)
        exact = (codes == data.codes(index)).float().mean(dim=1)  # (Q,) share equal to the truth
        info = {"step": step, "id": item.id, "text": item.record.get("text", ""),
                "prompt": prompt[0].items[prompt[1]].id if prompt else None, "frames": int(codes.size(1)),
                "codebook_1": "true codes", "agreement_per_level": [round(float(x), 4) for x in exact]}
        self.render(folder, codes, item, info, device, latents)


def draw_levels(n: int, n_codebooks: int, level2_share: float, rng: np.random.Generator) -> torch.Tensor:
    """The 0-based level (n,) each of n utterances trains on: level 2 (index 1) for a share of them, the others
    drawn uniformly from 3..Q."""
    upper = rng.integers(2, n_codebooks, size=n) if n_codebooks > 2 else np.ones(n, dtype=np.int64)
    return torch.from_numpy(np.where(rng.random(n) < level2_share, 1, upper))
