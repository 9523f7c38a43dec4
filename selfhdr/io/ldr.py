"""Reading and writing LDR images (8/16-bit TIFF, PNG, JPEG) as float32 RGB in [0, 1]."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np

from ..errors import InputError
from ._cv import cv_read_rgb, cv_write_rgb
from .atomic import atomic_path
from .limits import ldr_header

PathLike = Union[str, "os.PathLike[str]"]

# The published SelfHDR loader divides 16-bit frames by 2**16 (not 65535); we do the same so
# that released checkpoints see exactly the inputs they were trained on. 8-bit frames (JPEG,
# PNG from a phone) divide by 255 so that white stays 1.0.
_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65536.0}


def check_file(path: PathLike) -> Path:
    """Return ``path`` as a Path if it is a non-empty regular file, else raise InputError."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "file not found")
    if not p.is_file():
        raise InputError(p, "not a regular file")
    if p.stat().st_size == 0:
        raise InputError(p, "file is empty")
    return p


def read_ldr(path: PathLike) -> np.ndarray:
    """Read an LDR image as float32 H×W×3 RGB in [0, 1].

    16-bit images are divided by 2**16 (as the published SelfHDR loader does), 8-bit ones by
    255; grey images are replicated to three channels and an alpha channel is dropped.
    Unreadable, truncated or unsupported files raise :class:`InputError` naming the file.
    """
    p = check_file(path)
    ldr_header(p)
    img = cv_read_rgb(p)
    if img is None:
        raise InputError(p, "cannot decode image (truncated, corrupt or unsupported format)")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if img.ndim != 3 or img.shape[2] != 3:
        raise InputError(p, f"expected a grey, RGB or RGBA image, got shape {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise InputError(p, "image has no pixels")
    if img.dtype in _SCALE:
        return (img.astype(np.float32) / np.float32(_SCALE[img.dtype])).astype(np.float32)
    if img.dtype in (np.float32, np.float64):
        img = img.astype(np.float32)
        if not np.isfinite(img).all():
            raise InputError(p, "floating-point LDR image contains NaN or Inf")
        if img.min() < 0.0 or img.max() > 1.0:
            raise InputError(
                p, f"floating-point LDR values must lie in [0, 1], got [{img.min():.4g}, {img.max():.4g}]"
            )
        return np.ascontiguousarray(img)
    raise InputError(p, f"unsupported pixel type {img.dtype} (expected 8- or 16-bit)")


def quantise(img: np.ndarray, bits: int = 8) -> np.ndarray:
    """Float [0, 1] pixels as the 8- or 16-bit integers :func:`write_ldr` stores (clip, round)."""
    if bits == 16:
        return np.round(np.clip(img, 0.0, 1.0) * 65535.0).astype(np.uint16)
    if bits == 8:
        return np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise ValueError(f"bits must be 8 or 16, got {bits}")


def write_ldr(path: PathLike, img: np.ndarray, bits: int = 16) -> None:
    """Write a float RGB image in [0, 1] as an 8- or 16-bit file (TIFF/PNG), atomically."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{path}: expected H×W×3, got {img.shape}")
    if not np.isfinite(img).all():
        raise ValueError(f"{path}: refusing to write NaN or Inf pixels")
    q = quantise(img, bits)
    with atomic_path(path) as tmp:
        cv_write_rgb(tmp, q)
