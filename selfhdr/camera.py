"""The camera model shared by data, alignment, baselines and losses.

LDR values are in [0, 1]; the camera response is treated as gamma 2.2 (Kalantari et al.,
SelfHDR); linear radiance is in units where exposure time t = 1 saturates at 1. Every
function accepts NumPy arrays and torch tensors alike (channels last for NumPy images,
B×C×H×W for tensors; the formulas are element-wise).
"""

from __future__ import annotations

from typing import Sequence, Tuple, TypeVar

import numpy as np
import torch

GAMMA = 2.2
"""Camera response exponent: linear = LDR ** GAMMA / t."""

EPS_T = 1e-8
"""Added to t when dividing, exactly as the published SelfHDR ``ldr_to_hdr`` does."""

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def ldr_to_hdr(ldr: Array, t: float | Array, gamma: float = GAMMA) -> Array:
    """Linearise an LDR image taken with exposure time ``t``: ``ldr ** gamma / t``."""
    return ldr**gamma / (t + EPS_T)


def hdr_to_ldr(hdr: Array, t: float | Array, gamma: float = GAMMA) -> Array:
    """Render linear radiance at exposure time ``t``: ``clip(hdr · t, 0, 1) ** (1 / gamma)``."""
    if isinstance(hdr, torch.Tensor):
        return (hdr * t).clamp(0.0, 1.0) ** (1.0 / gamma)
    return np.clip(hdr * t, 0.0, 1.0) ** (1.0 / gamma)


def match_exposure(ldr: Array, t_from: float, t_to: float, gamma: float = GAMMA) -> Array:
    """Re-expose an LDR image from ``t_from`` to ``t_to`` through the linear domain (clipped)."""
    return hdr_to_ldr(ldr_to_hdr(ldr, t_from, gamma), t_to, gamma)


def frame_input(ldr: Array, t: float | Array, gamma: float = GAMMA) -> Array:
    """The 6-channel network input of one frame, linear first: ``[ldr**γ / t, ldr]``.

    NumPy images are H×W×3 (channels last, output H×W×6); tensors are (B×)3×H×W with the
    channel axis third from the end (output (B×)6×H×W).
    """
    lin = ldr_to_hdr(ldr, t, gamma)
    if isinstance(ldr, torch.Tensor):
        return torch.cat([lin, ldr], dim=-3)
    return np.concatenate([lin, ldr], axis=-1)


def triangle_weights(ref: Array) -> Tuple[Array, Array, Array]:
    """SelfHDR's triangle weights (short, reference, long) on the reference LDR value r.

    Below r = 0.5 (the reference is dark): short 0, reference 2r, long 1 − 2r.
    From 0.5 up (the reference nears saturation): short 2r − 1, reference 2 − 2r, long 0.
    The three weights sum to 1 everywhere.
    """
    low = ref < 0.5
    zero = ref * 0
    w_short = _where(low, zero, 2 * ref - 1)
    w_ref = _where(low, 2 * ref, 2 - 2 * ref)
    w_long = _where(low, 1 - 2 * ref, zero)
    return w_short, w_ref, w_long


def reference_weight(ref: Array) -> Array:
    """The reference frame's triangle weight w = 2r below 0.5, 2 − 2r above (SelfHDR's mask)."""
    return triangle_weights(ref)[1]


def triangle_merge(linears: Sequence[Array], ref_ldr: Array) -> Array:
    """Merge three linear frames (short, reference, long) with the triangle weights."""
    if len(linears) != 3:
        raise ValueError(f"triangle_merge needs 3 frames, got {len(linears)}")
    w = triangle_weights(ref_ldr)
    return w[0] * linears[0] + w[1] * linears[1] + w[2] * linears[2]


def _where(cond: Array, a: Array, b: Array) -> Array:
    if isinstance(cond, torch.Tensor):
        return torch.where(cond, a, b)
    return np.where(cond, a, b)
