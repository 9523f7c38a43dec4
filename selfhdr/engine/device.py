"""Device, thread and determinism settings, in one place."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import random
import sys
from typing import FrozenSet, Optional, Tuple

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


# CPU flags of fast bf16 matrix maths (Linux /proc/cpuinfo names), strongest first.
_BF16_FLAGS = (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16"))


def _cpu_flags(path: str = "/proc/cpuinfo") -> Optional[FrozenSet[str]]:
    """The ``flags`` of the first CPU in /proc/cpuinfo; None where there is none (not Linux)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return None


def bf16_support(device: torch.device) -> Tuple[bool, str]:
    """Whether ``device`` runs bf16 matrix maths fast, and why (a phrase for the log).

    CUDA: ``torch.cuda.is_bf16_supported`` without emulation (Ampere or newer). CPU: the
    ``amx_bf16`` or ``avx512_bf16`` flag in /proc/cpuinfo; without that file, torch's CPU
    capability when it names AMX or BF16; anything unknown counts as no, since emulated bf16
    is slower than fp32 (an AVX2-only CPU converts every element).
    """
    if device.type == "cuda":
        try:
            fast = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # older torch: no emulation argument
            fast = torch.cuda.is_bf16_supported()
        return (True, "GPU supports bf16") if fast else (False, "no native bf16 on this GPU")
    if device.type != "cpu":
        return False, f"bf16 speed unknown on {device.type}"
    flags = _cpu_flags()
    if flags is not None:
        for flag, name in _BF16_FLAGS:
            if flag in flags:
                return True, f"CPU has {name}"
        return False, "no fast bf16 on this CPU"
    capability = str(torch.backends.cpu.get_cpu_capability()).upper()
    if "AMX" in capability or "BF16" in capability:
        return True, f"CPU capability {capability}"
    return False, f"no fast bf16 known for CPU capability {capability}"


def fast_bf16(device: torch.device) -> bool:
    """True where bf16 autocast speeds training up on ``device`` (see :func:`bf16_support`)."""
    return bf16_support(device)[0]


def resolve_amp(amp: str, device: torch.device) -> str:
    """``train.amp`` as run: 'auto' → 'bf16' where :func:`fast_bf16`, else 'off'; others as given."""
    if amp == "auto":
        return "bf16" if fast_bf16(device) else "off"
    return amp


def is_cnn(net: torch.nn.Module) -> bool:
    """A purely convolutional network (convolutions, no linear layers or normalised tokens)."""
    kinds = tuple(type(m) for m in net.modules())
    tokens = (torch.nn.Linear, torch.nn.LayerNorm, torch.nn.MultiheadAttention)
    return any(issubclass(k, torch.nn.Conv2d) for k in kinds) and not any(issubclass(k, tokens) for k in kinds)


def resolve_channels_last(setting: object, device: torch.device, net: torch.nn.Module, amp: str) -> bool:
    """``train.channels_last`` as run: 'auto' → on for a CNN trained on the CPU.

    The channels-last oneDNN kernels pay there in bf16 (``scripts/benchmark.py``: AHDRNet
    bf16-cl 4.7× fp32 at the paper's batch) and in fp32 (AHDRNet 1.32× at the paper's batch on
    a Xeon, the demo's network 1.23× on an AVX2 EPYC); they round differently from the default
    layout, which the stage's log line says. The transformers reshape tokens, where
    channels-last gains ≤ 1.05×; CUDA keeps cuDNN's default choice.
    """
    if setting == "auto":
        return device.type == "cpu" and is_cnn(net)
    return bool(setting)


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
