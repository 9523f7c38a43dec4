"""Tonemapping: the μ-law range compressor used by every loss and metric, and a display curve.

Both accept NumPy arrays and torch tensors, so losses, metrics and previews share one formula.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

MU = 5000.0
"""μ of the μ-law tonemapper: SelfHDR, AHDRNet and Kalantari et al. all use 5000."""

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def mu_law(x: Array, mu: float = MU) -> Array:
    """μ-law tonemap T(x) = log(1 + μx) / log(1 + μ) (x ≥ 0 linear HDR, 1 ↦ 1).

    The expression is kept literally as the published SelfHDR code writes it (NumPy
    ``np.log(1 + 5000 * x) / np.log(1 + 5000)``, torch ``torch.log(1 + mu * x) /
    math.log(1 + mu)``) so that metrics reproduce its numbers to the last bit.
    """
    if isinstance(x, torch.Tensor):
        return torch.log(1 + mu * x) / math.log(1 + mu)
    return np.log(1 + mu * x) / np.log(1 + mu)


def display_tonemap(hdr: np.ndarray, percentile: float = 99.0, gamma: float = 2.2) -> np.ndarray:
    """Display tonemap (global Reinhard after exposure normalisation), H×W×3 float in [0, 1].

    The image is scaled so that the given luminance percentile maps to 1, compressed by
    Reinhard's x / (1 + x) with white point 1.5 (so that level still reaches ~0.9),
    and gamma-encoded. Good for eyeballing results whose brightness range varies a lot.
    """
    hdr = np.nan_to_num(np.maximum(np.asarray(hdr, dtype=np.float32), 0.0))
    lum = 0.2126 * hdr[..., 0] + 0.7152 * hdr[..., 1] + 0.0722 * hdr[..., 2]
    scale = float(np.percentile(lum, percentile)) if lum.size else 0.0
    x = hdr / scale if scale > 0 else hdr
    white = 1.5
    y = x * (1 + x / white**2) / (1 + x)
    return np.clip(y, 0.0, 1.0) ** (1.0 / gamma)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """[0, 1] float image → uint8, rounding to nearest (NaN becomes 0)."""
    img = np.nan_to_num(np.asarray(img, dtype=np.float32))
    return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
