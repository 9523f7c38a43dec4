"""Shared helpers for the alignment tests: textured radiance and brackets with known motion."""

from __future__ import annotations

from typing import List, Tuple

import cv2
import numpy as np

from selfhdr.camera import hdr_to_ldr

STOPS = (0.0, 2.0, 4.0)
TIMES = np.power(2.0, STOPS)


def texture(h: int, w: int, seed: int, cell: int = 6) -> np.ndarray:
    """A smooth random RGB texture in [0, 1] (H×W×3 float32) with detail at several scales."""
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w, 3), np.float32)
    for c, amp in ((cell * 4, 1.0), (cell, 0.6), (max(2, cell // 2), 0.3)):
        grid = rng.random((h // c + 2, w // c + 2, 3)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    out -= out.min()
    return out / out.max()


def shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``img`` translated by (dx, dy): ``out(x) = img(x - d)``, edges replicated."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)


def bracket(radiances: List[np.ndarray], times: np.ndarray = TIMES,
            noise: float = 0.0, seed: int = 0) -> Tuple[List[np.ndarray], np.ndarray]:
    """Render one LDR frame per radiance map at ``times`` (gamma 2.2, optional Gaussian noise)."""
    rng = np.random.default_rng(seed)
    ldrs = []
    for rad, t in zip(radiances, times):
        lin = rad * t + (rng.normal(0, noise, rad.shape) if noise else 0.0)
        ldrs.append(hdr_to_ldr(np.clip(lin, 0, None) / t, t).astype(np.float32))
    return ldrs, np.asarray(times, np.float64)
