"""Multi-process training through torchrun: process group, device, DDP wrapping, small collectives.

torchrun sets WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in each process; with
WORLD_SIZE > 1 we join the process group (nccl on CUDA, gloo on CPU). One process is the same
code with every collective a no-op. Rank 0 writes files; every rank runs the same steps.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from tts.device import resolve_device

log = logging.getLogger(__name__)


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # this object started the process group and ends it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is True on any rank."""
        return self.any_each([flag])[0]

    def any_each(self, flags: list[bool]) -> list[bool]:
        """Each flag True on every rank when it is True on any rank (one collective for all of them)."""
        if not self.active:
            return [bool(flag) for flag in flags]
        value = torch.tensor([float(flag) for flag in flags], device=self._collective_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return [v > 0 for v in value.tolist()]

    def min(self, number: int) -> int:
        """The smallest `number` over ranks."""
        if not self.active:
            return number
        value = torch.tensor([number], dtype=torch.long, device=self._collective_device())
        dist.all_reduce(value, op=dist.ReduceOp.MIN)
        return int(value.item())

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, in rank order (on every rank)."""
        if not self.active:
            return [obj]
        result: list[Any] = [None] * self.world_size
        dist.all_gather_object(result, obj)
        return result

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()

    def _collective_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


def setup_distributed(device_setting: str) -> Distributed:
    """Join the torchrun process group when WORLD_SIZE > 1 and pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed(device=resolve_device(device_setting))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = resolve_device(device_setting)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    log.info("process %d of %d on %s", rank, world_size, device)
    return Distributed(rank, world_size, device, owns)


def wrap_modules(modules: dict[str, nn.Module], env: Distributed,
                 find_unused_parameters: bool = False) -> dict[str, nn.Module]:
    """DDP around every module with trainable parameters (unchanged in a single process)."""
    if not env.active:
        return dict(modules)
    wrapped = {}
    for name, module in modules.items():
        if any(p.requires_grad for p in module.parameters()):
            device_ids = [env.device.index] if env.device.type == "cuda" else None
            module = DistributedDataParallel(module, device_ids=device_ids,
                                             find_unused_parameters=find_unused_parameters)
        wrapped[name] = module
    return wrapped


@contextlib.contextmanager
def no_sync(modules: dict[str, nn.Module], skip: bool) -> Iterator[None]:
    """Accumulate gradients locally (no all-reduce) in every DDP module when `skip` is True."""
    with contextlib.ExitStack() as stack:
        if skip:
            for module in modules.values():
                if isinstance(module, DistributedDataParallel):
                    stack.enter_context(module.no_sync())
        yield
