"""NAR model: what each level may see, level conditioning, greedy filling, one-batch overfit."""

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
    out = model.generate(phones, first, prompt, prompt_phones)
    assert [tuple(o.shape) for o in out] == [(Q, 7), (Q, 4)]
    for o, f in zip(out, first):
        assert torch.equal(o[0], f)
    alone = model.generate(phones[1:], first[1:], prompt[1:], prompt_phones[1:])
    assert torch.equal(alone[0], out[1])  # padding does not change the result


def test_expected_latents_weigh_each_level_by_its_prediction():
    model = tiny_nar()
    phones, first, prompt, prompt_phones = two_sentences()
    books = torch.randn(Q, V, 3)
    codes, latents = model.generate(phones, first, prompt, prompt_phones, codebooks=books)
    for c, o in zip(codes, model.generate(phones, first, prompt, prompt_phones)):
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


def tiny_mel_nar(seed: int = 0, n_codebooks: int = Q) -> NARModel:
    torch.manual_seed(seed)
    return NARModel(n_symbols=20, codebook_size=V, n_codebooks=n_codebooks,
                    shape=TransformerShape(32, 2, 4, 0.0, 256), mel_bins=6, mel_per_frame=2).eval()


def test_mel_mode_reads_codebook_one_and_the_prompt_only():
    model = tiny_mel_nar()
    phones, phone_lengths, codes, audio_lengths, prompt_lengths = inputs()
    before = model.mel(phones, phone_lengths, codes, audio_lengths, prompt_lengths)
    assert before.shape == (2, 9, 2, 6)
    changed = codes.clone()
    changed[:, 1:, 3:] = (changed[:, 1:, 3:] + 1) % V  # levels 2..Q of the target: not read
    torch.testing.assert_close(before, model.mel(phones, phone_lengths, changed, audio_lengths, prompt_lengths))
    changed = codes.clone()
    changed[:, 0, 5] = (changed[:, 0, 5] + 1) % V  # codebook 1 of the target: read
    assert not torch.allclose(before, model.mel(phones, phone_lengths, changed, audio_lengths, prompt_lengths))
    changed = codes.clone()
    changed[:, 2, :3] = (changed[:, 2, :3] + 1) % V  # every level of the prompt: read
    assert not torch.allclose(before, model.mel(phones, phone_lengths, changed, audio_lengths, prompt_lengths))
    with pytest.raises(ValueError, match="mel mode"):
        model(phones, phone_lengths, codes, audio_lengths, prompt_lengths, torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="predicts codes"):
        tiny_nar().mel(phones, phone_lengths, codes, audio_lengths, prompt_lengths)


def test_mel_mode_generates_the_target_frames_and_round_trips_its_config():
    model = tiny_mel_nar()
    phones, first, prompt, prompt_phones = two_sentences()
    mels = model.generate(phones, first, prompt, prompt_phones)
    assert [tuple(m.shape) for m in mels] == [(6, 14), (6, 8)]  # (M, T x r), prompt excluded
    P = prompt[0].size(1)
    text = torch.cat([prompt_phones[0], phones[0]])[None]
    audio = torch.cat([prompt[0], torch.nn.functional.pad(first[0][None], (0, 0, 0, Q - 1))], dim=1)[None]
    with torch.no_grad():
        by_hand = model.mel(text, torch.tensor([text.size(1)]), audio, torch.tensor([audio.size(2)]),
                            torch.tensor([P]))[0, P:]  # (T, r, M)
    torch.testing.assert_close(mels[0], by_hand.flatten(0, 1).T)
    alone = model.generate(phones[1:], first[1:], prompt[1:], prompt_phones[1:])
    torch.testing.assert_close(alone[0], mels[1], atol=1e-5, rtol=1e-5)  # padding changes nothing
    again = NARModel.from_config(model.config())
    again.load_state_dict(model.state_dict())
    assert again.predicts_mel and again.mel_per_frame == 2 and not hasattr(again, "heads")
    assert tiny_mel_nar(n_codebooks=1).generate(phones[:1], first[:1])[0].shape == (6, 14)  # Q = 1 works
    with pytest.raises(ValueError, match="both mel_bins and mel_per_frame"):
        NARModel(20, V, Q, TransformerShape(32, 2, 4, 0.0, 256), mel_bins=6)


def test_mel_mode_overfits_one_batch():
    model = tiny_mel_nar().train()
    phones, phone_lengths, codes, audio_lengths, prompt_lengths = inputs(batch=3, T=8)
    target = torch.randn(3, 8, 2, 6, generator=torch.Generator().manual_seed(5))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(80):
        loss = (model.mel(phones, phone_lengths, codes, audio_lengths, prompt_lengths) - target)[:, 3:].abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.35 * losses[0]


