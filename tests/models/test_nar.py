"""NAR model: what each level may see, level conditioning, filling levels with expected latents, one-batch overfit."""

import pytest
import torch

from tts.models.layers import IGNORE, TransformerShape, token_loss
from tts.models.nar import NARModel

V, Q = 16, 4


def tiny_nar(seed: int = 0) -> NARModel:
    torch.manual_seed(seed)
    return NARModel(n_symbols=20, codebook_size=V, n_codebooks=Q, shape=TransformerShape(32, 2, 4, 0.0, 256)).eval()


def inputs(batch: int = 2, L: int = 5, T: int = 9):
    g = torch.Generator().manual_seed(3)
    phones = torch.randint(1, 20, (batch, L), generator=g)
    codes = torch.randint(0, V, (batch, Q, T), generator=g)
    return phones, torch.full((batch,), L), codes, torch.full((batch,), T), torch.full((batch,), 3)


def test_target_levels_at_or_above_k_are_hidden():
    model = tiny_nar()
    phones, phone_lengths, codes, audio_lengths, prompt_lengths = inputs()
    level = torch.tensor([2, 2])
    before = model(phones, phone_lengths, codes, audio_lengths, prompt_lengths, level)
    changed = codes.clone()
    changed[:, 2:, 3:] = (changed[:, 2:, 3:] + 1) % V  # levels >= k of the target
    torch.testing.assert_close(before, model(phones, phone_lengths, changed, audio_lengths, prompt_lengths, level))
    changed = codes.clone()
    changed[:, 1, 3:] = (changed[:, 1, 3:] + 1) % V  # a level below k: seen
    assert not torch.allclose(before, model(phones, phone_lengths, changed, audio_lengths, prompt_lengths, level))
    changed = codes.clone()
    changed[:, 3, :3] = (changed[:, 3, :3] + 1) % V  # the prompt shows every level
    assert not torch.allclose(before, model(phones, phone_lengths, changed, audio_lengths, prompt_lengths, level))


def test_attention_is_bidirectional_and_level_conditions():
    model = tiny_nar()
    with torch.no_grad():  # adaptive norms start neutral; give the level embedding a say
        for module in model.modules():
            if hasattr(module, "modulation"):
                module.modulation.weight.normal_(0, 0.05)
    phones, phone_lengths, codes, audio_lengths, prompt_lengths = inputs()
    level = torch.tensor([1, 1])
    before = model(phones, phone_lengths, codes, audio_lengths, prompt_lengths, level)
    changed = codes.clone()
    changed[:, 0, 8] = (changed[:, 0, 8] + 1) % V  # the last frame's codebook 1
    after = model(phones, phone_lengths, changed, audio_lengths, prompt_lengths, level)
    assert not torch.allclose(before[:, :8], after[:, :8])  # earlier frames see a later one
    codes_same_view = codes.clone()
    codes_same_view[:, 1:, 3:] = 0  # levels 1.. hidden anyway for level 1
    a = model(phones, phone_lengths, codes_same_view, audio_lengths, prompt_lengths, torch.tensor([1, 1]))
    b = model(phones, phone_lengths, codes_same_view, audio_lengths, prompt_lengths, torch.tensor([3, 3]))
    assert not torch.allclose(a, b)  # level enters the network (heads and adaptive norms)


def two_sentences():
    """Phones (5 and 3), codebook 1 (7 and 4 frames) and prompts (6 and 2 frames, 2 and 4 phones)
    of two sentences, drawn from the global generator (call right after tiny_nar)."""
    first = [torch.randint(0, V, (7,)), torch.randint(0, V, (4,))]
    phones = [torch.randint(1, 20, (5,)), torch.randint(1, 20, (3,))]
    prompt = [torch.randint(0, V, (Q, 6)), torch.randint(0, V, (Q, 2))]
    prompt_phones = [torch.randint(1, 20, (2,)), torch.randint(1, 20, (4,))]
    return phones, first, prompt, prompt_phones


