"""Which sentences are spoken, and by whom: the held-out draw, diphone-coverage ranking, the deal to speakers.

Every choice is seeded and depends only on the sentences, the seed and (for the deal) the voices and hours,
so a rerun with the same options makes the same corpus.
"""

from __future__ import annotations

import heapq
import logging
import re

import numpy as np

from corpus.sentences import Sentence
from corpus.voices import Voice

logger = logging.getLogger(__name__)


def split_heldout(sentences: list[Sentence], n_heldout: int, seed: int,
                  min_words: int = 6, max_words: int = 14) -> tuple[list[Sentence], list[Sentence]]:
    """(held-out, training pool): a seeded draw of mid-length sentences, kept away from every training speaker.

    The draw depends on the seed and the sentences only, not on the voices or the corpus size."""
    eligible = [s for s in sentences if min_words <= s.n_words <= max_words]
    if n_heldout > len(eligible):
        raise ValueError(f"--heldout {n_heldout} is more than the {len(eligible)} sentences of "
                         f"{min_words}-{max_words} words")
    # the first n of one seeded order: a smaller held-out set (the demo's) lies inside a larger one
    order = np.random.default_rng([seed, 1]).permutation(len(eligible))
    chosen = {eligible[i].key for i in order[:n_heldout]}
    heldout = [s for s in sentences if s.key in chosen]
    return heldout, [s for s in sentences if s.key not in chosen]


def diphones(phones: tuple[str, ...]) -> set[str]:
    """Distinct phone pairs of a sentence, with sentence-edge silence as "sil"."""
    padded = ("sil", *phones, "sil")
    return {f"{a}-{b}" for a, b in zip(padded, padded[1:])}


def coverage_order(pool: list[Sentence]) -> list[Sentence]:
    """Sentences ranked greedily by diphone coverage: gain = sum over its diphones of 1/(1 + times covered).

    The gain is per phone, i.e. per second of audio, the budget being filled. Gains only fall as
    sentences are picked, so a lazy heap re-scores just the top (ties break on the key).
    """
    covered: dict[str, int] = {}
    sets = [diphones(s.phones) for s in pool]

    def gain(i: int) -> float:
        return sum(1.0 / (1 + covered.get(d, 0)) for d in sets[i]) / max(len(pool[i].phones), 1)

    heap = [(-gain(i), pool[i].key, i) for i in range(len(pool))]
    heapq.heapify(heap)
    order = []
    while heap:
        _, key, i = heapq.heappop(heap)
        fresh = -gain(i)
        if heap and fresh > heap[0][0] + 1e-12:  # it fell below the next one: push it back
            heapq.heappush(heap, (fresh, key, i))
            continue
        order.append(pool[i])
        for d in sets[i]:
            covered[d] = covered.get(d, 0) + 1
    return order


def estimated_seconds(sentence: Sentence, voice: Voice) -> float:
    """Planned length of a sentence spoken by a voice (pauses at punctuation included roughly)."""
    pauses = len(re.findall(r"[,;:.!?]", sentence.normalized))
    return 0.25 + len(sentence.phones) / voice.phones_per_second + 0.15 * pauses


def assign_sentences(ranked: list[Sentence], voices: list[Voice], hours: float,
                     seed: int) -> dict[str, list[Sentence]]:
    """Deal coverage-ranked sentences to speakers, one per speaker a round in seeded order, until each
    has hours / speakers of (estimated) audio. Each sentence goes to one speaker while sentences last;
    after that a speaker also says sentences that others said (never one twice)."""
    budget = hours * 3600 / len(voices)
    assigned: dict[str, list[Sentence]] = {v.speaker: [] for v in voices}
    spent = dict.fromkeys(assigned, 0.0)

    def give(sentence: Sentence, voice: Voice) -> None:
        assigned[voice.speaker].append(sentence)
        spent[voice.speaker] += estimated_seconds(sentence, voice)

    rng = np.random.default_rng([seed, 2])
    start = 0
    while start < len(ranked):
        hungry = [v for v in voices if spent[v.speaker] < budget]
        if not hungry:
            return assigned
        for sentence, j in zip(ranked[start:start + len(hungry)], rng.permutation(len(hungry))):
            give(sentence, hungry[j])
        start += len(hungry)
    # sentences ran out: each speaker goes on with ones others said, from its own place in the ranking
    for k, voice in enumerate(voices):
        said = {s.key for s in assigned[voice.speaker]}
        offset = k * len(ranked) // len(voices)
        for sentence in ranked[offset:] + ranked[:offset]:
            if spent[voice.speaker] >= budget:
                break
            if sentence.key not in said:
                give(sentence, voice)
    short = [s for s, t in spent.items() if t < budget]
    if short:
        logger.warning("too few sentences for %.1f hours: speakers %s get less", hours, ", ".join(short))
    return assigned
