"""MATLAB's ``imresize(A, [M N])`` for 2-D double arrays: bicubic with antialiasing.

HDR-VDP resizes the adapting luminance, masking signals and the difference mask to each band's
size with MATLAB's default method. That is Keys' cubic kernel (a = -0.5); when shrinking, the
kernel is stretched by 1/scale and scaled by scale (antialiasing); every output sample's
weights are normalised to sum to one; samples beyond the border are mirrored (symmetric, the
edge sample repeated). The scale per axis is ``out_size / in_size``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1.0)
            + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1.0) & (ax <= 2.0)))


@lru_cache(maxsize=256)
def resize_matrix(in_len: int, out_len: int) -> np.ndarray:
    """The (out_len, in_len) weight matrix of one axis of MATLAB's bicubic ``imresize``."""
    scale = out_len / in_len
    width = 4.0
    if scale < 1.0:
        kernel = lambda d: scale * _cubic(scale * d)  # noqa: E731 - antialiasing kernel
        width = width / scale
    else:
        kernel = _cubic
    u = np.arange(1, out_len + 1, dtype=np.float64) / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(np.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based sample positions
    w = kernel(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    # mirror out-of-range positions: 1..n, n..1, repeating
    period = 2 * in_len
    k = np.mod(idx.astype(np.int64) - 1, period)
    k = np.where(k < in_len, k, period - 1 - k)
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.repeat(np.arange(out_len), taps)
    np.add.at(mat, (rows, k.ravel()), w.ravel())
    mat.setflags(write=False)
    return mat


def imresize(a: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
    """MATLAB ``imresize(a, out_shape)`` (bicubic, antialiased) for a 2-D float64 array."""
    h, w = a.shape
    oh, ow = int(out_shape[0]), int(out_shape[1])
    if (oh, ow) == (h, w):
        return np.array(a, dtype=np.float64)  # both scales are 1: MATLAB returns the input
    out = np.asarray(a, dtype=np.float64)
    if oh != h:
        out = resize_matrix(h, oh) @ out
    if ow != w:
        out = out @ resize_matrix(w, ow).T
    return out
