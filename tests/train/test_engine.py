"""Training engine: checkpoints, metrics, the non-finite guard, exact resume after SIGKILL or a stop signal, DDP."""

import dataclasses
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

from tts.checkpoint import load_checkpoint
from tts.train.engine import NonFiniteError, train
from tts.train.stopping import TrainingStopped

sys.path.insert(0, str(Path(__file__).parent))
from train_fixtures import ToyTask, toy_recipe  # noqa: E402


def test_checkpoints_metrics_and_samples(tmp_path):
    task = ToyTask(toy_recipe(tmp_path, sample_every=4))
    train(task, tmp_path / "ar")
    run = tmp_path / "ar"
    assert sorted(p.name for p in run.glob("ckpt-*.pt")) == ["ckpt-6.pt", "ckpt-8.pt"]  # keep_last 2
    assert (run / "last.pt").is_file() and (run / "best.pt").is_file()
    assert (tmp_path / "recipe.yaml").is_file()
    checkpoint = load_checkpoint(run / "last.pt")
    for key in ("stage", "step", "recipe", "modules", "optimizers", "schedulers", "rng", "epoch",
                "batch_in_epoch", "versions", "best_metric", "symbols", "toy"):
        assert key in checkpoint, key
    assert checkpoint["step"] == 8 and checkpoint["stage"] == "ar"
    assert (checkpoint["epoch"], checkpoint["batch_in_epoch"]) == (2, 2)  # 8 batches of 3 per epoch
    assert checkpoint["recipe"]["ar"]["train"]["max_steps"] == 8
    assert checkpoint["schedulers"]["model"]["last_epoch"] == 8
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_records = [r for r in records if r["split"] == "train"]
    assert [r["step"] for r in train_records] == list(range(1, 9))
    assert all({"loss", "lr", "tokens_per_second", "time", "grad_norm"} <= set(r) for r in train_records)
    assert [r["lr"] for r in train_records[:3]] == pytest.approx([0.005, 0.01, 0.01 * (2 / 3) ** 0.5])  # Noam
    assert [r["step"] for r in records if r["split"] == "validation"] == [4, 8]
    assert task.samples == [4, 8] and (run / "samples" / "step-8" / "sample.txt").is_file()
    # the best validation loss is the one in best.pt
    best = min(r["loss"] for r in records if r["split"] == "validation")
    assert load_checkpoint(run / "best.pt")["best_metric"] == pytest.approx(best)
    # a second call finds the stage complete and changes nothing
    before = (run / "metrics.jsonl").read_text()
    train(ToyTask(toy_recipe(tmp_path)), run)
    assert (run / "metrics.jsonl").read_text() == before


def test_nonfinite_step_is_skipped_and_logged(tmp_path, caplog):
    task = ToyTask(toy_recipe(tmp_path, max_steps=3, checkpoint_every=1, keep_last=3), nan_ids=("e0-r0-b1",))
    train(task, tmp_path / "ar")
    assert "step 2 skipped" in caplog.text and "e0-r0-b1" in caplog.text  # the batch's utterance ids
    one = load_checkpoint(tmp_path / "ar" / "ckpt-1.pt")
    two = load_checkpoint(tmp_path / "ar" / "ckpt-2.pt")
    assert one["batch_in_epoch"] == 1 and two["batch_in_epoch"] == 3  # the bad batch was consumed
    assert all(torch.isfinite(p).all() for p in two["modules"]["model"].values())
    assert int(two["optimizers"]["model"]["state"][0]["step"]) == 2  # no update from the NaN batch


def test_too_many_nonfinite_steps_stop_with_a_clear_error(tmp_path):
    task = ToyTask(toy_recipe(tmp_path, max_nonfinite=3), nan_ids=("*",))
    with pytest.raises(NonFiniteError, match="3 steps in a row.*max_nonfinite"):
        train(task, tmp_path / "ar")


