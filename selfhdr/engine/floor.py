"""The arithmetic floor of an inference: a backbone's multiply-accumulates over this CPU's peak.

``macs(model, h, w)`` counts the forward's multiply-accumulates with PyTorch's FLOP counter
(``torch.utils.flop_counter``: convolutions, matrix products, attention) on a small input
and scales by the pixel count: every counted operation of the four backbones is
convolutional or windowed, so its cost is linear in the output pixels. ``gemm_gflops``
measures what this machine's cores sustain on a large fp32 matrix product (the best of a
few repeats, with the threads the forward uses): the practical peak, since the fastest
convolution kernels are built on the same register-blocked inner loop. The floor of a
forward is then ``2 · MACs / peak``; ``scripts/benchmark.py`` reports measured s/MP against it.
"""

from __future__ import annotations

import time
from typing import Optional

import torch
from torch import nn

PROBE = 128
"""Side of the input the FLOP counter runs on (divisible by every backbone's size divisor)."""


def macs(model: nn.Module, height: int, width: int, probe: int = PROBE) -> float:
    """Multiply-accumulates of one forward of ``model`` on a ``height``×``width`` bracket."""
    from torch.utils.flop_counter import FlopCounterMode

    x = [torch.zeros(1, 6, probe, probe) for _ in range(3)]
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*x)
    return counter.get_total_flops() / 2.0 * (height * width) / (probe * probe)


def gemm_gflops(threads: Optional[int] = None, n: int = 2048, repeats: int = 5) -> float:
    """Sustained fp32 GFLOP/s of an ``n``×``n`` matrix product on this machine (best repeat)."""
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(0)
        a, b = torch.rand(n, n, generator=g), torch.rand(n, n, generator=g)
        torch.mm(a, b)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t0)
        return 2.0 * n**3 / best / 1e9
    finally:
        torch.set_num_threads(old)


def floor_seconds(model_macs: float, gflops: float) -> float:
    """Seconds a forward of ``model_macs`` needs at ``gflops`` sustained."""
    return 2.0 * model_macs / (gflops * 1e9)
