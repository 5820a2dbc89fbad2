"""scripts/corpus/selection.py: the held-out draw, coverage ranking and the deal to speakers (no engines)."""

import random

import pytest

from corpus.selection import assign_sentences, coverage_order, diphones, estimated_seconds, split_heldout
from corpus.sentences import Sentence
from corpus.voices import VOICES


def _pool(n=400, seed=0):
    """Random sentences over a made-up phone set (no lexicon needed)."""
    rng = random.Random(seed)
    phones = [f"P{i}" for i in range(30)]
    weights = [1.0 / (i + 1) for i in range(30)]  # Zipf-like: some phones rare
    pool = []
    for i in range(n):
        words = rng.randint(5, 20)
        text = " ".join("w" for _ in range(words)) + "."
        seq = tuple(rng.choices(phones, weights, k=words * 3))
        pool.append(Sentence(f"1_{i:06d}_000000", 1, text, text, seq))
    return pool


def test_split_heldout_is_seeded_and_disjoint():
    pool = _pool()
    held_a, train_a = split_heldout(pool, 20, seed=0)
    held_b, _ = split_heldout(pool, 20, seed=0)
    held_c, _ = split_heldout(pool, 20, seed=1)
    assert [s.key for s in held_a] == [s.key for s in held_b]
    assert {s.key for s in held_a} != {s.key for s in held_c}
    assert len(held_a) == 20 and len(train_a) == len(pool) - 20
    assert not {s.key for s in held_a} & {s.key for s in train_a}
    assert all(6 <= s.n_words <= 14 for s in held_a)
    held_small, _ = split_heldout(pool, 5, seed=0)
    assert {s.key for s in held_small} < {s.key for s in held_a}  # the demo's held-out set lies inside
    with pytest.raises(ValueError, match="heldout"):
        split_heldout(pool, len(pool), seed=0)


def test_coverage_order_covers_faster_than_chance_and_ignores_input_order():
    pool = _pool()
    order = coverage_order(pool)
    assert sorted(s.key for s in order) == sorted(s.key for s in pool)
    shuffled = pool[:]
    random.Random(3).shuffle(shuffled)
    assert [s.key for s in coverage_order(shuffled)] == [s.key for s in order]

    def covered_per_phone(sentences, k=40):
        chosen = sentences[:k]
        return len(set().union(*(diphones(s.phones) for s in chosen))) / sum(len(s.phones) for s in chosen)

    assert covered_per_phone(order) > 1.5 * covered_per_phone(pool)


def test_assign_sentences_shares_budget_and_never_repeats():
    pool = _pool()
    voices = [v for v in VOICES if v.speaker in ("101", "102", "301")]
    assigned = assign_sentences(coverage_order(pool), voices, hours=0.05, seed=0)
    again = assign_sentences(coverage_order(pool), voices, hours=0.05, seed=0)
    assert {k: [s.key for s in v] for k, v in assigned.items()} == {k: [s.key for s in v] for k, v in again.items()}
    keys = [s.key for sentences in assigned.values() for s in sentences]
    assert len(keys) == len(set(keys))  # enough sentences: each said by one speaker only
    for voice in voices:
        planned = sum(estimated_seconds(s, voice) for s in assigned[voice.speaker])
        assert 0.05 * 3600 / 3 <= planned <= 0.05 * 3600 / 3 + 10
    # a budget larger than the pool: sentences are dealt again, never twice to one speaker
    big = assign_sentences(pool[:30], voices, hours=1.0, seed=0)
    for sentences in big.values():
        assert len({s.key for s in sentences}) == len(sentences) == 30
