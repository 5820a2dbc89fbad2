"""The train/validation split: deterministic, speaker-aware, stable when utterances are added."""

from __future__ import annotations

from collections import Counter

from tts.data.split import assign_split, split_score


def corpus(speakers: int, per_speaker: int, start: int = 0) -> list[tuple[str, str]]:
    return [(f"s{s}_{u:04d}", f"s{s}") for s in range(speakers) for u in range(start, start + per_speaker)]


def test_deterministic_and_seed_dependent():
    items = corpus(4, 50)
    a = assign_split(items, seed=1, fraction=0.1, minimum=1)
    assert a == assign_split(list(reversed(items)), seed=1, fraction=0.1, minimum=1)
    assert a != assign_split(items, seed=2, fraction=0.1, minimum=1)


def test_every_speaker_gets_validation_and_keeps_training():
    items = corpus(5, 3) + [("solo", "lonely")] + [("p1", "pair"), ("p2", "pair")]
    split = assign_split(items, seed=0, fraction=0.05, minimum=1)
    per = Counter((spk, split[i]) for i, spk in items)
    for spk in [f"s{s}" for s in range(5)] + ["pair"]:
        assert per[(spk, "validation")] >= 1 and per[(spk, "train")] >= 1
    assert split["solo"] == "train"


def test_fraction_is_respected_on_large_speakers():
    items = corpus(3, 2000)
    split = assign_split(items, seed=0, fraction=0.1, minimum=1)
    share = sum(v == "validation" for v in split.values()) / len(items)
    assert 0.08 < share < 0.12


def test_minimum_applies():
    split = assign_split(corpus(1, 10), seed=0, fraction=0.0, minimum=3)
    assert sum(v == "validation" for v in split.values()) == 3


def test_adding_utterances_moves_none():
    old = corpus(3, 200)
    before = assign_split(old, seed=7, fraction=0.1, minimum=1)
    after = assign_split(old + corpus(3, 100, start=200), seed=7,
                         fraction=0.1, minimum=1)
    assert all(after[i] == before[i] for i, _ in old)


def test_scores_are_uniformish():
    scores = [split_score(f"u{i}", 3) for i in range(4000)]
    assert all(0 <= s < 1 for s in scores)
    assert abs(sum(scores) / len(scores) - 0.5) < 0.03
