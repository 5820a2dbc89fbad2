"""Learning-rate schedules: Noam's linear rise and inverse square root, constant, cosine, and LambdaLR wiring."""

import math

import pytest
import torch

from tts.train.schedule import build_scheduler, lr_factor


def test_noam_values():
    assert lr_factor(1, "noam", 4) == pytest.approx(0.25)
    assert lr_factor(2, "noam", 4) == pytest.approx(0.5)
    assert lr_factor(4, "noam", 4) == pytest.approx(1.0)  # the peak, at the end of warmup
    assert lr_factor(16, "noam", 4) == pytest.approx(0.5)  # sqrt(4 / 16)
    assert lr_factor(400, "noam", 4) == pytest.approx(0.1)
    assert lr_factor(9, "noam", 0) == pytest.approx(1 / 3)  # no warmup: 1/sqrt(n)


def test_constant_with_and_without_warmup():
    assert [lr_factor(n, "constant", 2) for n in (1, 2, 3, 100)] == [0.5, 1.0, 1.0, 1.0]
    assert lr_factor(1, "constant", 0) == 1.0


def test_scheduler_gives_each_update_its_factor():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=2.0)
    scheduler = build_scheduler(optimizer, "noam", 4)
    used = []
    for _ in range(16):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert used[:4] == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert used[15] == pytest.approx(2.0 * math.sqrt(4 / 16))


def test_unknown_schedule_is_an_error():
    with pytest.raises(ValueError, match="unknown schedule"):
        build_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), "linear", 4)


def test_cosine_rises_then_falls_to_zero_at_max_steps():
    factors = [lr_factor(n, "cosine", 4, 104) for n in range(1, 105)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])  # warmup, as the other schedules
    assert factors[53] == pytest.approx(0.5)  # halfway through the decay: update 54 = 4 + 50
    assert factors[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(factors[3:], factors[4:]))  # never rises after the peak
    assert lr_factor(500, "cosine", 4, 104) == pytest.approx(0.0, abs=1e-12)  # past the end: stays at 0


def test_cosine_needs_more_steps_than_warmup():
    with pytest.raises(ValueError, match="max_steps"):
        lr_factor(10, "cosine", 8, 8)
