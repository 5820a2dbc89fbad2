"""How predictable each codebook level of a run's codes is from the levels below it.

The NAR predicts level k from levels 1..k-1 (and the phones and a prompt); what those levels leave
unknown it cannot learn. For each level this scores held-out cross-entropy in nats (uniform is ln V):

- `unigram`: an add-0.5 count model of the level alone;
- `given_below`: an add-0.5 count model given the level below at the same frame (levels >= 2);
- `probe`: a small network given every level below at the frame and `context` frames on each side
  (levels >= 2), trained on the training split; `probe_accuracy` is its share of exact codes.

Count models are fitted on the training split and scored on the validation split, so a model that
memorises its contexts scores worse, not better. Shapes: Q codebooks, V entries, N frames.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeSettings:
    """The probe network and its training: small enough for a CPU in about a minute per level."""

    context: int = 2          # frames on each side of the predicted one
    width: int = 128          # embedding width per frame
    hidden: int = 512         # hidden units of the MLP
    steps: int = 600          # Adam steps
    batch: int = 2048         # frames per step
    lr: float = 2e-3
    seed: int = 0


def count_cross_entropy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                        n_contexts: int, vocab: int, alpha: float = 0.5) -> float:
    """Held-out cross-entropy (nats) of p(y | x) = (n(x, y) + alpha) / (n(x) + alpha V), x in [0, n_contexts)."""
    joint = np.bincount(train_x * vocab + train_y, minlength=n_contexts * vocab).reshape(n_contexts, vocab)
    context_counts = joint.sum(axis=1)
    p = (joint[test_x, test_y] + alpha) / (context_counts[test_x] + alpha * vocab)
    return float(-np.log(p).mean())


class FramedCodes:
    """Utterances' codes (Q, T_u) laid end to end with `pad` columns of the code V between them, so that
    a window around any frame stays inside its utterance (pads read as "no frame")."""

    def __init__(self, utterances: Sequence[np.ndarray], vocab: int, pad: int):
        q = utterances[0].shape[0]
        pieces, frames, start = [], [], pad
        for codes in utterances:
            pieces.append(np.full((q, pad), vocab, dtype=np.int64))
            pieces.append(codes.astype(np.int64))
            frames.append(np.arange(start, start + codes.shape[1]))
            start += codes.shape[1] + pad
        pieces.append(np.full((q, pad), vocab, dtype=np.int64))
        self.codes = np.concatenate(pieces, axis=1)  # (Q, N + pads)
        self.frames = np.concatenate(frames)  # positions of real frames
        self.vocab = vocab

    def level(self, k: int) -> np.ndarray:
        """Level k (0-based) of every real frame: (N,)."""
        return self.codes[k, self.frames]


class LevelProbe(nn.Module):
    """Logits over level k's V codes from levels 0..k-1 at frames t - c .. t + c."""

    def __init__(self, levels: int, vocab: int, settings: ProbeSettings):
        super().__init__()
        self.levels, self.vocab = levels, vocab
        window = 2 * settings.context + 1
        self.embedding = nn.Embedding(levels * (vocab + 1), settings.width)  # + 1: the pad
        self.mlp = nn.Sequential(nn.Linear(window * settings.width, settings.hidden), nn.GELU(),
                                 nn.Linear(settings.hidden, settings.hidden), nn.GELU(),
                                 nn.Linear(settings.hidden, vocab))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """windows (B, levels, W) codes -> logits (B, V)."""
        offsets = (torch.arange(self.levels) * (self.vocab + 1)).view(1, -1, 1)
        embedded = self.embedding(windows + offsets).sum(dim=1)  # (B, W, width)
        return self.mlp(embedded.flatten(1))


def _windows(data: FramedCodes, k: int, positions: np.ndarray, context: int) -> torch.Tensor:
    """Levels 0..k-1 around each position: (B, k, 2 context + 1)."""
    offsets = np.arange(-context, context + 1)
    return torch.from_numpy(data.codes[:k][:, positions[:, None] + offsets]).permute(1, 0, 2).contiguous()


