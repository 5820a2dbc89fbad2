"""The AR's phone pointer: move targets, pointer inputs, decoding that the pointer ends, KV-cached decoding
equal to recomputation, the attention window, a one-batch overfit of both heads, config round trips."""

import dataclasses
import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from ar_fixtures import N_SYMBOLS, V, sentences

from tts.config import SynthesisConfig
from tts.models.ar import ARModel
from tts.models.ar_pointer import (MOVES, WINDOW, fit_durations, phone_start, pointer_ids, pointer_targets,
                                   special_inputs)
from tts.models.layers import IGNORE, TransformerShape, expected_entries, token_accuracy, token_loss

PROMPT, END = special_inputs(N_SYMBOLS)


def tiny_pointer_ar(seed: int = 0) -> ARModel:
    torch.manual_seed(seed)
    return ARModel(N_SYMBOLS, V, TransformerShape(32, 2, 4, 0.0, 256)).eval()


def inputs(phones: torch.Tensor, durations: torch.Tensor, prompt: int) -> tuple[list[int], list[int]]:
    """(what each audio position reads, its move target) of one utterance."""
    index, moves = pointer_targets(durations, prompt)
    read = pointer_ids(phones[None], torch.tensor([len(phones)]), index[None], N_SYMBOLS)[0]
    return read.tolist(), moves.tolist()


def force_moves(model: ARModel, move: int) -> ARModel:
    """The move head always says `move` (by its bias), whatever the input."""
    with torch.no_grad():
        model.move_head.weight.zero_()
        model.move_head.bias.copy_(torch.nn.functional.one_hot(torch.tensor(move), MOVES) * 50.0)
    return model


def test_move_targets_follow_the_durations_skip_empty_phones_and_pass_the_end():
    phones = torch.tensor([5, 6, 7, 8])
    # frames speak phones 0 0 2 3 3; phone 1 has no frame: a move of 2 skips it; after the last frame
    # the pointer passes the last phone; position T (code target EOS) reads the end input, no move target
    assert pointer_targets(torch.tensor([2, 0, 1, 2]), 0)[0].tolist() == [0, 0, 2, 3, 3, 4]
    assert inputs(phones, torch.tensor([2, 0, 1, 2]), 0) == ([5, 5, 7, 8, 8, END], [0, 2, 1, 0, 1, IGNORE])
    # the prompt's frames read the prompt input
    assert inputs(phones, torch.tensor([2, 0, 1, 2]), 3) == ([PROMPT, PROMPT, PROMPT, 8, 8, END],
                                                             [IGNORE, IGNORE, IGNORE, 0, 1, IGNORE])
    _, moves = pointer_targets(torch.tensor([2, 1, 0]), 0)
    assert moves.tolist() == [0, 1, 2, IGNORE]  # an empty last phone: the end is two phones on
    _, moves = pointer_targets(torch.tensor([1, 0, 0, 0, 2]), 0)
    assert moves.tolist() == [MOVES - 1, 0, 1, IGNORE]  # a move of 4 is clipped to 3


def test_durations_are_fitted_to_the_frames_and_the_prompt_to_a_phone_start():
    assert fit_durations(np.array([2, 3, 1]), 6).tolist() == [2, 3, 1]
    assert fit_durations(np.array([2, 3, 1]), 8).tolist() == [2, 3, 3]  # the last phone takes the rest
    assert fit_durations(np.array([2, 3, 1]), 4).tolist() == [2, 2, 0]  # an excess comes off the last phones
    durations = torch.tensor([2, 0, 3, 1])
    assert [phone_start(durations, f) for f in range(6)] == [0, 0, 2, 2, 2, 5]


