"""EXIF metadata of camera frames (Pillow) and EXIF orientation for NumPy images.

Read with :func:`read_exif`: exposure time, ISO, f-number, capture time (DateTimeOriginal
plus SubSecTimeOriginal, else DateTimeDigitized; never the file-modification DateTime, which
editing software rewrites), orientation, camera make and model, and an image sequence
number (EXIF ImageNumber). Files Pillow cannot open as images (camera RAW, some 16-bit
TIFFs) still have their TIFF directories parsed, header only. Missing values are None.

Exposure of a frame: ``time × ISO/100 / f-number²`` ("seconds at ISO 100, f/1"); only ratios
between frames matter. :func:`bracket_exposures` applies the defaults ISO 100 and f/1 only
when a value is absent from *every* frame of a bracket; when some frames have it and others
not, their exposures cannot be compared and it raises.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..errors import InputError

PathLike = Union[str, "os.PathLike[str]"]

EXIF_IFD = 0x8769
# Tag numbers (EXIF 2.32 / TIFF 6.0).
_MAKE, _MODEL, _ORIENTATION = 271, 272, 274
_EXPOSURE_TIME, _F_NUMBER, _ISO, _ISO_SPEED = 33434, 33437, 34855, 34867
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED = 36867, 36868
_SUBSEC_ORIGINAL, _SUBSEC_DIGITIZED = 37521, 37522
_SHUTTER_APEX, _APERTURE_APEX, _IMAGE_NUMBER = 37377, 37378, 37393
_DATETIME_RE = re.compile(r"^\s*(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


@dataclass(frozen=True)
class ExifInfo:
    """The EXIF values the importer uses; every field is None when the file lacks it."""

    exposure_time: Optional[float] = None
    iso: Optional[float] = None
    f_number: Optional[float] = None
    capture_time: Optional[datetime] = None
    orientation: Optional[int] = None
    make: Optional[str] = None
    model: Optional[str] = None
    sequence: Optional[int] = None

    @property
    def camera(self) -> Optional[str]:
        """'Make Model' (or whichever exists), None if neither is recorded."""
        parts = [p for p in (self.make, self.model) if p]
        return " ".join(parts) if parts else None

    def to_json(self) -> Dict[str, Any]:
        """A JSON-ready dict (the capture time as ISO 8601)."""
        d = asdict(self)
        d["capture_time"] = self.capture_time.isoformat() if self.capture_time else None
        return d


def read_exif(path: PathLike) -> ExifInfo:
    """The EXIF values of an image file; a file without (readable) EXIF gives all None."""
    tags = _read_tags(Path(path))
    return exif_from_tags(tags)


def exif_from_tags(tags: Mapping[int, Any]) -> ExifInfo:
    """Build an ExifInfo from a merged {tag number: value} map of IFD0 and the Exif IFD."""
    t = _positive(tags.get(_EXPOSURE_TIME))
    if t is None:
        apex = _number(tags.get(_SHUTTER_APEX))
        t = 2.0 ** -apex if apex is not None and abs(apex) < 60 else None
    f = _positive(tags.get(_F_NUMBER))
    if f is None:
        apex = _number(tags.get(_APERTURE_APEX))
        f = 2.0 ** (apex / 2) if apex is not None and abs(apex) < 60 else None
    iso = _positive(tags.get(_ISO))
    # 65535 means "at least 65535": the real value then lives in ISOSpeed (EXIF 2.3).
    if iso is None or iso >= 65535:
        iso = _positive(tags.get(_ISO_SPEED)) or iso
    when = _datetime(tags.get(_DATETIME_ORIGINAL), tags.get(_SUBSEC_ORIGINAL))
    if when is None:
        when = _datetime(tags.get(_DATETIME_DIGITIZED), tags.get(_SUBSEC_DIGITIZED))
    orientation = _number(tags.get(_ORIENTATION))
    orientation = int(orientation) if orientation is not None and 1 <= orientation <= 8 else None
    seq = _number(tags.get(_IMAGE_NUMBER))
    return ExifInfo(t, iso, f, when, orientation, _text(tags.get(_MAKE)), _text(tags.get(_MODEL)),
                    int(seq) if seq is not None else None)


def frame_exposure(info: ExifInfo, iso_default: bool = True, f_default: bool = True) -> Optional[float]:
    """``time × ISO/100 / f²`` of one frame (None without an exposure time).

    A missing ISO counts as 100 and a missing f-number as 1 when the defaults are allowed.
    """
    if info.exposure_time is None:
        return None
    iso = info.iso if info.iso is not None else (100.0 if iso_default else None)
    f = info.f_number if info.f_number is not None else (1.0 if f_default else None)
    if iso is None or f is None:
        return None
    return info.exposure_time * iso / 100.0 / f**2


def bracket_exposures(infos: Sequence[ExifInfo], paths: Sequence[PathLike],
                      where: Optional[PathLike] = None) -> List[float]:
    """Exposures of a bracket's frames (same order), with the all-or-none default rule.

    Raises InputError naming the files when a frame has no exposure time, or when ISO or
    f-number is recorded for some frames but not for others.
    """
    names = [Path(p).name for p in paths]
    missing = [n for n, i in zip(names, infos) if i.exposure_time is None]
    if missing:
        raise InputError(where, f"no EXIF exposure time in {', '.join(missing)}; give the EV stops with --exposures")
    for label, values in (("ISO", [i.iso for i in infos]), ("f-number", [i.f_number for i in infos])):
        absent = [n for n, v in zip(names, values) if v is None]
        if absent and len(absent) != len(values):
            raise InputError(where, f"EXIF {label} is recorded in some frames but not in {', '.join(absent)}, "
                                    "so their exposures cannot be compared; give the EV stops with --exposures")
    return [float(frame_exposure(i)) for i in infos]  # type: ignore[arg-type]


def exif_exposure(path: PathLike) -> Optional[float]:
    """Relative exposure t · ISO/100 / N² from one image's EXIF, or None without an exposure time."""
    return frame_exposure(read_exif(path))


