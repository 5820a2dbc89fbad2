"""The mel refiner: an identity before training, a velocity field that learns a shift, a config that round-trips."""

import torch

from tts.models.refiner import MelRefiner


def _refiner() -> MelRefiner:
    torch.manual_seed(0)
    return MelRefiner(mel_bins=6, hidden_width=5, mel_per_frame=2, channels=16, blocks=2, kernel=3)


def test_an_untrained_refiner_gives_back_the_frames_it_is_given():
    """The zero-initialised output layer makes the velocity 0: the Euler steps leave mu where it is, and the
    normalisation undone gives back the durations model's own log-mels."""
    model = _refiner()
    model.mean.fill_(-3.0)
    model.std.fill_(2.0)
    mel, hidden = torch.randn(6, 10), torch.randn(5, 5)
    assert torch.allclose(model.refine(mel, hidden, 4), mel, atol=1e-5)
    assert model.velocity(torch.randn(2, 6, 10), torch.rand(2), torch.randn(2, 6, 10), torch.randn(2, 5, 5)).shape \
        == (2, 6, 10)


def test_the_flow_learns_to_carry_the_frames_to_the_recordings():
    """Trained on pairs whose target is the input raised by 1.5 in every band, the integrated flow moves fresh
    frames most of the way there; the loss falls."""
    model = _refiner()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        mel = torch.randn(8, 6, 16)
        loss = model.loss(mel, torch.zeros(8, 5, 8), mel + 1.5)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) < 0.5 * sum(losses[:10])
    mel = torch.randn(6, 16)
    shift = (model.refine(mel, torch.zeros(5, 8), 8) - mel).mean().item()
    assert 1.0 < shift < 2.0
    assert abs((model.refine(mel, torch.zeros(5, 8), 4) - mel).mean().item() - shift) < 0.2  # a straight path


def test_the_config_round_trips():
    model = _refiner()
    assert MelRefiner.from_config(model.config()).config() == model.config()
    assert MelRefiner.from_config({**model.config(), "steps": 10}).config() == model.config()  # older checkpoints
