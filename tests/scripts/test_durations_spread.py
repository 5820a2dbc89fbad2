"""scripts/durations_spread.py: the spread a durations checkpoint speaks the mean with, measured by the stage's
own validation pass and written into a checkpoint that lacks it."""

import sys

import pytest
import torch

from run_fixtures import train_durations_run
from tts.checkpoint import read_checkpoint, save_checkpoint
from tts.models.durations import DurationsModel


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_durations_run(tmp_path_factory.mktemp("spread") / "run")


def test_an_older_checkpoint_gets_the_spread_its_run_measures_and_speaks_longer(run, monkeypatch, capsys):
    import durations_spread

    best = run / "durations" / "best.pt"
    trained = read_checkpoint(best)
    kept = float(trained["modules"]["model"]["duration_variance"])
    assert kept > 0  # stage durations keeps it
    older = {**trained, "modules": {"model": {k: v for k, v in trained["modules"]["model"].items()
                                              if k != "duration_variance"}}}
    save_checkpoint(older, best)  # a checkpoint written before the model kept its spread
    out = run / "with_spread.pt"
    monkeypatch.setattr(sys, "argv", ["durations_spread.py", str(run), "--sentences", "2", "--write", str(out)])
    durations_spread.main()
    printed = capsys.readouterr().out
    assert "spread kept in the checkpoint 0.0000" in printed
    assert f"measured by the stage's validation pass: {kept:.4f}" in printed
    assert printed.count("spoken / aligner frames") == 2
    fixed = DurationsModel.from_checkpoint(read_checkpoint(out))
    assert float(fixed.duration_variance) == pytest.approx(kept)
    old = DurationsModel.from_checkpoint(older)
    for name, value in old.state_dict().items():
        if name != "duration_variance":
            assert torch.equal(value, fixed.state_dict()[name])
    phones = [torch.tensor([5, 9, 12, 20])]
    assert int(fixed.speak(phones)[1][0].sum()) >= int(old.speak(phones)[1][0].sum())
