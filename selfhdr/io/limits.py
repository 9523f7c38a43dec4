"""Header checks that run before any pixel is decoded, so a hostile or damaged file can never
make a decoder allocate gigabytes or read past its end.

The pixel budget defaults to 2**28 (268 megapixels, far above any camera) and can be changed
with the ``SELFHDR_MAX_PIXELS`` environment variable.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Tuple

from ..errors import InputError

_RESOLUTION = re.compile(rb"^([-+])([YX]) (\d+) ([-+])([YX]) (\d+)$")


def max_pixels() -> int:
    """The largest width × height any reader accepts."""
    return int(os.environ.get("SELFHDR_MAX_PIXELS", 2**28))


def check_size(path: Path, width: int, height: int) -> None:
    """Raise InputError for non-positive or absurd image dimensions."""
    if width <= 0 or height <= 0:
        raise InputError(path, f"invalid image size {width}×{height}")
    if width * height > max_pixels():
        raise InputError(path, f"image size {width}×{height} exceeds the limit of {max_pixels()} pixels "
                               "(set SELFHDR_MAX_PIXELS to raise it)")


def rgbe_header(path: Path) -> Tuple[int, int]:
    """Parse a Radiance header: (width, height), checking that the file can hold the pixels."""
    with open(path, "rb") as fh:
        head = fh.read(65536)
    lines = head.split(b"\n")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == b"":
            if i + 1 >= len(lines):
                break
            m = _RESOLUTION.match(lines[i + 1].strip())
            if not m:
                raise InputError(path, "Radiance file has no valid resolution line")
            a, b = int(m.group(3)), int(m.group(6))
            height, width = (a, b) if m.group(2) == b"Y" else (b, a)
            check_size(path, width, height)
            offset = len(b"\n".join(lines[: i + 2])) + 1
            # Run-length encoding stores at best 2 bytes per 127 pixels and channel, plus a
            # 4-byte marker per scanline: a smaller file cannot hold the image.
            min_bytes = height * (4 + 8 * -(-width // 127)) if 8 <= width < 32768 else 4 * width * height
            if path.stat().st_size - offset < min_bytes:
                raise InputError(path, f"Radiance file is truncated ({path.stat().st_size} bytes for "
                                       f"{width}×{height} pixels)")
            return width, height
    raise InputError(path, "Radiance header is incomplete (no blank line and resolution)")


def exr_header(path: Path) -> Tuple[int, int]:
    """(width, height) of an OpenEXR file's data window, read from the header only."""
    import OpenEXR

    try:
        with OpenEXR.File(str(path), header_only=True) as f:
            lo, hi = f.header()["dataWindow"]
    except Exception as exc:  # noqa: BLE001  (the bindings raise untyped errors)
        raise InputError(path, f"cannot read OpenEXR header ({exc})") from None
    width, height = int(hi[0] - lo[0] + 1), int(hi[1] - lo[1] + 1)
    check_size(path, width, height)
    return width, height


def ldr_header(path: Path) -> None:
    """Check an LDR image's declared size (TIFF, PNG, JPEG, ...) without decoding it."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's own bomb warning: we apply our limit below
        try:
            with Image.open(path) as im:
                width, height = im.size
        except Image.DecompressionBombError:
            raise InputError(path, f"image size exceeds the limit of {max_pixels()} pixels") from None
        except Exception:  # noqa: BLE001  (not identifiable by PIL: OpenCV decides)
            return
    check_size(path, width, height)
