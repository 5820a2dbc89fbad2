import pytest
import torch

from tts.models.mel_discriminator import MelDiscriminator, random_crops


def test_the_discriminator_judges_patches_and_returns_its_feature_maps():
    outputs = MelDiscriminator(channels=4)(torch.randn(3, 40, 80))
    assert len(outputs) == 1
    logits, maps = outputs[0]
    assert logits.shape == (3, 10 * 20) and len(maps) == 4
    assert maps[0].shape == (3, 4, 40, 80) and maps[-1].shape == (3, 16, 10, 20)


def test_crops_take_the_same_window_of_both_inside_each_span():
    torch.manual_seed(0)
    B, F, M = 4, 50, 3
    target = torch.arange(F, dtype=torch.float)[None, :, None].expand(B, F, M).clone()
    mel = target + 1000
    starts, ends = torch.tensor([0, 10, 20, 30]), torch.tensor([50, 40, 45, 38])
    for _ in range(20):
        fake, real = random_crops(mel, target, starts, ends, frames=8)
        assert fake.shape == real.shape == (B, 8, M)
        assert torch.equal(fake - 1000, real)
        first, last = real[:, 0, 0], real[:, -1, 0]
        assert torch.all(first >= starts) and torch.all(last < ends) and torch.equal(last - first, torch.full((B,), 7.))
    assert random_crops(mel, target, starts, ends, frames=9) is None  # utterance 4 has 8 frames there


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_the_durations_task_trains_a_discriminator_only_when_asked(tmp_path, monkeypatch, weight):
    import dataclasses
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
    from train_fixtures import FakeCorpus, tasks_recipe

    from tts.checkpoint import load_checkpoint
    from tts.train import durations_task
    from tts.train.aligner_task import AlignerTask
    from tts.train.engine import train

    monkeypatch.setattr(durations_task, "MIN_ADVERSARIAL_FRAMES", 1)
    recipe, corpus = tasks_recipe(tmp_path), FakeCorpus(tmp_path)
    recipe = dataclasses.replace(recipe, durations=dataclasses.replace(recipe.durations, adversarial_weight=weight))
    train(AlignerTask(recipe, corpus), tmp_path / "aligner")
    task = durations_task.DurationsTask(recipe, corpus)
    modules = task.build_modules()
    steps = list(task.train_step(modules, task.train_batches(0, 0, 1)[0], 0, torch.device("cpu")))
    assert [name for name, _, _ in steps] == (["discriminator", "model"] if weight else ["model"])
    assert all(torch.isfinite(loss) for _, loss, _ in steps)
    if weight:
        logs = steps[-1][2]
        assert logs["loss"] > logs["mel_l1"] + logs["duration_loss"]  # the adversarial terms count
    train(task, tmp_path / "durations")
    assert ("discriminator" in load_checkpoint(tmp_path / "durations" / "last.pt")["modules"]) == bool(weight)
