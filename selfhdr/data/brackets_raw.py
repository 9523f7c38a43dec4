"""Reading one bracket frame for the importer: LDR images (EXIF orientation applied) and
camera RAW files through the optional ``rawpy`` (``pip install -e '.[raw]'``).

RAW frames are demosaicked to linear sRGB (camera white balance, no auto-brightening, 16
bits) and then encoded with the same gamma-2.2 camera response the training data uses
(:func:`selfhdr.camera.hdr_to_ldr` at t = 1), so a RAW bracket and a JPEG bracket of the
same scene become the same kind of Kalantari frames. LibRaw turns RAW frames upright itself.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from datetime import datetime
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from ..camera import hdr_to_ldr
from ..errors import InputError
from ..io import read_ldr
from ..io.exif import ExifInfo, apply_orientation, read_exif
from ..io.limits import check_size

PathLike = Union[str, "os.PathLike[str]"]

LDR_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
RAW_SUFFIXES = (".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2", ".pef", ".srw")
FRAME_SUFFIXES = LDR_SUFFIXES + RAW_SUFFIXES
RAW_EXTRA_HINT = "install the raw extra: pip install -e '.[raw]'"

# LibRaw's ``flip`` (dcraw convention) as the EXIF orientation that describes the same turn.
_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}


def is_raw(path: PathLike) -> bool:
    """True for camera RAW file names (by suffix, case-insensitive)."""
    return Path(path).suffix.lower() in RAW_SUFFIXES


def have_rawpy() -> bool:
    """True if the optional ``rawpy`` package can be imported."""
    try:
        import rawpy  # noqa: F401
    except ImportError:
        return False
    return True


def _rawpy(path: Path):
    try:
        import rawpy
    except ImportError:
        raise InputError(path, f"camera RAW files need the rawpy package; {RAW_EXTRA_HINT}") from None
    return rawpy


def frame_exif(path: PathLike) -> ExifInfo:
    """EXIF of a frame; for RAW files, values Pillow cannot find are taken from LibRaw.

    A RAW file's orientation is LibRaw's (it is what :func:`read_frame` applies).
    """
    p = Path(path)
    info = read_exif(p)
    if not is_raw(p) or not have_rawpy():
        return info
    rawpy = _rawpy(p)
    try:
        with rawpy.imread(str(p)) as raw:
            other, flip = raw.other, int(raw.sizes.flip)
    except (rawpy.LibRawError, OSError, ValueError):
        return info  # decoding will report the damage with the file name
    when = other.timestamp if isinstance(other.timestamp, datetime) else None
    if when is not None and when.year <= 1970:
        when = None  # LibRaw's "no timestamp" is the Unix epoch
    return dataclasses.replace(
        info,
        exposure_time=info.exposure_time or (float(other.shutter_speed) if other.shutter_speed > 0 else None),
        iso=info.iso or (float(other.iso_speed) if other.iso_speed > 0 else None),
        f_number=info.f_number or (float(other.aperture) if other.aperture > 0 else None),
        capture_time=info.capture_time or when,
        sequence=info.sequence if info.sequence is not None else (int(other.shot_order) or None),
        orientation=_FLIP_TO_ORIENTATION.get(flip, info.orientation),
    )


def header_size(path: PathLike) -> Optional[Tuple[int, int]]:
    """Stored (width, height) from the file header without decoding; None if unknown (RAW)."""
    if is_raw(path):
        return None
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # corrupt metadata: decoding reports real damage later
        try:
            with Image.open(path) as im:
                return tuple(im.size)  # type: ignore[return-value]
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            return None


def read_frame(path: PathLike, info: Optional[ExifInfo] = None) -> Tuple[np.ndarray, str]:
    """Decode a frame as float32 H×W×3 gamma-2.2 RGB in [0, 1], upright; and how it was turned.

    LDR images go through :func:`selfhdr.io.read_ldr` (OpenCV, which ignores the EXIF
    orientation) and are then turned by ``info.orientation``; RAW files by LibRaw.
    """
    p = Path(path)
    if is_raw(p):
        return _read_raw(p)
    info = info if info is not None else read_exif(p)
    img = apply_orientation(read_ldr(p), info.orientation)
    turned = f"EXIF orientation {info.orientation} applied" if (info.orientation or 1) != 1 else "upright (orientation 1)"
    return img, turned


def _read_raw(p: Path) -> Tuple[np.ndarray, str]:
    rawpy = _rawpy(p)
    try:
        with rawpy.imread(str(p)) as raw:
            sizes = raw.sizes
            check_size(p, int(sizes.width), int(sizes.height))
            rgb = raw.postprocess(gamma=(1, 1), no_auto_bright=True, output_bps=16, use_camera_wb=True,
                                  output_color=rawpy.ColorSpace.sRGB)
            flip = int(sizes.flip)
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise InputError(p, f"cannot decode RAW file ({type(exc).__name__}: {exc})") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(p, f"RAW decode gave shape {rgb.shape}, expected H×W×3")
    linear = rgb.astype(np.float32) / np.float32(65535.0)
    ldr = np.asarray(hdr_to_ldr(linear, 1.0), dtype=np.float32)
    return ldr, f"LibRaw demosaic, linear sRGB → gamma 2.2; LibRaw flip {flip} applied"
