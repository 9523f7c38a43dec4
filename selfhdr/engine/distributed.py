"""Distributed training helpers (``torchrun``; NCCL on CUDA, Gloo on the CPU).

Every collective goes through this module and runs under the process group's timeout, so a
process whose peer died raises instead of waiting forever. Without ``torchrun`` (no
``WORLD_SIZE`` in the environment) everything degrades to single-process no-ops.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Optional

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: Optional[str] = None

    @property
    def enabled(self) -> bool:
        """True when running under a process group of more than one process."""
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs, validates, writes checkpoints and prepares data."""
        return self.rank == 0


SINGLE = DistInfo()
_TIMEOUT = datetime.timedelta(minutes=30)


def init_distributed(timeout_s: float = 1800.0) -> DistInfo:
    """Join the ``torchrun`` process group if there is one (idempotent)."""
    global _TIMEOUT
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    _TIMEOUT = datetime.timedelta(seconds=timeout_s)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if not dist.is_initialized():
        # NCCL only honours the timeout with asynchronous error handling switched on.
        os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend, timeout=_TIMEOUT, rank=rank, world_size=world)
    return DistInfo(rank, world, local, backend)


def device_for(info: DistInfo, preferred: torch.device) -> torch.device:
    """This rank's device: its own GPU under NCCL, else ``preferred``."""
    if info.enabled and info.backend == "nccl":
        return torch.device("cuda", info.local_rank)
    return preferred


def barrier(info: DistInfo) -> None:
    """Wait for every rank, failing after the group timeout instead of hanging."""
    if not info.enabled:
        return
    if info.backend == "gloo":
        dist.monitored_barrier(timeout=_TIMEOUT, wait_all_ranks=True)
    else:
        dist.barrier()


def all_mean(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over ranks (a copy; the input is untouched)."""
    if not info.enabled:
        return x
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y / info.world


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True if ``flag`` is true on any rank (so all ranks take the same branch)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def cleanup(info: DistInfo) -> None:
    """Leave the process group."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