def test_the_pointer_input_changes_the_logits_from_the_frame_it_changes_on():
    model = tiny_pointer_ar()
    phones, audio = torch.randint(1, N_SYMBOLS, (1, 5)), torch.randint(0, V, (1, 8))
    lengths = torch.tensor([5]), torch.tensor([8])
    frame_index = torch.tensor([[0, 0, 1, 1, 2, 3, 4, 4]])
    before, _ = model(phones, lengths[0], audio, lengths[1], frame_index)
    assert before.shape == (1, 8, V + 1 + MOVES)
    moved = frame_index.clone()
    moved[0, 5] = 2  # frame 6 said to speak phone 2 instead of phone 3
    after, _ = model(phones, lengths[0], audio, lengths[1], moved)
    torch.testing.assert_close(before[:, :5], after[:, :5])
    assert not torch.allclose(before[:, 5], after[:, 5], atol=1e-4)
    with pytest.raises(ValueError, match="frame_index"):
        model(phones, lengths[0], audio, lengths[1], frame_index[:, :5])


def test_the_window_keeps_each_frame_to_the_phones_next_to_its_own():
    phones, audio = torch.randint(1, N_SYMBOLS, (2, 8)), torch.randint(0, V, (2, 6))
    lengths = torch.tensor([8, 6]), torch.tensor([6, 6])
    frame_index = torch.tensor([[-1, 0, 1, 1, 4, 8], [-1, -1, 0, 3, 5, 6]])  # prompt frames, phones, the end
    allowed = torch.zeros(2, 6, 8, dtype=torch.bool)  # [utterance, frame, phone]
    for b in range(2):
        for t, at in enumerate(frame_index[b].tolist()):
            at = min(at, int(lengths[0][b]) - 1)
            for phone in range(int(lengths[0][b])):
                allowed[b, t, phone] = at < 0 or abs(phone - at) <= WINDOW
    model = tiny_pointer_ar()
    for layer in range(2):
        _, weights = model(phones, lengths[0], audio, lengths[1], frame_index, weights_layer=layer)
        on_phones = weights[:, :, 8:, :8].sum(dim=1)  # (B, T, L) summed over heads
        outside = on_phones[~allowed]
        assert torch.equal(outside, torch.zeros_like(outside))
        assert (on_phones[allowed] > 0).all()


def test_the_pointer_ends_each_sentence_after_its_last_phone_and_never_by_eos():
    model = force_moves(tiny_pointer_ar(), 1)
    model.head.register_forward_hook(lambda m, i, out: out + torch.nn.functional.one_hot(
        torch.tensor(model.eos), V + 1) * 50)  # EOS the likeliest code: barred under the pointer
    phones = [torch.tensor([1, 2, 3, 4, 5]), torch.tensor([6, 7])]
    prompt_phones = [torch.tensor([9, 9, 9]), torch.tensor([8])]
    prompt_codes = [torch.tensor([1, 2]), torch.tensor([3])]
    result = model.generate(phones, prompt_codes, SynthesisConfig(temperature=1.0), prompt_phones)
    assert [len(c) for c in result.codes] == [5, 2] and result.truncated == [False, False]
    assert all(int(c.max()) < V for c in result.codes)
    assert [p.tolist() for p in result.pointer] == [[0, 1, 2, 3, 4], [0, 1]]
    floored = model.generate(phones, options=SynthesisConfig(temperature=0, min_frames_per_phone=2))
    assert [len(c) for c in floored.codes] == [10, 4] and floored.truncated == [False, False]
    assert floored.pointer[1].tolist() == [0, 1, 1, 1]  # held on the last phone until the floor


def test_each_decoding_step_reads_the_phone_at_the_pointer():
    model = force_moves(tiny_pointer_ar(), 1)
    read = []
    model.pointer_embedding.register_forward_hook(lambda m, i, out: read.append(i[0].clone()))
    phones, prompt_phones, prompt_codes = torch.tensor([11, 12, 13]), torch.tensor([9, 9]), torch.tensor([1, 2, 3])
    model.generate([phones], [prompt_codes], SynthesisConfig(temperature=0), [prompt_phones])
    # BOS and the prompt's codes but the last read the prompt input; then each frame its phone
    assert read[0].tolist() == [[PROMPT, PROMPT, PROMPT, 11]]
    assert [r.tolist() for r in read[1:]] == [[[12]], [[13]]]


