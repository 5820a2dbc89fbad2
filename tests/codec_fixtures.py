"""Helpers for codec tests: tiny recipes, speech-like audio, a fake prepared corpus."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tts.config import Recipe, recipe_from_dict

RATE = 16000


def tiny_recipe(output_dir: Path, **codec: Any) -> Recipe:
    """A 16 kHz recipe with a tiny trained codec: hop 64 (250 frames/s), 2 codebooks of 16."""
    train = dict(lr=3e-3, warmup_steps=0, max_steps=4, batch_size=4, segment_seconds=0.1,
                 log_every=1, validate_every=2, checkpoint_every=2, sample_every=0, keep_last=1,
                 schedule="constant")
    train.update(codec.pop("train", {}))
    settings = dict(kind="trained", strides=[4, 4, 4], channels=4, dimension=16, lstm_layers=0,
                    n_codebooks=2, codebook_size=16, train=train)
    settings.update(codec)
    return recipe_from_dict({"output_dir": str(output_dir), "device": "cpu", "seed": 7,
                             "audio": {"hop_length": 64, "n_fft": 256, "win_length": 256},
                             "vocoder": {"upsample_rates": [4, 4, 4]}, "codec": settings})


def speechlike(seconds: float, seed: int = 0, rate: int = RATE) -> np.ndarray:
    """Voiced-sounding float32 (S,): a gliding harmonic tone, syllable-like envelope, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 40 * np.sin(2 * math.pi * 0.7 * t + rng.uniform(0, 6))  # Hz
    phase = 2 * math.pi * np.cumsum(f0) / rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = 0.5 + 0.5 * np.sin(2 * math.pi * 3.0 * t + rng.uniform(0, 6)) ** 2
    wav = 0.2 * tone * envelope + 0.01 * rng.standard_normal(t.shape)
    return (wav / np.abs(wav).max() * 0.5).astype(np.float32)


class FakeCorpus:
    """What CodecTask reads from a PreparedCorpus: records(split), audio(record), folder, sample_rate."""

    def __init__(self, folder: Path, n_train: int = 6, n_validation: int = 2, seconds: float = 0.5):
        self.folder, self.sample_rate = folder, RATE
        self._audio = {}
        self._records = []
        for i in range(n_train + n_validation):
            utt = f"utt{i}"
            self._audio[utt] = speechlike(seconds * (1 + 0.25 * (i % 3)), seed=i)
            self._records.append({"id": utt, "speaker": "s", "n_samples": len(self._audio[utt]),
                                  "split": "train" if i < n_train else "validation"})

    def records(self, split: str = "all") -> list[dict]:
        return [r for r in self._records if split == "all" or r["split"] == split]

    def audio(self, record: dict) -> np.ndarray:
        return self._audio[record["id"]]


def init_codebooks(model: torch.nn.Module, seconds: float = 1.0, seed: int = 0) -> None:
    """k-means initialises the codebooks on a first batch (as training starts), without the EMA
    update that would follow in training mode: a random-weight model with usable codebooks."""
    torch.manual_seed(seed)
    batch = torch.stack([torch.from_numpy(speechlike(seconds, seed=seed + i)) for i in range(4)])[:, None]
    model.eval()
    with torch.no_grad():
        model(batch)


@pytest.fixture
def recipe(tmp_path: Path) -> Recipe:
    """A tiny codec recipe whose run folder is under tmp_path."""
    return tiny_recipe(tmp_path / "run")


@pytest.fixture
def corpus(tmp_path: Path) -> FakeCorpus:
    """An empty prepared-corpus stand-in under tmp_path."""
    return FakeCorpus(tmp_path / "prepared")
