"""Torch float64 versions of the HDR-VDP array primitives (pyramid, FFT filter, resize, look-ups).

Each function mirrors its numpy twin in ``pyramid.py``, ``vision.py`` or ``resize.py`` and works
on tensors with any leading (batch) dimensions, on any device. Everything is float64: the port
is pinned to the MATLAB toolbox at 1e-12, which float32 (or TF32) would not hold.

* ``corrDn``/``upConv`` with ``reflect1`` edges are the same identities as in ``pyramid.py``:
  ``F.pad(mode='reflect')`` mirrors without repeating the edge pixel, like ``np.pad('reflect')``,
  and ``F.conv2d`` is a correlation, so convolutions use the filter rotated by 180 degrees.
* MATLAB's ``imresize`` is separable and linear: its per-axis weight matrices (built once in
  numpy by ``resize.resize_matrix``, a few hundred entries) are moved to the device and applied
  as matrix products, which is exact rather than a re-implementation of the kernel.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from . import pyramid
from .resize import resize_matrix

DTYPE = torch.float64


def to_tensor(a: np.ndarray | float, device: torch.device) -> torch.Tensor:
    """A float64 tensor on ``device`` from a numpy array or number (always a copy)."""
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=DTYPE, device=device)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A float64 numpy array from a tensor on any device."""
    return t.detach().cpu().numpy().astype(np.float64, copy=False)


@lru_cache(maxsize=16)
def _filters(device: torch.device) -> dict[str, torch.Tensor]:
    # shaped (out_channels, in_channels, h, w) for F.conv2d; the four band filters are stacked
    # so one conv2d makes (or, summed over input channels, reconstructs) all orientations
    f = pyramid.sp3_filters()
    t = {name: to_tensor(getattr(f, name), device)[None, None] for name in ("lo0", "hi0", "lo")}
    t["bands"] = torch.stack([to_tensor(b, device) for b in f.bands])[:, None]
    return t


def _flat(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    """(N, C, H, W) view for conv2d from (..., C, H, W), with the leading shape to restore."""
    lead = x.shape[:-3]
    return x.reshape((-1,) + tuple(x.shape[-3:])), tuple(lead)


def corr_dn(im: torch.Tensor, filt: torch.Tensor, step: int = 1, start: int = 0) -> torch.Tensor:
    """``pyramid.corr_dn`` on (..., 1, H, W) images; filt (out, 1, h, w) gives (..., out, H', W')."""
    fh, fw = filt.shape[-2:]
    pyramid._check_filter(tuple(im.shape[-2:]), np.empty((fh, fw)))
    x, lead = _flat(im)
    padded = F.pad(x, (fw // 2, fw // 2, fh // 2, fh // 2), mode="reflect")
    # a valid correlation from `start` with stride `step` samples ceil((n - start) / step) pixels
    out = F.conv2d(padded[..., start:, start:], filt, stride=step)
    return out.reshape(lead + tuple(out.shape[1:]))


def up_conv(im: torch.Tensor, filt: torch.Tensor, out_shape: tuple[int, int], step: int = 1,
            start: int = 0) -> torch.Tensor:
    """``pyramid.up_conv`` on (..., C, h, w); filt (1, C, fh, fw) sums the C convolutions."""
    fh, fw = filt.shape[-2:]
    pyramid._check_filter(out_shape, np.empty((fh, fw)))
    for axis in (0, 1):
        if (out_shape[axis] - start + step - 1) // step != im.shape[-2 + axis]:
            raise ValueError(f"image {tuple(im.shape)} does not upsample to {out_shape} with step {step}")
    x, lead = _flat(im)
    up = x.new_zeros(x.shape[:2] + tuple(out_shape))
    up[..., start::step, start::step] = x
    padded = F.pad(up, (fw // 2, fw // 2, fh // 2, fh // 2), mode="reflect")
    out = F.conv2d(padded, torch.flip(filt, dims=(-2, -1)))
    return out.reshape(lead + tuple(out.shape[1:]))


def build_spyr(im: torch.Tensor) -> list[torch.Tensor]:
    """``pyramid.build_spyr`` of (..., H, W) images: per level a (..., bands, h, w) tensor."""
    f = _filters(im.device)
    x = im.unsqueeze(-3)
    height = pyramid.max_pyr_height(tuple(im.shape[-2:]), f["lo"].shape[-1])
    levels = [corr_dn(x, f["hi0"])]
    lo = corr_dn(x, f["lo0"])
    for _ in range(height):
        levels.append(corr_dn(lo, f["bands"]))
        lo = corr_dn(lo, f["lo"], step=2)
    levels.append(lo)
    return levels


def recon_spyr(levels: list[torch.Tensor]) -> torch.Tensor:
    """``pyramid.recon_spyr``: the (..., H, W) image from the levels of build_spyr."""
    f = _filters(levels[0].device)
    bands_t = f["bands"].transpose(0, 1)  # (1, 4, h, w): conv2d sums the four orientations
    res = levels[-1]
    for level in reversed(levels[1:-1]):
        shape = tuple(level.shape[-2:])
        res = up_conv(res, f["lo"], shape, step=2) + up_conv(level, bands_t, shape)
    shape = tuple(res.shape[-2:])
    res = up_conv(res, f["lo0"], shape) + up_conv(levels[0], f["hi0"], shape)
    return res.squeeze(-3)


def fast_conv_fft(x: torch.Tensor, fh: torch.Tensor, pad_value: torch.Tensor) -> torch.Tensor:
    """``vision.fast_conv_fft`` on (..., h, w); pad_value and fh broadcast against x's leading dims."""
    h, w = x.shape[-2:]
    padded = pad_value[..., None, None].expand(x.shape[:-2] + tuple(fh.shape[-2:])).clone()
    padded[..., :h, :w] = x
    return torch.fft.ifft2(torch.fft.fft2(padded) * fh).real[..., :h, :w]


@lru_cache(maxsize=256)
def _resize_matrix(in_len: int, out_len: int, device: torch.device) -> torch.Tensor:
    # cached per device: one host-to-device copy per band size, not one per call
    return to_tensor(resize_matrix(in_len, out_len), device)


def imresize(a: torch.Tensor, out_shape: tuple[int, int]) -> torch.Tensor:
    """``resize.imresize`` (MATLAB bicubic, antialiased) on the last two dims of a tensor."""
    h, w = a.shape[-2:]
    oh, ow = int(out_shape[0]), int(out_shape[1])
    out = a
    if oh != h:
        out = _resize_matrix(h, oh, a.device) @ out
    if ow != w:
        out = out @ _resize_matrix(w, ow, a.device).T
    return out


def interp1_linear(x: torch.Tensor, y: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """``np.interp(xi, x, y)`` for increasing x and xi inside [x[0], x[-1]] (clamped beyond)."""
    j = torch.clamp(torch.searchsorted(x, xi.contiguous(), right=True) - 1, 0, x.numel() - 2)
    x0, y0 = x[j], y[j]
    slope = (y[j + 1] - y0) / (x[j + 1] - x0)
    # np.interp returns y[-1] itself at xi == x[-1]
    return torch.where(xi == x[-1], y[-1], slope * (xi - x0) + y0)


def point_op(im: torch.Tensor, lut: torch.Tensor, origin: float, increment: float) -> torch.Tensor:
    """``vision.point_op``: the pointOp MEX's linear look-up, extrapolating the end segments."""
    pos = (im - origin) / increment
    index = torch.clamp(torch.trunc(pos), 0, lut.numel() - 2).long()  # the C cast truncates
    lo = lut[index]
    return lo + (lut[index + 1] - lo) * (pos - index)
