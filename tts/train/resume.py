"""Starting a training run: resuming from the newest checkpoint, or a new run (from train.init_from's weights).

A resumed run gets back the weights, the optimiser and schedule state, its Progress (step, data
position, best validation loss, time) and the random state of each process, so it reaches the same
weights as a run that was never stopped. It resumes from last.pt, or, when last.pt is missing or
cannot be read, from the newest ckpt-<step>.pt that can (tts.checkpoint.newest_readable); a stage
folder whose checkpoints all fail to load stops with an error rather than starting over them.
Either way metrics.jsonl is cut back to the step training goes on from.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tts.checkpoint import load_checkpoint, newest_readable, set_rng_state
from tts.train.ddp import Distributed
from tts.train.metrics import forget_metrics_after
from tts.train.task import Task

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint."""

    step: int = 0  # optimiser steps done
    epoch: int = 0
    batch_in_epoch: int = 0  # micro-batches of `epoch` consumed
    best_metric: float = math.inf
    elapsed: float = 0.0  # seconds of training before this process started
    nonfinite_in_a_row: int = 0


def start_or_resume(task: Task, run_dir: Path, env: Distributed, modules: dict[str, nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer],
                    schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR]) -> Progress:
    """Resume from the newest checkpoint in run_dir that loads; else a new run (from train.init_from's
    weights if set). metrics.jsonl keeps only the lines up to the step training goes on from."""
    found = newest_readable(run_dir) if run_dir.is_dir() else None
    if found is None:
        if task.train_config.init_from:
            init_weights(Path(task.train_config.init_from), task.name, modules)
        seed_process(task.recipe.seed, env.rank)
        progress = Progress()
    else:
        path, checkpoint = found
        if hasattr(task, "check_resume"):  # e.g. the AR and NAR: the codes must be the ones they learned
            task.check_resume(checkpoint, path)
        progress = resume(checkpoint, modules, optimizers, schedulers, env, str(path))
        log.info("%s: resuming from %s at step %d", task.name, path, progress.step)
    if env.is_main:
        forget_metrics_after(run_dir / "metrics.jsonl", progress.step)
    return progress


def resume(checkpoint: dict[str, Any], modules: dict[str, nn.Module],
           optimizers: dict[str, torch.optim.Optimizer],
           schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR], env: Distributed,
           source: str = "last.pt") -> Progress:
    """Load a checkpoint's weights, optimiser and schedule states and random state; its Progress."""
    load_modules(checkpoint, modules, source, "move the stage folder away to start afresh")
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(checkpoint["optimizers"][name])
    for name, scheduler in schedulers.items():
        resume_schedule(name, scheduler, checkpoint["schedulers"][name], checkpoint["step"])
    progress = Progress(step=checkpoint["step"], epoch=checkpoint["epoch"],
                        batch_in_epoch=checkpoint["batch_in_epoch"], best_metric=checkpoint["best_metric"],
                        elapsed=checkpoint.get("elapsed", 0.0))
    states = checkpoint["rng"]
    if len(states) != env.world_size:
        log.warning("checkpoint has random states of %d processes, this run has %d: data order is kept "
                    "but dropout differs from an uninterrupted run", len(states), env.world_size)
        seed_process(checkpoint["step"], env.rank)
    else:
        set_rng_state(states[env.rank])
    return progress


FRESH_FROM_EXPORT = {"discriminator"}  # modules train.init_from may lack: exports leave them out


def init_weights(path: Path, stage: str, modules: dict[str, nn.Module]) -> None:
    """Start a new run from the weights of a checkpoint of the same stage (train.init_from)."""
    if not path.is_file():
        raise FileNotFoundError(f"{stage}.train.init_from: {path} does not exist")
    checkpoint = load_checkpoint(path)
    if checkpoint.get("stage") != stage:
        raise ValueError(f"{stage}.train.init_from: {path} is a checkpoint of stage "
                         f"{checkpoint.get('stage')!r}, not {stage!r}")
    fresh = sorted(set(modules) & FRESH_FROM_EXPORT - set(checkpoint["modules"]))
    if fresh:  # an exported checkpoint keeps what synthesis needs: the generator, not its discriminator
        log.warning("%s.train.init_from: %s has no %s (an export); %s starts afresh", stage, path,
                    " or ".join(fresh), " and ".join(fresh))
    load_modules(checkpoint, {k: m for k, m in modules.items() if k not in fresh}, f"{stage}.train.init_from: {path}")
    log.info("%s: weights from %s (its step %s); optimiser and schedule start afresh", stage, path,
             checkpoint.get("step"))


def load_modules(checkpoint: dict[str, Any], modules: dict[str, nn.Module], source: str, advice: str = "") -> None:
    """Every module's weights from a checkpoint, strictly (a missing module or shape is an error)."""
    missing = sorted(set(modules) - set(checkpoint["modules"]))
    if missing:
        raise ValueError(f"{source} has no weights for modules {missing}; it belongs to another stage or "
                         f"version{': ' + advice if advice else ''}")
    for name, module in modules.items():
        module.load_state_dict(checkpoint["modules"][name])


def seed_process(seed: int, rank: int) -> None:
    """Seed python, numpy and torch with seed + rank."""
    random.seed(seed + rank)
    np.random.seed(seed + rank)
    torch.manual_seed(seed + rank)  # dropout differs between processes, as it should


def resume_schedule(name: str, scheduler: torch.optim.lr_scheduler.LambdaLR, state: dict[str, Any],
                    step: int) -> None:
    """Restore the update count of a schedule, but follow the recipe's rate and schedule.

    A LambdaLR's state carries its factor's settings and peak rates, so loading it alone would keep
    the old schedule silently when the recipe changed (a cosine decay or a longer max_steps set
    before resuming); here the recipe wins, from the resumed step on, and the change is logged.
    """
    wanted = [dict(f.__dict__) for f in scheduler.lr_lambdas], list(scheduler.base_lrs)
    scheduler.load_state_dict(state)
    saved = [dict(f.__dict__) for f in scheduler.lr_lambdas], list(scheduler.base_lrs)
    if saved == wanted:
        return
    log.info("%s: the recipe's learning-rate schedule (%s) differs from the checkpoint's (%s); following the "
             "recipe from step %d", name, _describe_schedule(*wanted), _describe_schedule(*saved), step)
    for factor, settings in zip(scheduler.lr_lambdas, wanted[0]):
        factor.__dict__.update(settings)
    scheduler.base_lrs = wanted[1]
    for group, base, factor in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
        group["initial_lr"], group["lr"] = base, base * factor(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]


def _describe_schedule(factors: list[dict], peaks: list[float]) -> str:
    """"cosine, warmup 200, max_steps 8000, peak 0.0005" (the first parameter group's)."""
    f = factors[0]
    return f"{f['schedule']}, warmup {f['warmup_steps']}, max_steps {f['max_steps']}, peak {peaks[0]:g}"
