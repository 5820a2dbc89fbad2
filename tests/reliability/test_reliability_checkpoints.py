"""Training never loses work: unreadable checkpoints are named, resume falls back to the newest intact one,
a signal or a wall-clock budget stops at a checkpoint that the same command resumes from."""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys

import pytest
import torch
from reliability_fixtures import DEMO_RECIPE, REPOSITORY, SlowToyTask, demo_overrides, set_options, train_steps
from train_fixtures import ToyTask, toy_recipe
from typer.testing import CliRunner

from tts.checkpoint import CheckpointError, is_complete, load_checkpoint
from tts.cli import app
from tts.train.engine import train


def same_weights(a: dict, b: dict) -> bool:
    return all(torch.equal(a["modules"]["model"][name], b["modules"]["model"][name]) for name in a["modules"]["model"])


def test_empty_checkpoint_is_named_not_aborted(demo_run, tmp_path):
    # tts train: a zero-byte last.pt and nothing else to resume from
    stage = demo_run / "codec"
    stage.mkdir()
    (stage / "last.pt").write_bytes(b"")
    (stage / "metrics.jsonl").write_text('{"step": 1, "split": "train", "time": 0.1, "loss": 1.0}\n')
    result = CliRunner().invoke(app, ["train", str(DEMO_RECIPE), "-s", "codec",
                                      *set_options(demo_overrides(demo_run))])
    assert result.exit_code == 1
    assert "Aborted" not in result.output
    assert str(stage / "last.pt") in result.output and "empty" in result.output
    # nothing was trained over it: the file and the metrics are as they were
    assert sorted(p.name for p in stage.iterdir()) == ["last.pt", "metrics.jsonl"]
    assert (stage / "last.pt").stat().st_size == 0
    assert (stage / "metrics.jsonl").read_text().count("\n") == 1

    # synthesis: a zero-byte best.pt of a stage
    run = tmp_path / "model"
    (run / "ar").mkdir(parents=True)
    (run / "ar" / "best.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=re.escape(str(run / "ar" / "best.pt"))):
        load_checkpoint(run / "ar")
    result = CliRunner().invoke(app, ["synthesize", "Hello.", str(tmp_path / "out.wav"), "--model", str(run)])
    assert result.exit_code == 1
    assert "Aborted" not in result.output and str(run / "ar" / "best.pt") in result.output
    assert (run / "ar" / "best.pt").is_file()


def test_truncated_last_falls_back_to_the_newest_intact_checkpoint(tmp_path, caplog):
    whole = tmp_path / "whole"
    train(ToyTask(toy_recipe(whole, max_steps=8)), whole / "ar")
    run = tmp_path / "cut" / "ar"
    train(ToyTask(toy_recipe(tmp_path / "cut", max_steps=6)), run)
    data = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(data[: len(data) // 2])  # cut short, as by a full disk
    caplog.set_level(logging.INFO)
    train(ToyTask(toy_recipe(tmp_path / "cut", max_steps=8)), run)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(run / "last.pt") in w and "ckpt-6.pt" in w and "cannot be read" in w for w in warnings), warnings
    assert "resuming from" in caplog.text and "at step 6" in caplog.text
    final = load_checkpoint(run / "last.pt")
    assert final["step"] == 8 and same_weights(final, load_checkpoint(whole / "ar" / "last.pt"))
    assert train_steps(run) == list(range(1, 9))


def test_deleted_last_resumes_from_the_newest_numbered_checkpoint(tmp_path, caplog):
    whole = tmp_path / "whole"
    train(ToyTask(toy_recipe(whole, max_steps=8, keep_last=3)), whole / "ar")
    run = tmp_path / "cut" / "ar"
    train(ToyTask(toy_recipe(tmp_path / "cut", max_steps=6, keep_last=3)), run)
    (run / "last.pt").unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in run.glob("ckpt-*.pt")}
    assert sorted(kept) == ["ckpt-2.pt", "ckpt-4.pt", "ckpt-6.pt"]
    caplog.set_level(logging.INFO)
    train(ToyTask(toy_recipe(tmp_path / "cut", max_steps=8, keep_last=3)), run)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(run / "ckpt-6.pt") in w and "no last.pt" in w for w in warnings), warnings
    # nothing lost: the checkpoints it resumed from or after are the same files, never rewritten
    assert (run / "ckpt-6.pt").stat().st_mtime_ns == kept["ckpt-6.pt"]
    assert sorted(p.name for p in run.glob("ckpt-*.pt")) == ["ckpt-4.pt", "ckpt-6.pt", "ckpt-8.pt"]
    final = load_checkpoint(run / "last.pt")
    assert final["step"] == 8 and same_weights(final, load_checkpoint(whole / "ar" / "last.pt"))
    assert train_steps(run) == list(range(1, 9))  # cut back to step 6, not repeated


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_at_a_checkpoint_and_the_same_command_resumes(demo_run, signum):
    command = [sys.executable, "-m", "tts.cli", "train", str(DEMO_RECIPE), "-s", "codec",
               *set_options(demo_overrides(demo_run, max_steps=30, validate_every=10, checkpoint_every=10))]
    stage = demo_run / "codec"
    # as from a terminal: SIGINT not ignored even when these tests run as a background job
    process = subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "codec step 1/30" in line:
            process.send_signal(signum)
            break
    _, rest = process.communicate(timeout=300)
    output = "".join(seen) + rest
    assert process.returncode == 128 + signum, output  # as the shell reports a process ended by the signal
    name = signal.Signals(signum).name
    found = re.search(rf"stopped by {name} at step (\d+); checkpoint (\S+); run the same command to resume", output)
    assert found, output
    step = int(found.group(1))
    assert 1 <= step < 30 and found.group(2) == str(stage / "last.pt")
    assert load_checkpoint(stage / "last.pt")["step"] == step
    assert train_steps(stage) == list(range(1, step + 1))

    again = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"resuming from {stage / 'last.pt'} at step {step}" in again.stderr
    assert load_checkpoint(stage / "last.pt")["step"] == 30 and is_complete(stage, 30)
    assert train_steps(stage) == list(range(1, 31))


