"""The steerable pyramid of the patched matlabPyrTools 1.4 that HDR-VDP 2.2.2 bundles.

HDR-VDP calls ``buildSpyr(P, 'auto', 'sp3Filters')`` and ``reconSpyr(..., 'sp3Filters')``, which
run the MEX functions ``corrDn`` and ``upConv`` with the default ``reflect1`` edges. Both are
re-expressed here as plain array operations:

* ``corrDn`` (``reflect1``, REDUCE) folds the filter taps that hang over an edge back onto the
  image, mirrored about the edge pixel; that is a correlation of the image padded by mirror
  reflection *without* repeating the edge pixel (``np.pad(mode='reflect')``), then sampled
  from ``start`` every ``step`` pixels.
* ``upConv`` (``reflect1``, EXPAND) adds, for every input pixel near an edge, the part of its
  mirror image's kernel that falls inside; that is a convolution of the zero-upsampled image,
  itself mirror-padded about the edge pixels of the *result* grid.

Both identities need odd filter sizes (the sp3 filters are 9, 15 and 17 taps) and filters no
larger than the image, which the pyramid height rule below guarantees.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

DATA = Path(__file__).resolve().parent / "data"


class SteerableFilters(NamedTuple):
    """One filter set of matlabPyrTools (``lo0filt``, ``hi0filt``, ``lofilt``, ``bfilts``)."""

    lo0: np.ndarray
    hi0: np.ndarray
    lo: np.ndarray
    bands: tuple[np.ndarray, ...]


@lru_cache(maxsize=None)
def sp3_filters() -> SteerableFilters:
    """The taps of matlabPyrTools' ``sp3Filters`` (4 orientations), read from the package data."""
    def load(name: str) -> np.ndarray:
        a = np.loadtxt(DATA / f"sp3_{name}.csv", delimiter=",", dtype=np.float64)
        a.setflags(write=False)
        return a
    bfilts = load("bfilts")  # 81 x 4, each column a 9x9 filter stored column-major
    size = int(round(np.sqrt(bfilts.shape[0])))
    bands = []
    for b in range(bfilts.shape[1]):
        f = bfilts[:, b].reshape(size, size, order="F")  # MATLAB's reshape is column-major
        f.setflags(write=False)
        bands.append(f)
    return SteerableFilters(load("lo0filt"), load("hi0filt"), load("lofilt"), tuple(bands))


def _check_filter(im_shape: tuple[int, int], filt: np.ndarray) -> None:
    if filt.shape[0] % 2 == 0 or filt.shape[1] % 2 == 0:
        raise ValueError(f"only odd filter sizes are supported, got {filt.shape}")
    if filt.shape[0] > im_shape[0] or filt.shape[1] > im_shape[1]:
        raise ValueError(f"filter {filt.shape} is larger than the image {im_shape}")


def _correlate_sampled(padded: np.ndarray, filt: np.ndarray, out_shape: tuple[int, int],
                       step: int, start: int) -> np.ndarray:
    """sum_ij filt[i, j] * padded[start + step*y + i, start + step*x + j] for the output grid."""
    fh, fw = filt.shape
    oh, ow = out_shape
    out = np.zeros(out_shape, dtype=np.float64)
    for i in range(fh):
        rows = slice(start + i, start + i + step * (oh - 1) + 1, step)
        for j in range(fw):
            w = filt[i, j]
            if w != 0.0:
                out += w * padded[rows, start + j:start + j + step * (ow - 1) + 1:step]
    return out


def corr_dn(im: np.ndarray, filt: np.ndarray, step: int = 1, start: int = 0) -> np.ndarray:
    """matlabPyrTools ``corrDn(im, filt, 'reflect1', [step step], [start+1 start+1])``."""
    _check_filter(im.shape, filt)
    ph, pw = filt.shape[0] // 2, filt.shape[1] // 2
    padded = np.pad(im, ((ph, ph), (pw, pw)), mode="reflect")
    # MEX: (stop - start + step - 1) / step samples per axis, stop = image size
    out_shape = ((im.shape[0] - start + step - 1) // step, (im.shape[1] - start + step - 1) // step)
    return _correlate_sampled(padded, filt, out_shape, step, start)


def up_conv(im: np.ndarray, filt: np.ndarray, out_shape: tuple[int, int], step: int = 1,
            start: int = 0) -> np.ndarray:
    """matlabPyrTools ``upConv(im, filt, 'reflect1', [step step], [start+1 start+1], out_shape)``."""
    _check_filter(out_shape, filt)
    for axis in (0, 1):
        if (out_shape[axis] - start + step - 1) // step != im.shape[axis]:
            raise ValueError(f"image {im.shape} does not upsample to {out_shape} with step {step}")
    up = np.zeros(out_shape, dtype=np.float64)
    up[start::step, start::step] = im
    ph, pw = filt.shape[0] // 2, filt.shape[1] // 2
    padded = np.pad(up, ((ph, ph), (pw, pw)), mode="reflect")
    # a convolution is a correlation with the filter rotated by 180 degrees
    return _correlate_sampled(padded, filt[::-1, ::-1], out_shape, 1, 0)


def max_pyr_height(im_shape: tuple[int, int], filt_size: int) -> int:
    """matlabPyrTools ``maxPyrHt`` for a 2-D image and a square filter."""
    h, w = im_shape
    height = 0
    while h >= filt_size and w >= filt_size:
        height += 1
        h, w = h // 2, w // 2
    return height


def build_spyr(im: np.ndarray, filters: SteerableFilters | None = None) -> list[list[np.ndarray]]:
    """``buildSpyr(im, 'auto', filters)`` as bands: [[hi0], [o1..oK] per level..., [lowpass]]."""
    f = sp3_filters() if filters is None else filters
    height = max_pyr_height(im.shape, f.lo.shape[0])
    bands: list[list[np.ndarray]] = [[corr_dn(im, f.hi0)]]
    lo = corr_dn(im, f.lo0)
    for _ in range(height):
        bands.append([corr_dn(lo, bf) for bf in f.bands])
        lo = corr_dn(lo, f.lo, step=2)
    bands.append([lo])
    return bands


def recon_spyr(bands: list[list[np.ndarray]], filters: SteerableFilters | None = None) -> np.ndarray:
    """``reconSpyr(pyr, pind, filters)`` with all levels and bands, the inverse of build_spyr."""
    f = sp3_filters() if filters is None else filters
    res = bands[-1][0]
    for level in reversed(bands[1:-1]):
        shape = level[0].shape
        res = up_conv(res, f.lo, shape, step=2)
        for band, bf in zip(level, f.bands):
            res = res + up_conv(band, bf, shape)
    res = up_conv(res, f.lo0, res.shape)
    return res + up_conv(bands[0][0], f.hi0, res.shape)
