"""Reading and writing HDR radiance maps: Radiance ``.hdr`` (RGBE) and OpenEXR ``.exr``.

Images are float32 H×W×3 RGB. OpenCV decodes and encodes RGBE; OpenEXR files go through the
ASWF ``OpenEXR`` bindings because OpenCV's wheels ship with EXR support disabled.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np

from ..errors import InputError
from ._cv import cv_read_rgb, cv_write_rgb
from .atomic import atomic_path
from .ldr import check_file
from .limits import exr_header, rgbe_header

PathLike = Union[str, "os.PathLike[str]"]

HDR_SUFFIXES = (".hdr", ".pic", ".exr")
_RGBE_MAGIC = (b"#?RADIANCE", b"#?RGBE")


def read_hdr(path: PathLike, validate: bool = True) -> np.ndarray:
    """Read a ``.hdr``/``.pic`` or ``.exr`` file as float32 H×W×3 RGB.

    With ``validate`` (the default) NaN, Inf or negative values raise :class:`InputError`, as
    do truncated, corrupt or mislabelled files.
    """
    p = check_file(path)
    suffix = p.suffix.lower()
    if suffix in (".hdr", ".pic"):
        img = _read_rgbe(p)
    elif suffix == ".exr":
        img = _read_exr(p)
    else:
        raise InputError(p, f"unknown HDR format {suffix!r} (expected one of {HDR_SUFFIXES})")
    if validate:
        check_radiance(img, p)
    return img


def check_radiance(img: np.ndarray, path: PathLike | None = None) -> None:
    """Raise InputError unless ``img`` is a finite, non-negative H×W×3 radiance map."""
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise InputError(path, f"expected an H×W×3 radiance map, got shape {img.shape}")
    finite = np.isfinite(img)
    if not finite.all():
        bad = int((~finite).sum())
        raise InputError(path, f"radiance map contains {bad} NaN/Inf values")
    low = float(img.min())
    if low < 0.0:
        raise InputError(path, f"radiance map contains negative values (min {low:.4g})")


def write_hdr(path: PathLike, img: np.ndarray) -> None:
    """Write float RGB radiance to ``.hdr`` (RGBE) or ``.exr`` (float32, ZIP), atomically.

    NaN, Inf or negative values are refused (RGBE cannot store them, and they always mean a
    bug upstream). Parent folders are created.
    """
    p = Path(path)
    with atomic_path(p) as tmp:
        encode_hdr(tmp, img, p)


def encode_hdr(tmp: Path, img: np.ndarray, target: Path) -> None:
    """Encode radiance into file ``tmp`` in the format of ``target``'s suffix (checked first)."""
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    try:
        check_radiance(img, target)
    except InputError as exc:
        raise ValueError(f"refusing to write {target}: {exc.problem}") from None
    suffix = target.suffix.lower()
    if suffix not in HDR_SUFFIXES:
        raise ValueError(f"{target}: unknown HDR format {suffix!r} (expected one of {HDR_SUFFIXES})")
    if suffix == ".exr":
        _write_exr(tmp, img)
    else:
        cv_write_rgb(tmp, np.ascontiguousarray(img))


def _read_rgbe(p: Path) -> np.ndarray:
    with open(p, "rb") as fh:
        head = fh.read(16)
    if not head.startswith(_RGBE_MAGIC):
        raise InputError(p, "not a Radiance RGBE file (missing '#?RADIANCE' header)")
    rgbe_header(p)
    img = cv_read_rgb(p)
    if img is None:
        raise InputError(p, "cannot decode Radiance file (truncated or corrupt)")
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.float32:
        raise InputError(p, f"unexpected Radiance decode result {img.dtype} {img.shape}")
    return img


def _read_exr(p: Path) -> np.ndarray:
    try:
        import OpenEXR
    except ImportError as exc:  # pragma: no cover - OpenEXR is a declared dependency
        raise InputError(p, "reading .exr needs the 'OpenEXR' package (pip install OpenEXR)") from exc
    exr_header(p)
    try:
        with OpenEXR.File(str(p)) as f:
            channels = {name: np.asarray(ch.pixels) for name, ch in f.channels().items()}
    except Exception as exc:  # the bindings raise plain RuntimeError/Exception subclasses
        raise InputError(p, f"cannot decode OpenEXR file ({exc})") from None
    img = _exr_rgb(channels)
    if img is None:
        raise InputError(p, f"OpenEXR file has no RGB or Y channels (found {sorted(channels)})")
    return np.ascontiguousarray(img.astype(np.float32))


def _exr_rgb(ch: dict) -> np.ndarray | None:
    for key in ("RGB", "RGBA"):
        if key in ch and ch[key].ndim == 3:
            return ch[key][..., :3]
    if all(k in ch for k in "RGB"):
        return np.stack([ch["R"], ch["G"], ch["B"]], axis=-1)
    if "Y" in ch:
        return np.repeat(np.asarray(ch["Y"])[..., None], 3, axis=2)
    return None


def _write_exr(p: Path, img: np.ndarray) -> None:
    import OpenEXR

    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"RGB": np.ascontiguousarray(img, dtype=np.float32)}) as f:
        f.write(str(p))