def tiny_duration_nar(seed: int = 0, pitch: bool = False) -> NARModel:
    torch.manual_seed(seed)
    from tts.text.symbols import N_SYMBOLS

    return NARModel(n_symbols=N_SYMBOLS, codebook_size=V, n_codebooks=Q, shape=TransformerShape(32, 2, 4, 0.0, 256),
                    mel_bins=6, mel_per_frame=2, condition="durations", pitch=pitch).eval()


def aligned_inputs():
    phones, phone_lengths, codes, audio_lengths, prompt_lengths = inputs()  # L 5, T 9, prompt 3
    frame_phone = torch.tensor([[0, 0, 0, 1, 1, 2, 3, 4, 4]] * 2)
    place = torch.tensor([[0, 0, 0, 0, 1, 0, 0, 0, 1]] * 2)
    return phones, phone_lengths, codes, audio_lengths, prompt_lengths, frame_phone, place


def test_durations_mode_reads_the_prompt_and_the_frames_phones_and_durations_ignore_the_target():
    model = tiny_duration_nar()
    args = aligned_inputs()
    mel, log_frames, pitch = model.aligned(*args)
    assert mel.shape == (2, 9, 2, 6) and log_frames.shape == (2, 5) and pitch is None
    phones, phone_lengths, codes, audio_lengths, prompt_lengths, frame_phone, place = args
    changed = codes.clone()
    changed[:, :, 3:] = (changed[:, :, 3:] + 1) % V  # the target's codes: not read at all
    again = model.aligned(phones, phone_lengths, changed, audio_lengths, prompt_lengths, frame_phone, place)
    torch.testing.assert_close(mel, again[0])
    moved = frame_phone.clone()
    moved[:, 5] = 1  # frame 5 speaks another phone: its frames change, the durations do not
    again = model.aligned(phones, phone_lengths, codes, audio_lengths, prompt_lengths, moved, place)
    assert not torch.allclose(mel, again[0])
    torch.testing.assert_close(log_frames, again[1])
    changed = codes.clone()
    changed[:, 1, :3] = (changed[:, 1, :3] + 1) % V  # the prompt: read by both
    again = model.aligned(phones, phone_lengths, changed, audio_lengths, prompt_lengths, frame_phone, place)
    assert not torch.allclose(mel, again[0]) and not torch.allclose(log_frames, again[1])
    with pytest.raises(ValueError, match="reads durations"):
        model.mel(phones, phone_lengths, codes, audio_lengths, prompt_lengths)
    with pytest.raises(ValueError, match="reads codebook 1"):
        tiny_mel_nar().aligned(*args)
    with pytest.raises(ValueError, match="needs mel_bins"):
        NARModel(20, V, Q, TransformerShape(32, 2, 4, 0.0, 256), condition="durations")


def test_durations_mode_speaks_its_own_durations_and_round_trips_its_config():
    from tts.text.symbols import encode

    model = tiny_duration_nar()
    with torch.no_grad():
        model.duration_head.bias.fill_(float(torch.log1p(torch.tensor(2.0))))  # about two frames a phone
        model.duration_head.weight.mul_(0.01)
    phones = [torch.tensor(encode(["HH", "AY1", "_", "DH", "EH1", "R", "."])), torch.tensor(encode(["OW1", "."]))]
    prompt = [torch.randint(0, V, (Q, 4), generator=torch.Generator().manual_seed(1))] * 2
    prompt_phones = [torch.tensor(encode(["AA1"]))] * 2
    mels, durations = model.speak(phones, prompt, prompt_phones)
    assert [len(d) for d in durations] == [7, 2]
    assert all(int(d.min()) >= 0 and int(d.sum()) > 0 for d in durations)
    assert [tuple(m.shape) for m in mels] == [(6, 2 * int(d.sum())) for d in durations]
    alone_mels, alone_durations = model.speak(phones[1:], prompt[1:], prompt_phones[1:])
    assert torch.equal(alone_durations[0], durations[1])
    torch.testing.assert_close(alone_mels[0], mels[1], atol=1e-5, rtol=1e-5)  # padding changes nothing
    _, slow = model.speak(phones, prompt, prompt_phones, pace=2.0)
    assert [int(s.sum()) for s in slow] > [int(d.sum()) for d in durations]
    assert abs(int(slow[0].sum()) - 2 * float(torch.expm1(model.duration_head.bias)) * 7) <= 7  # about 4 a phone
    with torch.no_grad():
        model.duration_head.bias.fill_(-5.0)  # a model that wants no frames at all
    _, durations = model.speak(phones[:1])
    assert durations[0].tolist() == [1, 1, 0, 1, 1, 1, 0]  # every phone but '_' and '.' keeps a frame
    again = NARModel.from_config(model.config())
    again.load_state_dict(model.state_dict())
    assert again.reads_durations and again.predicts_mel
    with pytest.raises(ValueError, match="call speak"):
        model.generate(phones, [torch.zeros(3, dtype=torch.long)] * 2)


