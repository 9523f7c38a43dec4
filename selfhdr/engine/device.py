"""Device, thread and determinism settings, in one place."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import random
import sys
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


# glibc mallopt() parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# mallopt takes an int: the largest trim threshold it accepts (2 GiB - 1).
_TRIM_THRESHOLD = 2**31 - 1
_malloc_state: Optional[bool] = None


def keep_freed_memory() -> bool:
    """Make glibc malloc keep freed memory for reuse instead of returning it to the kernel.

    By default glibc serves every block above 32 MB (a feature map of a large image) with its
    own ``mmap`` and unmaps it on ``free``; the next layer's buffer then faults in and zeroes
    fresh pages. On 1000×1500 inputs that costs tens of seconds of system time per forward.
    ``M_MMAP_MAX = 0`` serves large blocks from the heap and a 2 GiB trim threshold keeps the
    freed heap mapped, for the same effect as launching with ``MALLOC_MMAP_MAX_=0
    MALLOC_TRIM_THRESHOLD_=...`` (peak RSS rises a little: freed blocks are reused, not
    returned). Idempotent; a no-op returning False off glibc or with
    ``SELFHDR_DEFAULT_MALLOC=1`` set (for measuring the default); True once applied.
    """
    global _malloc_state
    if _malloc_state is not None:
        return _malloc_state
    _malloc_state = False
    if not sys.platform.startswith("linux") or os.environ.get("SELFHDR_DEFAULT_MALLOC") == "1":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        if not hasattr(libc, "gnu_get_libc_version"):
            return False  # musl and others have no mallopt semantics to rely on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _malloc_state = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    return _malloc_state


def default_threads() -> int:
    """All cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def setup_runtime(seed: int, deterministic: bool = False, threads: Optional[int] = None) -> None:
    """Seed every RNG, set the thread count (default: all cores), keep freed memory
    (:func:`keep_freed_memory`) and optionally determinism."""
    keep_freed_memory()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, threads) if threads is not None else default_threads())
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
