"""Token-based batches over a prepared corpus: a dataset of (phones, codes) and a length-bucketing sampler.

Batches are filled up to `batch_tokens` counting padding (batch size x longest item), from items
sorted by a slightly jittered length so that neighbours are alike in length (little padding) yet
batches differ between epochs; the batch order is shuffled. Everything is a function of
(seed, epoch), so an epoch can be rebuilt exactly after a restart and batch i fetched directly.

Shapes: L phones, Q codebooks, T frames.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Utterance:
    id: str
    speaker: str
    phones: torch.Tensor  # (L,) long phone ids
    n_frames: int
    record: dict  # the manifest record (to load codes and audio from the corpus)


class CodesDataset:
    """Utterances of one split with phone ids and codec codes (codes loaded on demand, then kept)."""

    def __init__(self, corpus: Any, split: str, encode: Callable[[list[str]], list[int]],
                 max_tokens: int, codebook_size: int):
        self.corpus, self.codebook_size = corpus, codebook_size
        self.items: list[Utterance] = []
        too_long = 0
        for record in corpus.records(split):
            n_frames = int(record.get("n_frames") or 0)
            if n_frames == 0:
                continue
            if len(record["phones"]) + n_frames + 1 > max_tokens:
                too_long += 1
                continue
            phones = torch.tensor(encode(record["phones"]), dtype=torch.long)
            self.items.append(Utterance(record["id"], record["speaker"], phones, n_frames, record))
        if too_long:
            log.warning("%s: %d utterances longer than max_positions = %d tokens (phones + frames) are "
                        "left out; raise max_positions or lower data.max_duration", split, too_long, max_tokens)
        self._codes: dict[int, torch.Tensor] = {}
        self.by_speaker: dict[str, list[int]] = defaultdict(list)
        for index, item in enumerate(self.items):
            self.by_speaker[item.speaker].append(index)

    def __len__(self) -> int:
        return len(self.items)

    def lengths(self) -> list[int]:
        """Tokens of each utterance: phones + frames + 1 (BOS or EOS)."""
        return [len(u.phones) + u.n_frames + 1 for u in self.items]

    def codes(self, index: int) -> torch.Tensor:
        """Codes (Q, T) long of utterance `index`."""
        if index not in self._codes:
            codes = torch.from_numpy(np.asarray(self.corpus.codes(self.items[index].record), dtype=np.int64))
            if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
                raise ValueError(f"utterance {self.items[index].id} has codes outside [0, {self.codebook_size}); "
                                 "the prepared corpus and the recipe's codec disagree: run `tts prepare` again")
            self._codes[index] = codes
        return self._codes[index]


def bucket_batches(lengths: Sequence[int], batch_tokens: int, rng: np.random.Generator,
                   jitter: float = 0.1) -> list[list[int]]:
    """Indices grouped into batches with len(batch) x max length <= batch_tokens, in random order.

    An item longer than batch_tokens gets a batch of its own.
    """
    lengths = np.asarray(lengths, dtype=np.float64)
    keys = lengths * (1 + jitter * rng.random(len(lengths)))
    order = np.argsort(keys, kind="stable")
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        length = int(lengths[index])
        if current and (len(current) + 1) * max(longest, length) > batch_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(int(index))
        longest = max(longest, length)
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


def short_first(lengths: Sequence[int], epoch: int, epochs: int) -> np.ndarray:
    """Indices a curriculum epoch trains on: for epoch e < `epochs`, the utterances no longer than the
    (e + 1) / (epochs + 1) quantile of `lengths` (short sentences first); afterwards all of them."""
    lengths = np.asarray(lengths)
    if epoch >= epochs or len(lengths) == 0:
        return np.arange(len(lengths))
    limit = np.quantile(lengths, (epoch + 1) / (epochs + 1), method="higher")
    return np.flatnonzero(lengths <= limit)


def shard_batches(batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """Process `rank`'s share; every process gets the same number (the remainder is dropped)."""
    if world_size == 1:
        return batches
    usable = len(batches) // world_size * world_size
    if usable == 0:
        raise ValueError(f"{len(batches)} batches cannot feed {world_size} processes; "
                         "lower train.batch_tokens or use fewer processes")
    return batches[rank:usable:world_size]


