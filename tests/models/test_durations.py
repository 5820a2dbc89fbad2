"""Durations model: what the frames and the durations read, speaking at its own or given durations, pace,
the log-normal mean of its durations, config round trip, one-batch overfit."""

import pytest
import torch

from tts.models.durations import DurationsModel
from tts.models.layers import TransformerShape
from tts.text.symbols import N_SYMBOLS, encode

V, Q = 16, 4


def tiny_durations(seed: int = 0) -> DurationsModel:
    torch.manual_seed(seed)
    return DurationsModel(n_symbols=N_SYMBOLS, codebook_size=V, n_codebooks=Q,
                          shape=TransformerShape(32, 2, 4, 0.0, 256), mel_bins=6, mel_per_frame=2).eval()


def aligned_inputs():
    """Two utterances of 5 phones and 9 frames, the first 3 the prompt's; frame t speaks frame_phone[t]."""
    g = torch.Generator().manual_seed(3)
    phones = torch.randint(1, 20, (2, 5), generator=g)
    codes = torch.randint(0, V, (2, Q, 9), generator=g)
    frame_phone = torch.tensor([[0, 0, 0, 1, 1, 2, 3, 4, 4]] * 2)
    place = torch.tensor([[0, 0, 0, 0, 1, 0, 0, 0, 1]] * 2)
    return phones, torch.full((2,), 5), codes, torch.full((2,), 9), torch.full((2,), 3), frame_phone, place


def test_frames_read_the_prompt_and_their_phones_and_durations_ignore_the_target():
    model = tiny_durations()
    args = aligned_inputs()
    mel, log_frames = model(*args)
    assert mel.shape == (2, 9, 2, 6) and log_frames.shape == (2, 5)
    phones, phone_lengths, codes, audio_lengths, prompt_lengths, frame_phone, place = args
    changed = codes.clone()
    changed[:, :, 3:] = (changed[:, :, 3:] + 1) % V  # the target's codes: not read at all
    again = model(phones, phone_lengths, changed, audio_lengths, prompt_lengths, frame_phone, place)
    torch.testing.assert_close(mel, again[0])
    moved = frame_phone.clone()
    moved[:, 5] = 1  # frame 5 speaks another phone: its frames change, the durations do not
    again = model(phones, phone_lengths, codes, audio_lengths, prompt_lengths, moved, place)
    assert not torch.allclose(mel, again[0])
    torch.testing.assert_close(log_frames, again[1])
    changed = codes.clone()
    changed[:, 1, :3] = (changed[:, 1, :3] + 1) % V  # the prompt: read by both
    again = model(phones, phone_lengths, changed, audio_lengths, prompt_lengths, frame_phone, place)
    assert not torch.allclose(mel, again[0]) and not torch.allclose(log_frames, again[1])
    with pytest.raises(ValueError, match="mel_bins and mel_per_frame"):
        DurationsModel(20, V, Q, TransformerShape(32, 2, 4, 0.0, 256), mel_bins=0, mel_per_frame=2)


def test_speaks_its_own_durations_at_a_pace_and_round_trips_its_config():
    model = tiny_durations()
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
    per_phone = 2 * float(torch.expm1(model.duration_head.bias.detach()))  # about 4 frames a phone
    assert abs(int(slow[0].sum()) - per_phone * 7) <= 7
    given = [torch.tensor([2, 1, 0, 3, 1, 1, 0])]
    mels, spoken = model.speak(phones[:1], prompt[:1], prompt_phones[:1], durations=given)
    assert spoken[0].tolist() == given[0].tolist() and mels[0].shape == (6, 2 * 8)  # the given durations
    with torch.no_grad():
        model.duration_head.bias.fill_(-5.0)  # a model that wants no frames at all
    _, durations = model.speak(phones[:1])
    assert durations[0].tolist() == [1, 1, 0, 1, 1, 1, 0]  # every phone but '_' and '.' keeps a frame
    again = DurationsModel.from_config(model.config())
    again.load_state_dict(model.state_dict())
    assert (again.mel_bins, again.mel_per_frame, again.n_codebooks) == (6, 2, Q)
    checkpoint = {"model_config": model.config(), "modules": {"model": model.state_dict()}}
    assert not DurationsModel.from_checkpoint(checkpoint).training


def test_speaks_the_mean_of_its_durations_spread_and_older_checkpoints_load_without_one():
    """Each phone at expm1(mu + s2 / 2): the mean length of a log-normal with the held-out squared error s2 the
    model keeps (duration_variance), not the typical exp(mu) - 1; a checkpoint without it speaks at mu."""
    model = tiny_durations()
    with torch.no_grad():
        model.duration_head.weight.zero_()
        model.duration_head.bias.fill_(float(torch.log(torch.tensor(3.0))))  # mu: 2 frames a phone
    phones = [torch.tensor(encode(["HH", "AY1", "DH", "EH1", "R"]))]
    assert model.speak(phones)[1][0].tolist() == [2] * 5 and float(model.duration_variance) == 0.0
    model.duration_variance.fill_(2 * float(torch.log(torch.tensor(2.0))))  # exp(s2 / 2) = 2: 3 x 2 - 1 = 5 frames
    assert model.speak(phones)[1][0].tolist() == [5] * 5
    assert model.speak(phones, pace=2.0)[1][0].tolist() == [10] * 5
    again = DurationsModel.from_checkpoint({"model_config": model.config(), "modules": {"model": model.state_dict()}})
    assert float(again.duration_variance) == pytest.approx(2 * 0.6931, abs=1e-3)
    older = {k: v for k, v in model.state_dict().items() if k != "duration_variance"}
    again = DurationsModel.from_checkpoint({"model_config": model.config(), "modules": {"model": older}})
    assert float(again.duration_variance) == 0.0 and again.speak(phones)[1][0].tolist() == [2] * 5


def test_overfits_one_batch():
    model = tiny_durations().train()
    args = aligned_inputs()
    target = torch.randn(2, 9, 2, 6, generator=torch.Generator().manual_seed(5))
    frames = torch.tensor([[3.0, 2.0, 1.0, 1.0, 2.0]] * 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(80):
        mel, log_frames = model(*args)
        loss = (mel - target)[:, 3:].abs().mean() + ((log_frames - torch.log1p(frames)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.35 * losses[0]
