"""Loading a camera bracket into memory for prediction: the importer's rules, no files written.

``predict`` takes the same inputs as ``selfhdr-import`` (JPEG/PNG/TIFF with EXIF, camera
RAW through the ``raw`` extra, brackets of 3 or more frames, EXIF orientation) and the same
checks, so a bracket that imports also predicts, and one that is refused is refused with the
same message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np

from ..errors import InputError
from .brackets import Bracket, Frame, plan_bracket
from .brackets_raw import frame_exif, header_size, read_frame
from .exposure_check import DEFAULT_TOLERANCE_STOPS, check_exposures

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class LoadedBracket:
    """Three frames in memory, shortest exposure first, with times relative to the shortest."""

    name: str
    ldrs: List[np.ndarray]
    times: np.ndarray
    paths: List[Path]


def bracket_from_files(paths: Sequence[PathLike], name: Optional[str] = None) -> Bracket:
    """A bracket of the given image files (any order), named after the first one's stem."""
    files = [Path(p) for p in paths]
    for p in files:
        if not p.is_file():
            raise InputError(p, "file not found")
    frames = tuple(Frame(p, frame_exif(p), header_size(p)) for p in files)
    return Bracket(name or files[0].stem, frames, files[0].parent)


def load_bracket(bracket: Bracket, exposures: Optional[Sequence[float]] = None, allow_mismatch: bool = False,
                 tolerance_stops: float = DEFAULT_TOLERANCE_STOPS) -> LoadedBracket:
    """Plan (choose 3 frames, exposures from EXIF or ``exposures``), decode and check a bracket.

    ``exposures`` are EV stops in the frames' file-name order, as for the importer.
    """
    plan = plan_bracket(bracket, exposures)
    chosen = [plan.frames[k] for k in plan.chosen]
    ldrs = [read_frame(f.path, f.exif)[0] for f in chosen]
    shape = ldrs[0].shape
    for f, img in zip(chosen, ldrs):
        if img.shape != shape:
            raise InputError(f.path, f"size {img.shape[1]}×{img.shape[0]} differs from {chosen[0].path.name} "
                                     f"({shape[1]}×{shape[0]}) after EXIF orientation")
    times = np.power(2.0, np.asarray([plan.stops[k] for k in plan.chosen], dtype=np.float64))
    paths = [f.path for f in chosen]
    if not allow_mismatch:
        check_exposures(ldrs, times, paths, tolerance_stops, where=bracket.origin)
    return LoadedBracket(bracket.name, ldrs, times, paths)


__all__ = ["LoadedBracket", "bracket_from_files", "load_bracket"]
