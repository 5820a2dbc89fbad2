"""YIN's F0 and voicing (tts.audio.pitch)."""

import numpy as np
import pytest
import torch

from tts.audio.pitch import yin

RATE, HOP = 16000, 160


def tone(f0: float, seconds: float = 0.5, harmonics: int = 5) -> torch.Tensor:
    t = torch.arange(int(seconds * RATE)) / RATE
    return sum(0.3 / k * torch.sin(2 * np.pi * k * f0 * t) for k in range(1, harmonics + 1))


@pytest.mark.parametrize("f0", [60.0, 97.0, 150.0, 233.0, 410.0])
def test_yin_finds_the_fundamental_of_a_harmonic_tone(f0):
    pitch, voiced = yin(tone(f0)[None], RATE, HOP)
    inner = slice(5, -5)  # frames whose window lies inside the tone
    assert bool(voiced[0, inner].all())
    assert torch.allclose(pitch[0, inner], torch.tensor(f0), rtol=0.005), pitch[0, inner]


def test_frames_are_centred_like_the_log_mels():
    for n in (1, 159, 160, 8000, 8001):
        pitch, voiced = yin(torch.zeros(2, n), RATE, HOP)
        assert pitch.shape == voiced.shape == (2, 1 + n // HOP)


def test_silence_and_noise_are_unvoiced():
    quiet = 1e-3 * tone(150.0)
    noise = 0.1 * torch.randn(8000, generator=torch.Generator().manual_seed(0))
    pitch, voiced = yin(torch.stack([torch.zeros(8000), quiet, noise]), RATE, HOP)
    assert not bool(voiced.any()) and bool((pitch == 0).all())


def test_a_batch_gives_each_item_its_own_pitch():
    batch = torch.stack([tone(110.0), tone(220.0)])
    pitch, voiced = yin(batch, RATE, HOP)
    for i, item in enumerate(batch):
        alone, alone_voiced = yin(item[None], RATE, HOP)
        assert torch.allclose(pitch[i], alone[0], rtol=1e-4) and torch.equal(voiced[i], alone_voiced[0])
    assert torch.allclose(pitch[1, 10:-10], 2 * pitch[0, 10:-10], rtol=0.01)


def test_a_voiced_stretch_inside_silence_is_found_where_it_is():
    wav = torch.cat([torch.zeros(4000), tone(180.0), torch.zeros(4000)])
    _, voiced = yin(wav[None], RATE, HOP)
    frames = torch.nonzero(voiced[0])[:, 0]
    assert abs(int(frames[0]) - 4000 // HOP) <= 3 and abs(int(frames[-1]) - 12000 // HOP) <= 3


def test_an_impossible_range_is_refused():
    with pytest.raises(ValueError, match="f_min < f_max"):
        yin(torch.zeros(1, 800), RATE, HOP, f_min=300.0, f_max=200.0)