class BatchList(Sequence):
    """Batches built on access: batch i = collate(i, indices[i]) (so skipping to i costs nothing)."""

    def __init__(self, indices: list[list[int]], collate: Callable[[int, list[int]], Any]):
        self.indices, self.collate = indices, collate

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:  # type: ignore[override]
        if not 0 <= i < len(self.indices):
            raise IndexError(i)
        return self.collate(i, self.indices[i])


def batch_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random generator of one batch (prompt lengths, levels): a function of its position only."""
    return np.random.default_rng([seed, epoch + 1, index])


# --------------------------------------------------------------------------- random crops
# The codec, mel-codec and vocoder stages train on fixed-length crops, one per utterance.

Collate = Callable[[list[dict], list[int], Any], Any]  # (records, crop starts, crop length) -> batch


def random_crops(records: Sequence[dict], lengths: Sequence[int], crop: int, batch_size: int, seed: int,
                 epoch: int, rank: int, world_size: int) -> tuple[list[list[dict]], list[list[int]]]:
    """One epoch's crops: (records per batch, crop start per record) for this rank.

    Deterministic per (seed, epoch); every rank gets the same number of batches (the shuffled
    order wraps around to fill them). `lengths` are the records' lengths and `crop` the crop
    length, in one unit (samples, mel frames or codec frames); a record shorter than a crop
    starts at 0.
    """
    rng = np.random.default_rng([seed, epoch])
    n_batches = max(1, len(records) // (batch_size * world_size))
    order = np.resize(rng.permutation(len(records)), n_batches * world_size * batch_size)
    fractions = rng.random(order.shape[0])  # crop positions, drawn alike on every rank
    mine = order.reshape(n_batches, world_size, batch_size)[:, rank]  # (batches, B)
    where = fractions.reshape(n_batches, world_size, batch_size)[:, rank]
    chosen = [[records[i] for i in row] for row in mine]
    starts = [[int(f * max(0, int(lengths[i]) - crop + 1)) for f, i in zip(fs, row)]
              for fs, row in zip(where, mine)]
    return chosen, starts


class CropBatches(Sequence):
    """One epoch's crop batches as a sequence: batch i is read (`collate(records, starts, length)`)
    only when asked for, so resuming mid-epoch skips the batches before it for free. Picklable
    when `collate` is (loader workers get a copy)."""

    def __init__(self, collate: Collate, records: list[list[dict]], starts: list[list[int]], length: Any):
        self.collate, self.records, self.starts, self.length = collate, records, starts, length

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.collate(self.records[index], self.starts[index], self.length)


def round_up(length: float, unit: int) -> int:
    """`length` rounded up to a whole number of `unit`s (both in one unit: samples or frames)."""
    return math.ceil(length / unit) * unit


def training_crop_batches(collate: Collate, corpus: Any, length_key: str, crop: int, batch_size: int, seed: int,
                          epoch: int, rank: int, world_size: int) -> CropBatches:
    """One epoch's random crops of the corpus's training utterances for this rank (see random_crops),
    read by `collate`; `length_key` is the record field that counts an utterance in the crop's unit."""
    records = corpus.records("train")
    if not records:
        raise ValueError(f"{corpus.folder} has no training utterances")
    chosen, starts = random_crops(records, [r[length_key] for r in records], crop, batch_size, seed, epoch, rank,
                                  world_size)
    return CropBatches(collate, chosen, starts, crop)


def validation_records(corpus: Any, count: int, stage_log: logging.Logger) -> list[dict]:
    """The corpus's first `count` validation utterances, or its first training ones when it holds none."""
    records = corpus.records("validation")
    if not records:
        # said on the stage's logger, so that the log line names the stage
        stage_log.warning("no validation utterances in %s; validating on training utterances", corpus.folder)
        records = corpus.records("train")
    return records[:count]


def batches_from_start(collate: Collate, records: list[dict], batch_size: int, length: Any) -> list:
    """`records` in batches of `batch_size`, each utterance read by `collate` for `length` from its start."""
    batches = [records[i:i + batch_size] for i in range(0, len(records), batch_size)]
    return [collate(batch, [0] * len(batch), length) for batch in batches]
