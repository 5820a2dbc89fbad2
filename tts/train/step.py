"""One optimiser step of the engine: forward and backward over the micro-batches under autocast,
gradient clipping, and a step only where the loss and the gradient are finite."""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import torch

from tts.train.ddp import no_sync

if TYPE_CHECKING:
    from tts.train.engine import Trainer


def optimizer_step(t: Trainer, batches: list[Any]) -> tuple[dict[str, float], bool]:
    """Forward and backward over the micro-batches, then step each optimiser; (logs, all stepped)."""
    for optimizer in t.optimizers.values():
        optimizer.zero_grad(set_to_none=True)
    params = {name: [p for m in names for p in t.modules[m].parameters() if p.requires_grad]
              for name, names in t.groups.items()}
    logs: dict[str, list[float]] = defaultdict(list)
    finite = {name: True for name in t.optimizers}
    all_stepped = True
    scale = 1.0 / len(batches)
    for j, batch in enumerate(batches):
        last = j == len(batches) - 1
        with no_sync(t.wrapped, skip=not last):
            steps = t.task.train_step(t.wrapped, batch, t.progress.step, t.env.device)
            while True:
                with autocast(t.env.device, t.config.precision):
                    item = next(steps, None)
                if item is None:
                    break
                name, loss, scalars = item
                for key, value in scalars.items():
                    logs[key].append(float(value))
                finite[name] &= bool(torch.isfinite(loss.detach()).all())
                _backward(loss * scale, params, name)
                if last:
                    all_stepped &= _step_optimizer(t, name, params[name], finite[name], logs)
    return {key: sum(v) / len(v) for key, v in logs.items()}, all_stepped


def _backward(loss: torch.Tensor, params: dict[str, list[torch.Tensor]], name: str) -> None:
    """loss.backward() that leaves the gradients of other optimisers' parameters as they were
    (a generator loss reaches the discriminator's weights; those gradients must not count)."""
    others = [p for other, ps in params.items() if other != name for p in ps]
    saved = [p.grad for p in others]
    for p in others:
        p.grad = None
    loss.backward()
    for p, grad in zip(others, saved):
        p.grad = grad


def _step_optimizer(t: Trainer, name: str, params: list[torch.Tensor], loss_finite: bool,
                    logs: dict[str, list[float]]) -> bool:
    """Clip, check and step one optimiser; False (and no step) when anything was not finite."""
    max_norm = t.config.grad_clip if t.config.grad_clip > 0 else math.inf
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm) if params else torch.tensor(0.0)
    bad = t.env.any(not loss_finite or not bool(torch.isfinite(norm)))
    if bad:
        t.optimizers[name].zero_grad(set_to_none=True)
        return False
    suffix = f"_{name}" if len(t.optimizers) > 1 else ""
    logs["grad_norm" + suffix].append(float(norm))
    logs["lr" + suffix].append(t.optimizers[name].param_groups[0]["lr"])  # the rate of this update
    t.optimizers[name].step()
    t.schedulers[name].step()
    return True


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (precision auto or bf16) or when asked for on CPU; else nothing."""
    use = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use)