def test_generate_fills_every_level_and_keeps_codebook_one():
    model = tiny_nar()
    phones, first, prompt, prompt_phones = two_sentences()
    out, latents = model.generate(phones, first, prompt, prompt_phones)
    assert [tuple(o.shape) for o in out] == [(Q, 7), (Q, 4)] and latents is None  # no codebooks given
    for o, f in zip(out, first):
        assert torch.equal(o[0], f)
    alone, _ = model.generate(phones[1:], first[1:], prompt[1:], prompt_phones[1:])
    assert torch.equal(alone[0], out[1])  # padding does not change the result
    with pytest.raises(ValueError, match="codebooks 2..Q"):
        NARModel(n_symbols=20, codebook_size=V, n_codebooks=1, shape=TransformerShape(32, 2, 4, 0.0, 256))


def test_expected_latents_weigh_each_level_by_its_prediction():
    model = tiny_nar()
    phones, first, prompt, prompt_phones = two_sentences()
    books = torch.randn(Q, V, 3)
    codes, latents = model.generate(phones, first, prompt, prompt_phones, codebooks=books)
    for c, o in zip(codes, model.generate(phones, first, prompt, prompt_phones)[0]):
        assert torch.equal(c, o)  # the codes are the argmax ones either way
    assert [tuple(z.shape) for z in latents] == [(3, 7), (3, 4)]
    hard = [sum(books[q][c[q]] for q in range(Q)).T for c in codes]  # (3, T): the likeliest entries
    assert not torch.allclose(latents[0], hard[0], atol=1e-3)  # an untrained NAR is unsure: a blend
    P, T = prompt[0].size(1), first[0].size(0)  # by hand: each level's distribution given the codes below
    text, audio = torch.cat([prompt_phones[0], phones[0]])[None], torch.cat([prompt[0], codes[0]], dim=1)[None]
    with torch.no_grad():
        levels = [model(text, torch.tensor([text.size(1)]), audio, torch.tensor([P + T]), torch.tensor([P]),
                        torch.tensor([k]))[0, P:].softmax(-1) for k in range(1, Q)]  # (T, V) each
    by_hand = books[0][first[0]] + sum(p @ books[k] for k, p in enumerate(levels, 1))  # (T, 3)
    torch.testing.assert_close(latents[0], by_hand.T, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        model.heads.mul_(1e4)  # certain predictions: the expectation is the argmax entry
    codes, latents = model.generate(phones, first, prompt, prompt_phones, codebooks=books)
    torch.testing.assert_close(latents[1], sum(books[q][codes[1][q]] for q in range(Q)).T)
    try:
        model.generate(phones, first, codebooks=torch.randn(Q, V + 1, 3))
    except ValueError as err:
        assert "codebooks must have shape" in str(err)
    else:
        raise AssertionError("codebooks of the wrong size were accepted")


def test_nar_overfits_one_batch():
    torch.manual_seed(0)
    model = NARModel(n_symbols=20, codebook_size=V, n_codebooks=Q, shape=TransformerShape(32, 2, 4, 0.0, 256))
    phones, phone_lengths, codes, audio_lengths, prompt_lengths = inputs(batch=3, T=8)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for step in range(60):
        level = torch.tensor([1 + (step + i) % (Q - 1) for i in range(3)])
        logits = model(phones, phone_lengths, codes, audio_lengths, prompt_lengths, level)
        targets = codes[torch.arange(3), level].clone()
        targets[:, :3] = IGNORE
        loss = token_loss(logits, targets)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    losses = []
    with torch.no_grad():
        for k in range(1, Q):
            level = torch.full((3,), k)
            targets = codes[:, k].clone()
            targets[:, :3] = IGNORE
            losses.append(token_loss(model(phones, phone_lengths, codes, audio_lengths, prompt_lengths, level),
                                     targets).item())
    assert first > 2.0 and max(losses) < 0.05
