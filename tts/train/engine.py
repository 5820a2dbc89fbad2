"""The training engine shared by every stage: `train(task, run_dir)`.

For a Task (tts/train/task.py) it builds the modules, one AdamW + schedule per optimiser group,
and runs optimiser steps until `max_steps`: gradient accumulation over `grad_accum` micro-batches,
bf16 autocast on CUDA, gradient clipping, and a guard that skips a step whose loss or gradient is
not finite (logging the utterances in it) and stops after `max_nonfinite` such steps in a row.

Every `checkpoint_every` steps and at the end it writes ckpt-<step>.pt and last.pt (keeping the
last `keep_last`), and best.pt whenever the validation loss improves. `train.max_minutes` ends a
stage early as if max_steps had been reached (final validation and checkpoint), without marking it
complete, so a later run with a larger budget resumes. SIGTERM or SIGINT (a cluster's preemption,
Ctrl-C) lets the current step finish, writes last.pt and raises TrainingStopped; a second signal
stops at once. A checkpoint holds:
    stage, step, recipe, modules, optimizers, schedulers, rng (one state per process), epoch,
    batch_in_epoch (micro-batches of that epoch consumed), versions, best_metric, elapsed,
    symbols, plus task.checkpoint_extras().
A restarted run loads last.pt (or the newest checkpoint that loads, tts/train/resume.py) and continues
with the same weights, optimiser and schedule state, random states and data position, so it reaches
the same weights as a run that was never killed.

Metrics go to metrics.jsonl (tts/train/metrics.py); restoring a run is tts/train/resume.py.
With torchrun (WORLD_SIZE > 1) every process trains on its shard of the batches under DDP and
only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import signal
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from tts.checkpoint import copy_checkpoint, remove_old_checkpoints, rng_state, save_checkpoint, set_rng_state, versions
from tts.config import TrainConfig, save_recipe
from tts.train.ddp import Distributed, setup_distributed, wrap_modules
from tts.train.metrics import LogWindow, MetricsWriter, format_duration, learning_rate
from tts.train.resume import Progress, start_or_resume
from tts.train.schedule import build_scheduler
from tts.train.step import autocast, optimizer_step
from tts.train.stopping import ignore_stop_signals, stop_signals, stopped
from tts.train.task import Task

log = logging.getLogger(__name__)

VALIDATION_METRIC = "loss"  # best.pt keeps the lowest validation value of this key


class NonFiniteError(RuntimeError):
    """Too many optimiser steps in a row had a non-finite loss or gradient."""


@dataclass
class Trainer:
    """Everything one training process holds."""

    task: Task
    config: TrainConfig
    run_dir: Path
    env: Distributed
    modules: dict[str, nn.Module]  # plain modules (validation, samples, checkpoints)
    wrapped: dict[str, nn.Module]  # what train_step sees (DDP-wrapped with several processes)
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR]
    groups: dict[str, list[str]]
    progress: Progress


def train(task: Task, run_dir: str | Path) -> Path:
    """Train `task` into `run_dir` (resuming from its newest checkpoint if any); returns run_dir.

    TrainingStopped when a SIGTERM or SIGINT stopped it (after writing last.pt).
    """
    run_dir = Path(run_dir)
    env = setup_distributed(task.recipe.device)
    try:
        trainer = _setup(task, run_dir, env)
        budget = trainer.config.max_minutes * 60
        if trainer.progress.step >= trainer.config.max_steps:
            log.info("%s: already trained to step %d (max_steps %d)", task.name, trainer.progress.step,
                     trainer.config.max_steps)
        elif budget and trainer.progress.elapsed >= budget:
            log.info("%s: already trained for %s at step %d (train.max_minutes %g); set a larger "
                     "train.max_minutes (or 0 = no limit) to go on", task.name,
                     format_duration(trainer.progress.elapsed), trainer.progress.step, trainer.config.max_minutes)
        else:
            _loop(trainer)
        env.barrier()
    finally:
        env.close()
    return run_dir


# ---------------------------------------------------------------------------- setup


def _setup(task: Task, run_dir: Path, env: Distributed) -> Trainer:
    config, recipe = task.train_config, task.recipe
    if recipe.threads:
        # on a busy CPU, fewer threads than cores avoids the spin-waits that slow every step
        torch.set_num_threads(recipe.threads)
        log.info("%s: %d CPU thread(s) (recipe key threads)", task.name, recipe.threads)
    if env.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        # the run folder's recipe; a stage that trains with a derived recipe names the run's own
        save_recipe(getattr(task, "run_recipe", None) or recipe, run_dir.parent / "recipe.yaml")
    torch.manual_seed(recipe.seed)  # the same initial weights in every process
    modules = {name: m.to(env.device) for name, m in task.build_modules().items()}
    groups = task.optimizer_groups()
    _check_groups(groups, modules)
    optimizers = {name: _adamw([modules[m] for m in names], config) for name, names in groups.items()}
    schedulers = {name: build_scheduler(opt, config.schedule, config.warmup_steps, config.max_steps)
                  for name, opt in optimizers.items()}
    progress = start_or_resume(task, run_dir, env, modules, optimizers, schedulers)
    for module in modules.values():
        module.train()
    wrapped = wrap_modules(modules, env, getattr(task, "find_unused_parameters", False))
    return Trainer(task, config, run_dir, env, modules, wrapped, optimizers, schedulers, groups, progress)


def _check_groups(groups: dict[str, list[str]], modules: dict[str, nn.Module]) -> None:
    owned = [m for names in groups.values() for m in names]
    unknown = sorted(set(owned) - set(modules))
    twice = sorted({m for m in owned if owned.count(m) > 1})
    if unknown or twice:
        raise ValueError(f"optimizer groups {groups} name unknown modules {unknown} or a module twice "
                         f"{twice}; modules are {sorted(modules)}")


def _adamw(modules: list[nn.Module], config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases, norms and scales)."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=config.lr, betas=config.betas)


# ---------------------------------------------------------------------------- loop


def _loop(t: Trainer) -> None:
    config, progress = t.config, t.progress
    stream = _batch_stream(t.task, progress.epoch, progress.batch_in_epoch, t.env, config.num_workers)
    writer = MetricsWriter(t.run_dir, t.env.is_main, progress.elapsed)
    window = LogWindow()  # training time only, not validation
    try:
        with stop_signals(t.task.name) as received:
            while progress.step < config.max_steps:
                if not _train_step(t, stream, window):
                    continue
                # one collective for both: every process ends after the same step
                out_of_time, stop = t.env.any_each([
                    bool(config.max_minutes) and writer.elapsed() >= config.max_minutes * 60, bool(received)])
                final = progress.step == config.max_steps or out_of_time
                number = received[0] if received else signal.SIGTERM  # another process may have received it
                if stop and not final:
                    _stop(t, writer, window, number)
                _after_step(t, writer, window, final)
                if stop:  # at the final step: its validation and checkpoints are written, then it stops
                    raise stopped(number, progress.step, t.run_dir / "last.pt")
                if out_of_time and progress.step < config.max_steps:
                    log.info("%s: train.max_minutes (%g) reached after %s, at step %d of %d; the stage ends here "
                             "(checkpoint %s); a run with a larger train.max_minutes resumes from it", t.task.name,
                             config.max_minutes, format_duration(progress.elapsed), progress.step,
                             config.max_steps, t.run_dir / "last.pt")
                    break
    finally:
        writer.close()


def _train_step(t: Trainer, stream: Iterator[tuple[int, int, Any]], window: LogWindow) -> bool:
    """One optimiser step over grad_accum micro-batches; False when it was skipped (not finite)."""
    progress = t.progress
    start = time.perf_counter()
    micro_batches = [next(stream) for _ in range(t.config.grad_accum)]
    progress.epoch, progress.batch_in_epoch = micro_batches[-1][0], micro_batches[-1][1] + 1
    logs, stepped = optimizer_step(t, [b for _, _, b in micro_batches])
    window.add_time(sum(t.task.batch_tokens(b) for _, _, b in micro_batches) * t.env.world_size,
                    time.perf_counter() - start)
    if not stepped:
        _count_nonfinite(t, [b for _, _, b in micro_batches])
        return False
    progress.nonfinite_in_a_row = 0
    progress.step += 1
    window.add_step(logs)
    return True


def _after_step(t: Trainer, writer: MetricsWriter, window: LogWindow, final: bool) -> None:
    """The log line, validation, checkpoints and samples due after a step (all of them at the final one)."""
    config, step = t.config, t.progress.step
    if step % config.log_every == 0 or final:
        _log_window(t, writer, window)
    improved = False
    if step % config.validate_every == 0 or final:
        improved = _validate(t, writer)
    if step % config.checkpoint_every == 0 or final or improved:
        t.progress.elapsed = writer.elapsed()
        _save(t, periodic=step % config.checkpoint_every == 0 or final, best=improved)
    if config.sample_every and (step % config.sample_every == 0 or final) and t.env.is_main:
        _write_samples(t)


def _stop(t: Trainer, writer: MetricsWriter, window: LogWindow, number: int) -> None:
    """After a stop signal: the log line of the steps since the last one, last.pt, then TrainingStopped.

    The validation, samples and numbered checkpoint due at this step are left out: a preempted job
    has seconds, not minutes. The resumed run goes on from this step.
    """
    if window.steps:
        _log_window(t, writer, window)
    t.progress.elapsed = writer.elapsed()
    last = t.run_dir / "last.pt"
    rng_states = t.env.gather(rng_state())  # collective: every process takes part
    if t.env.is_main:
        save_checkpoint(checkpoint_state(t, rng_states), last)
    raise stopped(number, t.progress.step, last)


def _log_window(t: Trainer, writer: MetricsWriter, window: LogWindow) -> None:
    """One train line in metrics.jsonl and in the log for the steps since the last, then a new window."""
    step, max_steps = t.progress.step, t.config.max_steps
    record = window.record()
    writer.write(step, "train", record)
    if t.env.is_main:  # rank 0's own loss; the others train alike
        log.info("%s step %d/%d  loss %.4f  lr %.2e  %.0f tok/s  ETA %s", t.task.name, step, max_steps,
                 record.get("loss", math.nan), learning_rate(record), record["tokens_per_second"],
                 format_duration(window.eta(max_steps - step)))
    window.clear()


def _batch_stream(task: Task, epoch: int, start: int, env: Distributed,
                  workers: int = 0) -> Iterator[tuple[int, int, Any]]:
    """(epoch, index, batch) from micro-batch `start` of `epoch` on, across epochs, without end.

    Batches that can be indexed are fetched by index (from `workers` loader processes if > 0).
    """
    while True:
        batches = task.train_batches(epoch, env.rank, env.world_size)
        if hasattr(batches, "__len__") and hasattr(batches, "__getitem__"):
            n = env.min(len(batches))  # every process must run the same number of steps
            indices = list(range(start, n))
            if workers > 0 and indices:
                # its own generator: the loader's worker seeds must not draw from the global
                # random state, or a resumed run would diverge from an uninterrupted one
                loader = torch.utils.data.DataLoader(batches, batch_size=None, sampler=indices,
                                                     num_workers=workers, generator=torch.Generator(),
                                                     worker_init_fn=ignore_stop_signals)
                items: Iterator[tuple[int, Any]] = zip(indices, loader)
            else:
                items = ((i, batches[i]) for i in indices)
        else:
            items = itertools.islice(enumerate(batches), start, None)
        produced = 0
        for index, batch in items:
            produced += 1
            yield epoch, index, batch
        if produced == 0 and start == 0:
            raise RuntimeError(f"stage {task.name} made no training batches in epoch {epoch} (process "
                               f"{env.rank} of {env.world_size}); is the training split empty, or "
                               f"smaller than one batch per process?")
        epoch, start = epoch + 1, 0


def _count_nonfinite(t: Trainer, batches: list[Any]) -> None:
    t.progress.nonfinite_in_a_row += 1
    ids = [i for b in batches for i in t.task.batch_ids(b)]
    log.warning("%s: step %d skipped: non-finite loss or gradient (%d in a row); utterances: %s",
                t.task.name, t.progress.step + 1, t.progress.nonfinite_in_a_row, " ".join(ids))
    if t.progress.nonfinite_in_a_row >= t.config.max_nonfinite:
        raise NonFiniteError(
            f"{t.task.name}: {t.progress.nonfinite_in_a_row} steps in a row had a non-finite loss or "
            f"gradient (train.max_nonfinite = {t.config.max_nonfinite}); stopped at step {t.progress.step}. "
            f"Last utterances: {' '.join(ids)}. Try a lower train.lr, a longer train.warmup_steps, "
            f"train.precision=fp32, or drop those utterances; a restart resumes from last.pt")


# ---------------------------------------------------------------------------- validation, saving


@contextlib.contextmanager
def _evaluating(modules: dict[str, nn.Module]) -> Iterator[None]:
    """Eval mode, no gradients, and the global random state untouched (so that validating or
    writing samples does not change what an uninterrupted run would do next)."""
    state = rng_state()
    for module in modules.values():
        module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module in modules.values():
            module.train()
        set_rng_state(state)


def _validate(t: Trainer, writer: MetricsWriter) -> bool:
    """Validation on rank 0; returns (on every rank) whether the validation loss improved."""
    improved = False
    if t.env.is_main:
        sums: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        with _evaluating(t.modules):
            for batch in t.task.validation_batches():
                with autocast(t.env.device, t.config.precision):
                    metrics = t.task.validate(t.modules, batch, t.env.device)
                for key, value in metrics.items():
                    sums[key] += float(value)
                    counts[key] += 1
        record = {key: sums[key] / counts[key] for key in sums}
        if record:
            writer.write(t.progress.step, "validation", record)
            log.info("%s validation at step %d: %s", t.task.name, t.progress.step,
                     "  ".join(f"{k} {v:.4f}" for k, v in sorted(record.items())))
        value = record.get(VALIDATION_METRIC, math.nan)
        improved = math.isfinite(value) and value < t.progress.best_metric
        if improved:
            t.progress.best_metric = value
    if t.env.active:
        improved, best = t.env.gather((improved, t.progress.best_metric))[0]
        t.progress.best_metric = best
    return improved


def checkpoint_state(t: Trainer, rng_states: list[Any]) -> dict[str, Any]:
    """The dict written to ckpt-<step>.pt, last.pt and best.pt."""
    p = t.progress
    state = {
        "stage": t.task.name, "step": p.step, "recipe": t.task.recipe.to_dict(),
        "modules": {name: m.state_dict() for name, m in t.modules.items()},
        "optimizers": {name: o.state_dict() for name, o in t.optimizers.items()},
        "schedulers": {name: s.state_dict() for name, s in t.schedulers.items()},
        "rng": rng_states, "epoch": p.epoch, "batch_in_epoch": p.batch_in_epoch,
        "versions": versions(), "best_metric": p.best_metric, "elapsed": p.elapsed,
    }
    try:
        from tts.text.symbols import SYMBOLS

        state["symbols"] = list(SYMBOLS)
    except ImportError:
        log.warning("tts.text.symbols is missing: checkpoint written without the phone inventory")
    state.update(t.task.checkpoint_extras())
    return state


def _save(t: Trainer, periodic: bool, best: bool) -> None:
    rng_states = t.env.gather(rng_state())  # collective: every process takes part
    if not t.env.is_main:
        return
    state = checkpoint_state(t, rng_states)
    if periodic:
        path = t.run_dir / f"ckpt-{t.progress.step}.pt"
        save_checkpoint(state, path)
        copy_checkpoint(path, t.run_dir / "last.pt")
        remove_old_checkpoints(t.run_dir, t.config.keep_last, t.progress.step)
        if best:
            copy_checkpoint(path, t.run_dir / "best.pt")
    elif best:
        save_checkpoint(state, t.run_dir / "best.pt")


def _write_samples(t: Trainer) -> None:
    folder = t.run_dir / "samples" / f"step-{t.progress.step}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with _evaluating(t.modules):
            t.task.write_samples(t.modules, folder, t.progress.step, t.env.device)
    except Exception:  # a failed sample must not end a long run; the traceback says why
        log.exception("%s: writing samples at step %d failed", t.task.name, t.progress.step)