def apply_orientation(img: np.ndarray, orientation: Optional[int]) -> np.ndarray:
    """Turn a stored H×W(×C) array upright per EXIF orientation 1–8 (None or 1: unchanged).

    Works for any dtype (8/16-bit arrays from OpenCV, which ignores the tag when reading
    with IMREAD_UNCHANGED). 2 mirrors left-right, 3 rotates 180°, 4 mirrors top-bottom, 5
    transposes, 6 rotates 90° clockwise, 7 transposes about the anti-diagonal, 8 rotates 90°
    anticlockwise: the same results as Pillow's ``ImageOps.exif_transpose``.
    """
    if orientation is None or orientation == 1:
        return img
    if orientation == 2:
        out = img[:, ::-1]
    elif orientation == 3:
        out = img[::-1, ::-1]
    elif orientation == 4:
        out = img[::-1]
    elif orientation == 5:
        out = np.swapaxes(img, 0, 1)
    elif orientation == 6:
        out = np.rot90(img, k=-1)
    elif orientation == 7:
        out = np.swapaxes(img[::-1, ::-1], 0, 1)
    elif orientation == 8:
        out = np.rot90(img, k=1)
    else:
        raise ValueError(f"EXIF orientation must be 1–8, got {orientation}")
    return np.ascontiguousarray(out)


def oriented_size(width: int, height: int, orientation: Optional[int]) -> tuple:
    """(width, height) after :func:`apply_orientation` (5–8 swap the axes)."""
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


# ----------------------------------------------------------------------------- parsing


def _read_tags(p: Path) -> Dict[int, Any]:
    """IFD0 and Exif IFD tags merged (Exif wins); empty when nothing is readable."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns on corrupt EXIF: for us it is just absent
        try:
            with Image.open(p) as im:
                exif = im.getexif()
                return {**dict(exif), **dict(exif.get_ifd(EXIF_IFD))}
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            # Pillow cannot decode it as an image (RAW, CFA or 16-bit RGB TIFF): read the TIFF
            # directories themselves if it is a TIFF-structured file.
            return _read_tiff_tags(p)


def _read_tiff_tags(p: Path) -> Dict[int, Any]:
    from PIL import TiffImagePlugin

    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
            if head[:4] not in (b"II*\x00", b"MM\x00*"):
                return {}
            ifd = TiffImagePlugin.ImageFileDirectory_v2(head)
            fh.seek(ifd.next)
            ifd.load(fh)
            tags = dict(ifd)
            exif_at = tags.get(EXIF_IFD)
            if isinstance(exif_at, int) and exif_at > 0:
                sub = TiffImagePlugin.ImageFileDirectory_v2(head)
                fh.seek(exif_at)
                sub.load(fh)
                tags.update(dict(sub))
            return tags
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, EOFError):
        return {}  # a damaged directory only means "no EXIF"; decoding reports real damage


def _number(v: Any) -> Optional[float]:
    if isinstance(v, (tuple, list)):
        v = v[0] if v else None
    if v is None or isinstance(v, (bytes, str)):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return x if math.isfinite(x) else None


def _positive(v: Any) -> Optional[float]:
    x = _number(v)
    return x if x is not None and x > 0 else None


def _text(v: Any) -> Optional[str]:
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if not isinstance(v, str):
        return None
    v = v.replace("\x00", "").strip()
    return v or None


def _datetime(value: Any, subsec: Any) -> Optional[datetime]:
    text = _text(value)
    m = _DATETIME_RE.match(text) if text else None
    if not m:
        return None
    try:
        when = datetime(*(int(g) for g in m.groups()))
    except ValueError:  # e.g. "0000:00:00 00:00:00" from cameras with no clock set
        return None
    digits = re.sub(r"\D", "", _text(subsec) or "")
    if digits:
        when = when.replace(microsecond=int((digits + "000000")[:6]))
    return when
