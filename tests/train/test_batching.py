"""Length-bucketing batches: the token budget, coverage, determinism, sharding."""

import numpy as np
import pytest

from tts.train.batching import BatchList, batch_rng, bucket_batches, shard_batches, short_first


def test_batches_respect_the_token_budget_and_cover_every_item_once():
    lengths = np.random.default_rng(0).integers(10, 200, 300).tolist() + [900]  # one over budget
    batches = bucket_batches(lengths, 600, np.random.default_rng(1))
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 600 or len(batch) == 1
    padding = sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batches)
    assert padding < 0.2 * sum(lengths)  # bucketing keeps padding small


def test_batches_are_a_function_of_the_seed():
    lengths = list(range(1, 100))
    a = bucket_batches(lengths, 300, np.random.default_rng([5, 1]))
    b = bucket_batches(lengths, 300, np.random.default_rng([5, 1]))
    c = bucket_batches(lengths, 300, np.random.default_rng([5, 2]))
    assert a == b and a != c
    assert batch_rng(5, 1, 3).integers(1000) == batch_rng(5, 1, 3).integers(1000)


def test_shards_are_disjoint_and_equal_in_number():
    batches = [[i] for i in range(7)]
    shards = [shard_batches(batches, r, 3) for r in range(3)]
    assert [len(s) for s in shards] == [2, 2, 2]
    assert sorted(i for s in shards for b in s for i in b) == list(range(6))
    with pytest.raises(ValueError, match="cannot feed"):
        shard_batches([[0]], 0, 2)


def test_batch_list_builds_on_access():
    built = []
    batches = BatchList([[0, 1], [2]], lambda i, items: built.append(i) or items)
    assert len(batches) == 2 and built == []
    assert batches[1] == [2] and built == [1]
    with pytest.raises(IndexError):
        batches[2]


def test_short_first_widens_to_every_item_after_its_epochs():
    lengths = [50, 10, 40, 20, 30, 60, 10]
    kept = [sorted(short_first(lengths, epoch, 2).tolist()) for epoch in range(4)]
    assert kept[0] == [1, 3, 6]  # up to the 1/3 quantile (20)
    assert kept[1] == [1, 2, 3, 4, 6]  # up to the 2/3 quantile (40)
    assert kept[2] == kept[3] == list(range(7))
    assert short_first(lengths, 0, 0).tolist() == list(range(7))  # off