def probe_level(train: FramedCodes, test: FramedCodes, k: int, settings: ProbeSettings) -> tuple[float, float]:
    """Train a probe for level k (0-based, k >= 1) from the levels below; held-out (cross-entropy, accuracy)."""
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model = LevelProbe(k, train.vocab, settings)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
    targets = torch.from_numpy(train.codes[k])
    for step in range(settings.steps):
        for group in optimiser.param_groups:  # cosine decay
            group["lr"] = settings.lr * 0.5 * (1 + math.cos(math.pi * step / settings.steps))
        positions = rng.choice(train.frames, size=min(settings.batch, len(train.frames)), replace=False)
        loss = nn.functional.cross_entropy(model(_windows(train, k, positions, settings.context)),
                                           targets[positions])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    losses, correct = [], 0
    with torch.no_grad():
        for start in range(0, len(test.frames), 8192):
            positions = test.frames[start:start + 8192]
            logits = model(_windows(test, k, positions, settings.context))
            truth = torch.from_numpy(test.codes[k, positions])
            losses.append(nn.functional.cross_entropy(logits, truth, reduction="sum").item())
            correct += int((logits.argmax(dim=-1) == truth).sum())
    return sum(losses) / len(test.frames), correct / len(test.frames)


def level_predictability(train: Sequence[np.ndarray], test: Sequence[np.ndarray], vocab: int,
                         settings: ProbeSettings | None = None, probe: bool = True) -> list[dict[str, Any]]:
    """Per level (1-based in the output): unigram, given_below, probe and probe_accuracy, in nats."""
    settings = settings or ProbeSettings()
    if not train or not test:
        raise ValueError("both the training and the held-out utterances must hold codes")
    train_data = FramedCodes(train, vocab, settings.context)
    test_data = FramedCodes(test, vocab, settings.context)
    empty = np.zeros(len(train_data.frames), dtype=np.int64)
    empty_test = np.zeros(len(test_data.frames), dtype=np.int64)
    rows = []
    for k in range(train_data.codes.shape[0]):
        y, y_test = train_data.level(k), test_data.level(k)
        row: dict[str, Any] = {"level": k + 1, "uniform": math.log(vocab),
                               "unigram": count_cross_entropy(empty, y, empty_test, y_test, 1, vocab)}
        if k >= 1:
            row["given_below"] = count_cross_entropy(train_data.level(k - 1), y, test_data.level(k - 1), y_test,
                                                     vocab, vocab)
            if probe:
                row["probe"], row["probe_accuracy"] = probe_level(train_data, test_data, k, settings)
        log.info("level %d: %s", k + 1, {key: round(v, 3) for key, v in row.items() if key != "level"})
        rows.append(row)
    return rows


def run_predictability(run: str | Path, limit: int = 0, settings: ProbeSettings | None = None,
                       probe: bool = True) -> dict[str, Any]:
    """The levels of a run's prepared codes (training split fits, validation split scores)."""
    from tts.data.corpus import PreparedCorpus

    run = Path(run)
    corpus = PreparedCorpus(run / "prepared" if (run / "prepared").is_dir() else run)
    if not corpus.has_codes:
        raise ValueError(f"{run} holds no codes: train its codec and run `tts prepare` again to add them")
    train_records, test_records = corpus.records("train"), corpus.records("validation")
    if limit and limit < len(train_records):  # a random share: the manifest is in speaker order
        chosen = np.random.default_rng(0).choice(len(train_records), size=limit, replace=False)
        train_records = [train_records[i] for i in sorted(chosen)]
    train = [corpus.codes(r) for r in train_records]
    test = [corpus.codes(r) for r in test_records]
    vocab = int(corpus.settings["codec"]["codebook_size"]) if corpus.settings.get("codec") else \
        int(max(c.max() for c in train + test)) + 1
    levels = level_predictability(train, test, vocab, settings, probe=probe)
    return {"run": str(run), "codebook_size": vocab, "train_frames": int(sum(c.shape[1] for c in train)),
            "heldout_frames": int(sum(c.shape[1] for c in test)), "levels": levels}
