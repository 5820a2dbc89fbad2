"""AR model: masks, decoding controls, attention weights, checkpoints (the pointer: test_ar_pointer.py)."""


import pytest
import torch
from ar_fixtures import V

from tts.config import SynthesisConfig
from tts.models.ar import ARModel, prefix_lm_mask, sample_next
from tts.models.layers import KVCache, TransformerShape


def tiny_ar(seed: int = 0, dropout: float = 0.0) -> ARModel:
    torch.manual_seed(seed)
    return ARModel(n_symbols=20, codebook_size=V, shape=TransformerShape(32, 2, 4, dropout, 256)).eval()


def spread(L: int, T: int, batch: int = 1) -> torch.Tensor:
    """(batch, T) frame_index: T audio positions spread evenly over L phones."""
    return (torch.arange(T) * L // T).expand(batch, -1)


def test_synthesis_config_checks_the_floor_against_the_limit():
    import pytest

    from tts.config import ConfigError, recipe_from_dict

    assert recipe_from_dict({"synthesis": {"min_frames_per_phone": 1.0}}).synthesis.min_frames_per_phone == 1.0
    with pytest.raises(ConfigError, match="min_frames_per_phone"):
        recipe_from_dict({"synthesis": {"min_frames_per_phone": 20.0, "max_frames_per_phone": 10.0}})


def test_repetition_guard_limits_repeats():
    history = torch.tensor([[5, 5, 1, 5]])
    logits = torch.zeros(1, V + 1)
    logits[0, 5] = 10.0  # greedy would pick 5 again
    guarded = SynthesisConfig(temperature=0, repetition_window=4, repetition_max=3)
    assert int(sample_next(logits, guarded, torch.Generator(), history, eos=V)) != 5
    loose = SynthesisConfig(temperature=0, repetition_window=4, repetition_max=4)
    assert int(sample_next(logits, loose, torch.Generator(), history, eos=V)) == 5
    logits[0, V] = 20.0
    assert int(sample_next(logits, loose, torch.Generator(), history, eos=V)) == 5  # never EOS: the pointer ends


def test_top_k_and_top_p_restrict_choices():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05, 0.5]]))  # the last column: EOS
    g = torch.Generator().manual_seed(0)
    top1 = SynthesisConfig(temperature=1.0, top_k=1)
    assert all(int(sample_next(logits, top1, g, torch.zeros(1, 0, dtype=torch.long), 4)) == 0 for _ in range(20))
    nucleus = SynthesisConfig(temperature=1.0, top_p=0.7)
    seen = {int(sample_next(logits, nucleus, g, torch.zeros(1, 0, dtype=torch.long), 4)) for _ in range(200)}
    assert seen == {0, 1}


def test_prefix_lm_mask_phones_both_ways_audio_causal():
    mask = prefix_lm_mask(torch.tensor([[True, True, False]]), torch.tensor([[True, True, True]]))[0, 0]
    assert mask[0, 1] and mask[1, 0]  # phones see each other
    assert not mask[0, 2]  # padding is never seen
    assert not mask[0, 3] and not mask[3, 4] and mask[4, 3]  # audio causal, phones do not see audio
    assert mask[5, 0] and mask[5, 5]


def test_future_audio_does_not_change_past_logits():
    model = tiny_ar()
    phones = torch.randint(1, 20, (1, 5))
    audio = torch.randint(0, V, (1, 8))
    lengths = (torch.tensor([5]), torch.tensor([8]))
    before, _ = model(phones, lengths[0], audio, lengths[1], spread(5, 8))
    audio[0, 6] = (audio[0, 6] + 1) % V
    after, _ = model(phones, lengths[0], audio, lengths[1], spread(5, 8))
    torch.testing.assert_close(before[:, :6], after[:, :6])
    assert not torch.allclose(before[:, 6:], after[:, 6:])


def test_attention_weights_for_the_plot_match_fused_attention():
    model = tiny_ar()
    phones, audio = torch.randint(1, 20, (2, 5)), torch.randint(0, V, (2, 7))
    lengths = torch.tensor([5, 3]), torch.tensor([7, 4])
    plain, _ = model(phones, *lengths[:1], audio, lengths[1], spread(3, 7, 2))
    with_weights, weights = model(phones, lengths[0], audio, lengths[1], spread(3, 7, 2), weights_layer=1)
    torch.testing.assert_close(plain, with_weights, atol=1e-5, rtol=1e-5)
    assert weights.shape == (2, 4, 12, 12)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 12))


def test_checkpoint_round_trip():
    model = tiny_ar()
    checkpoint = {"stage": "ar", "model_config": model.config(), "modules": {"model": model.state_dict()}}
    again = ARModel.from_checkpoint(checkpoint)
    phones, audio = torch.randint(1, 20, (1, 5)), torch.randint(0, V, (1, 7))
    lengths = torch.tensor([5]), torch.tensor([7])
    torch.testing.assert_close(model(phones, lengths[0], audio, lengths[1], spread(5, 7))[0],
                               again(phones, lengths[0], audio, lengths[1], spread(5, 7))[0])
    with pytest.raises(ValueError):
        ARModel.from_checkpoint({"stage": "codec", "modules": {}})
    without = {k: v for k, v in model.config().items() if k != "alignment"}  # an AR from before the pointer
    with pytest.raises(ValueError, match="without the phone pointer.*stage ar again"):
        ARModel.from_config(without)


def test_kv_cache_grows_and_keeps_what_it_holds():
    cache = KVCache(layers=1, batch=1, heads=2, head_dim=3, capacity=2, device="cpu")
    first = torch.randn(1, 2, 2, 3)
    cache.append(0, first, first)
    cache.advance(2)
    more = torch.randn(1, 2, 3, 3)
    keys, values = cache.append(0, more, more)
    cache.advance(3)
    assert keys.shape == (1, 2, 5, 3) and cache.length == 5
    assert torch.equal(keys, torch.cat([first, more], dim=2)) and torch.equal(values, keys)


def test_sentence_without_phones_is_an_error():
    with pytest.raises(ValueError, match="at least one phone"):
        tiny_ar().generate([torch.tensor([1, 2]), torch.tensor([], dtype=torch.long)])


def test_attention_dropout_is_its_own_key_and_old_configs_keep_the_residual_rate():
    model = ARModel(n_symbols=20, codebook_size=V, shape=TransformerShape(32, 2, 4, 0.3, 256, 0.0))
    assert all(block.attention.dropout == 0.0 and block.dropout.p == 0.3 for block in model.transformer.blocks)
    again = ARModel.from_config(model.config())
    assert again.config()["attention_dropout"] == 0.0
    old = {k: v for k, v in model.config().items() if k != "attention_dropout"}  # a checkpoint from before the key
    assert all(block.attention.dropout == 0.3 for block in ARModel.from_config(old).transformer.blocks)
