"""Tonemapped 8-bit PNG previews written beside every HDR output."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np

from ..tonemap import display_tonemap, mu_law, to_uint8
from ._cv import cv_write_rgb
from .atomic import atomic_path

PathLike = Union[str, "os.PathLike[str]"]

TONEMAPS = ("mu", "display")


def tonemap_preview(hdr: np.ndarray, tonemap: str = "mu") -> np.ndarray:
    """Tonemap linear RGB radiance to a uint8 H×W×3 image ('mu': μ-law; 'display': Reinhard)."""
    hdr = np.nan_to_num(np.maximum(np.asarray(hdr, dtype=np.float32), 0.0))
    if tonemap == "mu":
        return to_uint8(mu_law(np.clip(hdr, 0.0, 1.0)))
    if tonemap == "display":
        return to_uint8(display_tonemap(hdr))
    raise ValueError(f"unknown tonemap {tonemap!r}; choose one of {TONEMAPS}")


def write_preview(path: PathLike, hdr: np.ndarray, tonemap: str = "mu") -> None:
    """Write a tonemapped 8-bit PNG preview of linear RGB radiance, atomically."""
    with atomic_path(path) as tmp:
        encode_preview(tmp, hdr, tonemap)


def encode_preview(tmp: PathLike, hdr: np.ndarray, tonemap: str = "mu") -> None:
    """Encode the tonemapped preview of ``hdr`` into PNG file ``tmp`` (not atomic by itself)."""
    img = tonemap_preview(hdr, tonemap)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    cv_write_rgb(Path(tmp), img)
