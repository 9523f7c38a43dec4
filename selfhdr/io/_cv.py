"""OpenCV access: the single place where RGB ↔ BGR conversion happens.

OpenCV stores colour images as B, G, R; everything else in selfhdr is R, G, B. Every
OpenCV read or write in the package goes through these two functions.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Optional

import cv2
import numpy as np


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # OpenCV logs its own decode errors to stderr; we raise a clearer exception instead.
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    old = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(old)


def cv_read_rgb(path: Path, flags: int = cv2.IMREAD_UNCHANGED) -> Optional[np.ndarray]:
    """Decode an image with OpenCV and return it as RGB(A) (or grey), or None if it cannot."""
    with _quiet():
        try:
            img = cv2.imread(str(path), flags)
        except cv2.error:
            return None
    if img is None:
        return None
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[..., ::-1]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., [2, 1, 0, 3]]
    return np.ascontiguousarray(img)


def cv_write_rgb(path: Path, img: np.ndarray, params: Optional[list] = None) -> None:
    """Encode an RGB (or grey) image with OpenCV; raises OSError if OpenCV refuses."""
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[..., ::-1]
    with _quiet():
        ok = cv2.imwrite(str(path), np.ascontiguousarray(img), params or [])
    if not ok:
        raise OSError(f"{path}: OpenCV could not write this image")
