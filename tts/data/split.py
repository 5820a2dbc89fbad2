"""Deterministic, speaker-aware train/validation split that stays put when utterances are added.

Each utterance gets a score in [0, 1) from a hash of (seed, id). Within a speaker with at least
two utterances, those scoring below `fraction` go to validation; if that gives fewer than
`minimum`, the lowest-scoring ones are added until it does; at least one utterance always stays
in training. Because an utterance's score depends only on its id and the seed, adding utterances
never moves an existing one, except in a speaker small enough that `minimum` decides its
validation set. Speakers with a single utterance are all training.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Iterable


def split_score(utt_id: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) for an utterance id."""
    digest = hashlib.blake2b(f"{seed}\0{utt_id}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def assign_split(items: Iterable[tuple[str, str]], seed: int, fraction: float,
                 minimum: int) -> dict[str, str]:
    """Map each (id, speaker) to "train" or "validation"."""
    by_speaker: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for utt_id, speaker in items:
        by_speaker[speaker].append((split_score(utt_id, seed), utt_id))
    result: dict[str, str] = {}
    for scored in by_speaker.values():
        scored.sort()
        chosen = sum(1 for score, _ in scored if score < fraction)
        if len(scored) >= 2:
            chosen = min(max(chosen, minimum), len(scored) - 1)
        else:
            chosen = 0
        for rank, (_, utt_id) in enumerate(scored):
            result[utt_id] = "validation" if rank < chosen else "train"
    return result
