"""``exposure.txt``: the EV stops of a bracket, one per line (or whitespace separated)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from ..errors import InputError
from .atomic import atomic_write_text
from .ldr import check_file

PathLike = Union[str, "os.PathLike[str]"]


def read_exposure_stops(path: PathLike, count: Optional[int] = None) -> np.ndarray:
    """Read the EV stops of ``path`` (float64), checking count, finiteness and order."""
    p = check_file(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(p, "not a text file") from None
    tokens = text.split()
    if not tokens:
        raise InputError(p, "no exposure values found")
    stops = []
    for i, tok in enumerate(tokens):
        try:
            stops.append(float(tok))
        except ValueError:
            raise InputError(p, f"value {i + 1} ({tok[:20]!r}) is not a number") from None
    arr = np.asarray(stops, dtype=np.float64)
    if count is not None and arr.size != count:
        raise InputError(p, f"expected {count} exposure values, found {arr.size}")
    if not np.isfinite(arr).all():
        raise InputError(p, "exposure values must be finite (found NaN or Inf)")
    if np.abs(arr).max() > 60:
        raise InputError(p, f"exposure stops out of range: {arr.tolist()} (|EV| ≤ 60 expected)")
    if arr.size > 1 and not (np.diff(arr) > 0).all():
        raise InputError(
            p, f"exposure stops must strictly increase (shortest frame first), got {arr.tolist()}"
        )
    return arr


def read_exposures(path: PathLike, count: Optional[int] = None) -> np.ndarray:
    """Exposure times t = 2**EV from an ``exposure.txt`` (shortest first), as float64.

    ``count`` (e.g. 3) makes a file with a different number of values an error.
    """
    return np.power(2.0, read_exposure_stops(path, count))


def write_exposures(path: PathLike, stops: Sequence[float]) -> None:
    """Write EV stops one per line, atomically (integers without a decimal point)."""
    lines = []
    for s in stops:
        s = float(s)
        if not math.isfinite(s):
            raise ValueError(f"{path}: exposure stop {s} is not finite")
        lines.append(str(int(s)) if s.is_integer() else repr(s))
    atomic_write_text(Path(path), "\n".join(lines) + "\n")