def test_a_phone_holds_at_most_max_frames_per_phone(caplog):
    model = force_moves(tiny_pointer_ar(), 0)  # the head would never move on
    with caplog.at_level(logging.WARNING):
        result = model.generate([torch.tensor([1, 2, 3])],
                                options=SynthesisConfig(temperature=0, max_frames_per_phone=2.5))
    assert result.pointer[0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2]  # ceil(2.5) frames, then a forced move
    assert result.truncated == [True]  # to the length limit, ceil(3 x 2.5) frames
    assert "length limit" in caplog.text
    short = model.generate([torch.tensor([1, 2, 3])], options=SynthesisConfig(temperature=0, max_frames_per_phone=2.0))
    assert len(short.codes[0]) == 6 and short.truncated == [False]


@pytest.mark.parametrize("batch", [1, 2])
def test_cached_pointer_decoding_equals_uncached(batch):
    model = tiny_pointer_ar()
    phones, prompt_phones, prompt_codes = sentences((14, 9))
    options = SynthesisConfig(temperature=1.0, top_k=16, top_p=0.95, seed=3, max_frames_per_phone=4,
                              repetition_window=6, repetition_max=2)
    cached = model.generate(phones[:batch], prompt_codes[:batch], options, prompt_phones[:batch], keep_logits=True)
    uncached = model.generate(phones[:batch], prompt_codes[:batch], dataclasses.replace(options, kv_cache=False),
                              prompt_phones[:batch], keep_logits=True)
    for i in range(batch):
        assert len(cached.codes[i]) > 3
        assert torch.equal(cached.codes[i], uncached.codes[i])
        assert torch.equal(cached.pointer[i], uncached.pointer[i])
        assert len(cached.logits[i]) == len(cached.codes[i])  # one step per frame: no EOS step
        torch.testing.assert_close(cached.logits[i], uncached.logits[i], atol=1e-4, rtol=1e-4)


def test_batch_pointer_decoding_matches_one_sentence_at_a_time():
    model = tiny_pointer_ar()
    phones, prompt_phones, prompt_codes = sentences((14, 9))
    options = SynthesisConfig(temperature=0, max_frames_per_phone=3)
    together = model.generate(phones, prompt_codes, options, prompt_phones)
    for i in range(2):
        alone = model.generate(phones[i:i + 1], prompt_codes[i:i + 1], options, prompt_phones[i:i + 1])
        assert torch.equal(together.codes[i], alone.codes[0])
        assert torch.equal(together.pointer[i], alone.pointer[0])


def test_pointer_ar_overfits_one_batch_on_both_heads():
    model = tiny_pointer_ar().train()
    g = torch.Generator().manual_seed(0)
    phones = torch.randint(1, N_SYMBOLS, (2, 6), generator=g)
    durations = torch.tensor([[2, 1, 0, 3, 2, 2], [1, 2, 2, 1, 3, 1]])  # 10 frames each
    codes = torch.randint(0, V, (2, 10), generator=g)
    audio = torch.cat([torch.full((2, 1), model.bos), codes], dim=1)
    targets = torch.cat([codes, torch.full((2, 1), model.eos)], dim=1)
    targets[:, :3] = IGNORE  # a 3-frame prompt
    rows = [pointer_targets(d, 3) for d in durations]
    frame_index, moves = torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows])
    lengths = torch.tensor([6, 6]), torch.tensor([11, 11])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        logits, _ = model(phones, lengths[0], audio, lengths[1], frame_index)
        code_logits, move_logits = model.split_logits(logits)
        code_loss, move_loss = token_loss(code_logits, targets), token_loss(move_logits, moves)
        first = first if first is not None else (code_loss.item(), move_loss.item())
        optimizer.zero_grad()
        (code_loss + move_loss).backward()
        optimizer.step()
    assert first[0] > 3.0 and first[1] > 0.5
    assert code_loss.item() < 0.02 and move_loss.item() < 0.02
    assert token_accuracy(move_logits, moves) == 1.0


