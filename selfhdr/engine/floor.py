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


def winograd_conv3x3(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A 3×3, stride-1, padding-1 convolution by Winograd's F(2×2, 3×3) (Lavin & Gray 2016).

    The minimal-filtering route below the direct-MAC floor: each 4×4 input tile (stride 2)
    becomes ``Bᵀ d B``, each filter ``G g Gᵀ``, their 16 element-wise products are 16 batched
    matrix products over channels (2.25× fewer multiplies than direct), and ``Aᵀ m A`` gives
    the 2×2 outputs. Written in torch operations to measure whether it pays from Python;
    ``x`` is B×C×H×W with even H and W, ``weight`` K×C×3×3; no bias.
    """
    b, c, h, w = x.shape
    k = weight.shape[0]
    if h % 2 or w % 2 or weight.shape[1:] != (c, 3, 3):
        raise ValueError(f"expected even H, W and a K×{c}×3×3 weight, got {tuple(x.shape)}, {tuple(weight.shape)}")
    g = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]], dtype=x.dtype,
                     device=x.device)
    u = torch.einsum("ai,kcij,bj->abkc", g, weight, g).reshape(16, k, c)
    v = winograd_input_transform(_tiles(x)).permute(0, 1, 3, 2, 4, 5).reshape(16, c, -1)  # 16,C,B·h/2·w/2
    m = torch.bmm(u, v).reshape(4, 4, k, b, h // 2, w // 2)
    # Aᵀ m A with Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]], rows then columns
    r = torch.stack([m[0] + m[1] + m[2], m[1] - m[2] - m[3]])  # 2,4,K,B,h/2,w/2
    y = torch.stack([r[:, 0] + r[:, 1] + r[:, 2], r[:, 1] - r[:, 2] - r[:, 3]], 1)  # 2,2,K,B,h/2,w/2
    return y.permute(3, 2, 4, 0, 5, 1).reshape(b, k, h, w)


def _tiles(x: torch.Tensor) -> torch.Tensor:
    """The overlapping 4×4 tiles (stride 2) of ``x`` padded by 1: B×C×H/2×W/2×4×4, a view."""
    return torch.nn.functional.pad(x, (1, 1, 1, 1)).unfold(2, 4, 2).unfold(3, 4, 2)


def winograd_input_transform(t: torch.Tensor) -> torch.Tensor:
    """``Bᵀ d B`` of every 4×4 tile of ``t`` (…×4×4), by additions; shape 4×4×… (the 16 terms first),
    with Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]."""
    rows = [t[..., 0, :] - t[..., 2, :], t[..., 1, :] + t[..., 2, :],
            t[..., 2, :] - t[..., 1, :], t[..., 1, :] - t[..., 3, :]]
    out = torch.empty((4, 4) + t.shape[:-2], dtype=t.dtype, device=t.device)
    for i, a in enumerate(rows):
        out[i, 0] = a[..., 0] - a[..., 2]
        out[i, 1] = a[..., 1] + a[..., 2]
        out[i, 2] = a[..., 2] - a[..., 1]
        out[i, 3] = a[..., 1] - a[..., 3]
    return out


def _best_seconds(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def winograd_probe(channels: int = 64, size: int = 256, repeats: int = 3,
                   threads: Optional[int] = None) -> dict:
    """Time one channels→channels 3×3 layer (AHDRNet's width) at size², fp32, three ways.

    ``direct_seconds``: ``F.conv2d`` (oneDNN); ``winograd_seconds``: :func:`winograd_conv3x3`;
    ``winograd_gemm_seconds``: its 16 batched matrix products alone (the part with 2.25×
    fewer multiplies); ``winograd_transform_seconds``: its input transform alone. Also the
    max |Δ| between the two outputs.
    """
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(1, channels, size, size, generator=gen)
        wt = (torch.rand(channels, channels, 3, 3, generator=gen) - 0.5) * 0.1
        with torch.no_grad():
            ref = torch.nn.functional.conv2d(x, wt, padding=1)
            diff = float((winograd_conv3x3(x, wt) - ref).abs().max())
            u = torch.rand(16, channels, channels, generator=gen)
            v = torch.rand(16, channels, (size // 2) ** 2, generator=gen)
            tiles = _tiles(x)
            return {
                "channels": channels, "size": size,
                "direct_seconds": _best_seconds(lambda: torch.nn.functional.conv2d(x, wt, padding=1), repeats),
                "winograd_seconds": _best_seconds(lambda: winograd_conv3x3(x, wt), repeats),
                "winograd_gemm_seconds": _best_seconds(lambda: torch.bmm(u, v), repeats),
                "winograd_transform_seconds": _best_seconds(lambda: winograd_input_transform(tiles), repeats),
                "max_abs_diff": diff,
            }
    finally:
        torch.set_num_threads(old)
