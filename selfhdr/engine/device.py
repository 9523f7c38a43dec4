"""Device, thread and determinism settings, in one place."""

from __future__ import annotations

import os
import random
from typing import Optional

import numpy as np
import torch

from ..errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' → CUDA when present, else CPU; 'cpu', 'cuda', 'cuda:1' as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"device: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available (use 'auto' or 'cpu')")
    return dev


def setup_runtime(seed: int, deterministic: bool = False, threads: Optional[int] = None) -> None:
    """Seed every RNG, set the thread count (default: all cores) and optionally determinism."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if threads is not None:
        torch.set_num_threads(max(1, threads))
    else:
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def step_seed(seed: int, stage: str, step: int, rank: int = 0) -> int:
    """The seed of one training step: stochastic losses depend only on (seed, stage, step, rank)."""
    h = 1469598103934665603
    for part in (str(seed), stage, str(step), str(rank)):
        for ch in part.encode() + b"|":
            h = ((h ^ ch) * 1099511628211) % 2**64
    return h % 2**63