def test_alignment_is_saved_in_the_model_config_and_rebuilds_the_model():
    model = tiny_pointer_ar()
    assert model.config()["alignment"] == "window"
    checkpoint = {"stage": "ar", "model_config": model.config(), "modules": {"model": model.state_dict()}}
    again = ARModel.from_checkpoint(checkpoint)
    phones, audio = torch.randint(1, N_SYMBOLS, (1, 5)), torch.randint(0, V, (1, 7))
    frame_index = torch.tensor([[-1, -1, 0, 1, 2, 3, 5]])
    lengths = torch.tensor([5]), torch.tensor([7])
    torch.testing.assert_close(model(phones, lengths[0], audio, lengths[1], frame_index)[0],
                               again(phones, lengths[0], audio, lengths[1], frame_index)[0])
    for trained_before in ("pointer", "none"):  # a checkpoint of an AR without the window is refused by name
        with pytest.raises(ValueError, match=f"without the phone pointer's attention window .*'{trained_before}'"):
            ARModel.from_config({**model.config(), "alignment": trained_before})


def test_teacher_forcing_tells_the_pointer_ar_each_frames_phone():
    from tts.eval.generators import hear_ar_forced
    from tts.text.symbols import N_SYMBOLS as ALL_SYMBOLS, encode

    torch.manual_seed(0)
    books = torch.randn(3, V, 8)  # (Q, V, E)
    chain = SimpleNamespace(ar=ARModel(ALL_SYMBOLS, V, TransformerShape(32, 2, 4, 0.0, 256)).eval(),
                            codec=SimpleNamespace(codebooks=lambda: books), decode=lambda latents: latents)
    phones, first = ["HH", "AH0", "L", "OW1"], torch.tensor([3, 7, 7, 1, 30, 2])
    heard = hear_ar_forced(chain, phones, first, torch.tensor([1, 2, 1, 2]))  # (E, T)
    text = torch.tensor([encode(phones)])
    frame_index = torch.tensor([[0, 1, 1, 2, 3, 3, 4]])  # the end past the last phone
    audio = torch.cat([torch.tensor([chain.ar.bos]), first]).unsqueeze(0)
    with torch.no_grad():
        logits, _ = chain.ar(text, torch.tensor([4]), audio, torch.tensor([7]), frame_index)
    torch.testing.assert_close(heard, expected_entries(logits[0, :6], books[0]).T)
    later = hear_ar_forced(chain, phones, first, torch.tensor([1, 2, 2, 1]))  # frame 5 speaks phone 2
    torch.testing.assert_close(later[:, :4], heard[:, :4])
    assert not torch.allclose(later[:, 4], heard[:, 4])


def test_teacher_forced_logits_of_a_batch_are_those_of_each_sentence_alone():
    torch.manual_seed(0)
    model = ARModel(12, V, TransformerShape(32, 2, 4, 0.0, 256)).eval()
    phones = [torch.tensor([1, 2, 3, 4]), torch.tensor([5, 6])]
    first = [torch.tensor([3, 7, 7, 1, 30, 2]), torch.tensor([9, 9, 4])]
    durations = [torch.tensor([1, 2, 1, 2]), torch.tensor([2, 1])]
    prompt_phones = [torch.tensor([7, 8]), torch.tensor([9])]
    prompt_codes = [torch.tensor([5, 6, 11]), torch.tensor([4])]
    batch = model.teacher_forced(phones, first, durations, prompt_phones, prompt_codes)
    assert [tuple(row.shape) for row in batch] == [(6, V + 1), (3, V + 1)]
    for i in range(2):
        alone = model.teacher_forced(phones[i:i + 1], first[i:i + 1], durations[i:i + 1], prompt_phones[i:i + 1],
                                     prompt_codes[i:i + 1])[0]
        torch.testing.assert_close(batch[i], alone, atol=1e-5, rtol=1e-4)
    without_prompt = model.teacher_forced(phones[:1], first[:1], durations[:1])[0]
    assert not torch.allclose(without_prompt, batch[0])  # the prompt is heard