def test_resume_after_sigkill_reaches_the_same_weights(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    train(ToyTask(toy_recipe(whole, sample_every=3)), whole / "ar")
    import multiprocessing

    from train_fixtures import run_toy

    # a forked child process trains and SIGKILLs itself during step 6 (after ckpt-4)
    child = multiprocessing.get_context("fork").Process(target=run_toy, args=(str(killed), "5"))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == -signal.SIGKILL
    assert load_checkpoint(killed / "ar" / "last.pt")["step"] == 4  # killed during step 6
    lines_before = (killed / "ar" / "metrics.jsonl").read_text().splitlines()
    assert max(json.loads(line)["step"] for line in lines_before) == 5
    train(ToyTask(toy_recipe(killed, sample_every=3)), killed / "ar")
    a = load_checkpoint(whole / "ar" / "last.pt")
    b = load_checkpoint(killed / "ar" / "last.pt")
    assert b["step"] == 8
    for name, tensor in a["modules"]["model"].items():
        assert torch.equal(tensor, b["modules"]["model"][name]), name
    for (ka, va), (kb, vb) in zip(a["optimizers"]["model"]["state"].items(),
                                  b["optimizers"]["model"]["state"].items()):
        assert torch.equal(va["exp_avg_sq"], vb["exp_avg_sq"])
    assert torch.equal(a["rng"][0]["torch"], b["rng"][0]["torch"])
    steps = [json.loads(line)["step"] for line in (killed / "ar" / "metrics.jsonl").read_text().splitlines()
             if json.loads(line)["split"] == "train"]
    assert steps == list(range(1, 9))  # lines of the lost step 5 were replaced, not repeated


class SignalledToyTask(ToyTask):
    """The toy task that sends a signal to its own process during one step."""

    def __init__(self, recipe, signal_at_step: int, number: int = signal.SIGTERM):
        super().__init__(recipe)
        self.signal_at_step, self.number = signal_at_step, number

    def train_step(self, modules, batch, step, device):
        if step == self.signal_at_step:
            os.kill(os.getpid(), self.number)
        yield from super().train_step(modules, batch, step, device)


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_finishes_the_step_writes_last_and_resumes_exactly(tmp_path, number, request):
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    train(ToyTask(toy_recipe(whole)), whole / "ar")
    # as in a terminal: a test run started as a background job inherits SIGINT ignored, which training keeps
    inherited = signal.getsignal(number)
    request.addfinalizer(lambda: signal.signal(number, inherited))
    signal.signal(number, signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL)
    before = signal.getsignal(number)
    with pytest.raises(TrainingStopped, match=rf"stopped by {signal.Signals(number).name} at step 5; "
                                              rf"checkpoint {stopped / 'ar' / 'last.pt'}") as caught:
        train(SignalledToyTask(toy_recipe(stopped), signal_at_step=4, number=number), stopped / "ar")
    assert caught.value.exit_code == 128 + number and signal.getsignal(number) == before  # handler given back
    assert load_checkpoint(stopped / "ar" / "last.pt")["step"] == 5  # the step it was in was finished
    assert not (stopped / "ar" / "ckpt-6.pt").exists()
    train(ToyTask(toy_recipe(stopped)), stopped / "ar")
    a, b = load_checkpoint(whole / "ar" / "last.pt"), load_checkpoint(stopped / "ar" / "last.pt")
    assert b["step"] == 8 and all(torch.equal(a["modules"]["model"][k], b["modules"]["model"][k])
                                  for k in a["modules"]["model"])
    steps = [json.loads(line)["step"] for line in (stopped / "ar" / "metrics.jsonl").read_text().splitlines()
             if json.loads(line)["split"] == "train"]
    assert steps == list(range(1, 9))


def test_two_process_gloo_ddp_agrees_on_weights(tmp_path):
    import torch.distributed as dist
    import torch.multiprocessing as mp

    from train_fixtures import ddp_worker

    # spawn, not fork: a fork of this process (which by now runs other libraries' thread pools, e.g. the
    # DNSMOS scorer's) can deadlock in the child on a lock some other thread held; spawn costs an import of torch
    store = dist.TCPStore("127.0.0.1", 0, world_size=2, is_master=True, wait_for_workers=False)  # torchrun's
    context = mp.start_processes(ddp_worker, args=(2, store.port, str(tmp_path)), nprocs=2, join=False,
                                 start_method="spawn")
    deadline = time.monotonic() + 300  # a stuck rendezvous fails the test instead of hanging the run
    while not context.join(timeout=5):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the two training processes did not finish within 300 s")
    del store
    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    saved = load_checkpoint(tmp_path / "ar" / "last.pt")
    assert saved["step"] == 4 and len(saved["rng"]) == 2
    torch.manual_seed(toy_recipe(tmp_path).seed)
    initial = ToyTask(toy_recipe(tmp_path)).build_modules()["model"].state_dict()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
        assert torch.equal(rank0[name], saved["modules"]["model"][name]), name
    assert not torch.equal(rank0["0.weight"], initial["0.weight"])  # it trained
    assert not (tmp_path / "ar" / "metrics.jsonl").read_text().count('"step": 1,') > 1  # rank 0 writes alone


def test_loader_workers_give_the_same_run(tmp_path):
    train(ToyTask(toy_recipe(tmp_path / "a", max_steps=4)), tmp_path / "a" / "ar")
    train(ToyTask(toy_recipe(tmp_path / "b", max_steps=4, num_workers=1)), tmp_path / "b" / "ar")
    a, b = (load_checkpoint(tmp_path / x / "ar" / "last.pt")["modules"]["model"] for x in "ab")
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_recipe_threads_key_sets_the_cpu_threads_of_training(tmp_path):
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    recipe = dataclasses.replace(toy_recipe(tmp_path, max_steps=1), threads=target)
    try:
        train(ToyTask(recipe), tmp_path / "ar")
        assert torch.get_num_threads() == target
    finally:
        torch.set_num_threads(before)


def test_resume_follows_a_schedule_changed_in_the_recipe(tmp_path, caplog):
    train(ToyTask(toy_recipe(tmp_path, schedule="constant", max_steps=4)), tmp_path / "ar")
    caplog.set_level("INFO")
    train(ToyTask(toy_recipe(tmp_path, schedule="cosine", max_steps=8, lr=0.02)), tmp_path / "ar")
    assert "following the recipe from step 4" in caplog.text
    records = [json.loads(line) for line in (tmp_path / "ar" / "metrics.jsonl").read_text().splitlines()]
    rates = {r["step"]: r["lr"] for r in records if r["split"] == "train"}
    assert rates[4] == pytest.approx(0.01)  # the constant run
    assert rates[5] == pytest.approx(0.02 * 0.5 * (1 + math.cos(math.pi * 3 / 6)))  # cosine, warmup 2, update 5
    assert rates[8] == pytest.approx(0.0)
    assert load_checkpoint(tmp_path / "ar" / "last.pt")["schedulers"]["model"]["lr_lambdas"][0]["schedule"] == "cosine"


def test_init_from_starts_a_new_run_from_the_weights_of_another(tmp_path):
    first = tmp_path / "first"
    train(ToyTask(toy_recipe(first, max_steps=4)), first / "ar")
    source = load_checkpoint(first / "ar" / "last.pt")
    second = tmp_path / "second"
    recipe = toy_recipe(second, max_steps=1, lr=1e-12, init_from=str(first / "ar" / "last.pt"))
    task = ToyTask(recipe)
    train(task, second / "ar")
    tuned = load_checkpoint(second / "ar" / "last.pt")
    assert tuned["step"] == 1  # a new run: its own step count and schedule
    for name, value in source["modules"]["model"].items():  # a tiny rate: the weights barely moved
        torch.testing.assert_close(tuned["modules"]["model"][name], value, atol=1e-6, rtol=0)
    fresh = tmp_path / "fresh"
    train(ToyTask(toy_recipe(fresh, max_steps=1, lr=1e-12)), fresh / "ar")
    init = load_checkpoint(fresh / "ar" / "last.pt")["modules"]["model"]
    assert any(not torch.allclose(init[k], v) for k, v in source["modules"]["model"].items())


def test_init_from_refuses_a_missing_file_or_another_stage(tmp_path):
    with pytest.raises(FileNotFoundError, match="init_from"):
        train(ToyTask(toy_recipe(tmp_path, init_from=str(tmp_path / "nothing.pt"))), tmp_path / "ar")
    other = tmp_path / "other.pt"
    torch.save({"stage": "nar", "modules": {}}, other)
    with pytest.raises(ValueError, match="stage 'nar'"):
        train(ToyTask(toy_recipe(tmp_path / "b", init_from=str(other))), tmp_path / "b" / "ar")


def test_init_from_an_export_starts_the_discriminator_afresh_but_nothing_else(tmp_path, caplog):
    import logging

    from torch import nn

    from tts.train.resume import init_weights

    torch.manual_seed(0)
    exported = {"generator": nn.Linear(3, 2)}
    path = tmp_path / "export.pt"
    torch.save({"stage": "vocoder", "modules": {k: m.state_dict() for k, m in exported.items()}}, path)
    modules = {"generator": nn.Linear(3, 2), "discriminator": nn.Linear(2, 1)}
    untouched = {k: v.clone() for k, v in modules["discriminator"].state_dict().items()}
    with caplog.at_level(logging.WARNING):
        init_weights(path, "vocoder", modules)
    assert "has no discriminator (an export); discriminator starts afresh" in caplog.text
    torch.testing.assert_close(modules["generator"].weight, exported["generator"].weight)
    torch.testing.assert_close(modules["discriminator"].state_dict(), untouched)
    with pytest.raises(ValueError, match=r"no weights for modules \['model'\]"):  # only the discriminator may be missing
        init_weights(path, "vocoder", {"generator": nn.Linear(3, 2), "model": nn.Linear(3, 2)})


def test_log_window_means_rates_and_eta():
    from tts.train.metrics import LogWindow, format_duration, learning_rate

    window = LogWindow()
    window.add_time(tokens=100, seconds=1.0)
    window.add_step({"loss": 2.0, "lr_generator": 1e-3})
    window.add_time(tokens=300, seconds=1.0)  # a skipped step: its time and tokens count, its scalars do not
    window.add_time(tokens=200, seconds=2.0)
    window.add_step({"loss": 4.0, "lr_generator": 3e-3})
    record = window.record()
    assert record["loss"] == pytest.approx(3.0) and record["tokens_per_second"] == pytest.approx(150.0)
    assert learning_rate(record) == pytest.approx(2e-3)
    assert window.eta(10) == pytest.approx(20.0)  # 4 s for 2 steps
    window.clear()
    assert window.record() == {"tokens_per_second": 0.0} and window.steps == 0
    assert (format_duration(65), format_duration(3 * 3600 + 5 * 60 + 9)) == ("1m05s", "3h05m")