def test_max_minutes_ends_a_stage_cleanly_and_a_larger_budget_resumes(tmp_path, caplog):
    run = tmp_path / "ar"
    budget = dict(max_steps=100, validate_every=1000, checkpoint_every=1000, keep_last=2)
    caplog.set_level(logging.INFO)
    train(SlowToyTask(toy_recipe(tmp_path, max_minutes=0.01, **budget)), run)
    step = load_checkpoint(run / "last.pt")["step"]
    assert 1 <= step < 100
    assert "train.max_minutes" in caplog.text
    # as at max_steps: a final validation, ckpt-<step>.pt, last.pt and best.pt, but not complete
    records = [line for line in (run / "metrics.jsonl").read_text().splitlines() if '"validation"' in line]
    assert len(records) == 1 and f'"step": {step},' in records[0]
    assert (run / f"ckpt-{step}.pt").is_file() and load_checkpoint(run / "best.pt")["step"] == step
    assert not is_complete(run, 100)
    # the same budget again: already spent, nothing changes
    train(SlowToyTask(toy_recipe(tmp_path, max_minutes=0.01, **budget)), run)
    assert load_checkpoint(run / "last.pt")["step"] == step
    # a larger budget (0 = no limit) resumes from that step and finishes
    train(SlowToyTask(toy_recipe(tmp_path, max_minutes=0, **budget)), run)
    assert load_checkpoint(run / "last.pt")["step"] == 100 and is_complete(run, 100)
    assert train_steps(run) == list(range(1, 101))


@pytest.mark.parametrize("load", ["codec", "vocoder", "pretrained"])
def test_every_loader_names_an_empty_weights_file(tmp_path, load):
    from tts.codec import codec_from_checkpoint
    from tts.models.pretrained import load_encodec_24khz
    from tts.vocode import load_vocoder

    empty = tmp_path / "best.pt"
    empty.write_bytes(b"")
    loaders = {"codec": lambda: codec_from_checkpoint(empty, "cpu"), "vocoder": lambda: load_vocoder(empty),
               "pretrained": lambda: load_encodec_24khz(str(empty))}
    with pytest.raises(CheckpointError, match=re.escape(str(empty)) + ".*empty"):
        loaders[load]()