def test_durations_mode_overfits_one_batch():
    model = tiny_duration_nar().train()
    args = aligned_inputs()
    target = torch.randn(2, 9, 2, 6, generator=torch.Generator().manual_seed(5))
    frames = torch.tensor([[3.0, 2.0, 1.0, 1.0, 2.0]] * 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(80):
        mel, log_frames, _ = model.aligned(*args)
        loss = (mel - target)[:, 3:].abs().mean() + ((log_frames - torch.log1p(frames)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.35 * losses[0]


def test_pitch_bins_cover_the_range_and_keep_bin_0_for_no_pitch():
    from tts.models.nar import PITCH_BINS, PITCH_RANGE, pitch_bins

    z = torch.tensor([float("nan"), -10.0, -PITCH_RANGE, 0.0, PITCH_RANGE, 10.0])
    bins = pitch_bins(z).tolist()
    assert bins[:3] == [0, 1, 1] and bins[4:] == [PITCH_BINS, PITCH_BINS]
    assert 1 < int(pitch_bins(z)[3]) < PITCH_BINS
    assert torch.all(torch.diff(pitch_bins(torch.linspace(-4, 4, 50))) >= 0)


def test_pitch_changes_only_the_frames_that_speak_the_phone_and_is_predicted_from_phones_and_prompt():
    model = tiny_duration_nar(pitch=True)
    args = aligned_inputs()  # frame_phone [0, 0, 0 (prompt), 1, 1, 2, 3, 4, 4]
    pitch = torch.tensor([[0.0, 1.0, -1.0, float("nan"), 0.5]] * 2)
    mel, log_frames, predicted = model.aligned(*args, pitch)
    assert predicted.shape == (2, 5)
    higher = pitch.clone()
    higher[:, 2] = 2.0  # phone 2 is spoken by frame 5 alone
    again, again_frames, again_pitch = model.aligned(*args, higher)
    changed = (again - mel).abs().amax(dim=(2, 3)) > 1e-6  # (B, T) frames whose log-mels moved
    assert changed[:, 5].all()
    torch.testing.assert_close(again_frames, log_frames)  # the phones do not read the frames' pitch
    torch.testing.assert_close(again_pitch, predicted)
    none = model.aligned(*args)[0]  # no pitch given: the frames show none
    assert not torch.allclose(none, mel)
    again = NARModel.from_config(model.config())
    assert again.pitch and again.config()["pitch"]
    with pytest.raises(ValueError, match="beside durations"):
        NARModel(20, V, Q, TransformerShape(32, 2, 4, 0.0, 256), mel_bins=6, mel_per_frame=2, pitch=True)


def test_speak_uses_given_pitch_and_predicts_it_on_voiced_phones_only():
    from tts.text.symbols import encode

    model = tiny_duration_nar(pitch=True)
    phones = [torch.tensor(encode(["S", "IY1", "_", "DH", "EH1", "M", "."]))]
    durations = [torch.tensor([2, 2, 0, 1, 2, 2, 1])]
    low, _ = model.speak(phones, durations=durations, pitch=[torch.full((7,), -2.0)])
    high, _ = model.speak(phones, durations=durations, pitch=[torch.full((7,), 2.0)])
    assert not torch.allclose(low[0], high[0])
    predicted = torch.arange(9, dtype=torch.float32).view(1, 9)  # over 2 prompt phones + the 7
    pitch = model._sentence_pitch(phones, [torch.tensor(encode(["AA1", "M"]))], predicted, None)
    nan = float("nan")
    torch.testing.assert_close(pitch, torch.tensor([[nan, nan, nan, 3.0, nan, 5.0, 6.0, 7.0, nan]]), equal_nan=True)
    with torch.no_grad():
        model.pitch_head.bias.add_(5.0)  # a model that predicts a much higher pitch speaks otherwise
    raised, _ = model.speak(phones, durations=durations)
    assert not torch.allclose(raised[0], model.speak(phones, durations=durations, pitch=[torch.zeros(7)])[0][0])


def test_pitch_overfits_one_batch():
    model = tiny_duration_nar(pitch=True).train()
    args = aligned_inputs()
    pitch = torch.tensor([[0.0, 1.0, -1.0, float("nan"), 0.5]] * 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        _, _, predicted = model.aligned(*args, pitch)
        known = ~torch.isnan(pitch)
        loss = ((predicted - pitch.nan_to_num(0.0))[known] ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
