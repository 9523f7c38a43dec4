"""Kalantari-format scene folders: three LDR frames, their exposures and (optionally) the HDR.

Two public packagings are understood:

* Kalantari et al. / SelfHDR: ``<scene>/*.tif`` (three frames, sorted by name = increasing
  exposure), ``exposure.txt`` (EV stops), ``HDRImg.hdr`` (label aligned to the middle frame).
* The "aligned" repackaging: ``input_{1,2,3}_aligned.tif``, ``input_exp.txt``,
  ``ref_hdr_aligned.hdr`` (its ``ref_{1,2,3}_aligned.tif`` are ignored).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np

from . import exposure_check
from ..errors import InputError
from ..io import read_exposures, read_hdr, read_ldr

PathLike = Union[str, "os.PathLike[str]"]

N_FRAMES = 3
REFERENCE = 1
"""Index of the reference frame (the middle exposure), to which labels are aligned."""

LDR_SUFFIXES = (".tif", ".tiff")
EXPOSURE_NAMES = ("exposure.txt", "input_exp.txt")
HDR_NAMES = ("HDRImg.hdr", "HDRImg.exr", "ref_hdr_aligned.hdr")
_ALT_FRAMES = tuple(f"input_{i}_aligned.tif" for i in (1, 2, 3))


@dataclass(frozen=True)
class SceneFiles:
    """Where a scene's files are."""

    name: str
    dir: Path
    ldr_paths: Tuple[Path, ...]
    exposure_path: Path
    hdr_path: Optional[Path]


@dataclass
class Scene:
    """A scene in memory: three float32 RGB LDR frames, exposure times, and the HDR or None."""

    name: str
    ldrs: List[np.ndarray]
    times: np.ndarray
    hdr: Optional[np.ndarray]
    files: SceneFiles


def is_scene_dir(path: Path) -> bool:
    """True if ``path`` looks like a scene folder (has an exposure file or LDR frames)."""
    if not path.is_dir():
        return False
    if any((path / n).is_file() for n in EXPOSURE_NAMES):
        return True
    return any(p.suffix.lower() in LDR_SUFFIXES for p in path.iterdir() if p.is_file())


def find_scene_files(scene_dir: PathLike, exposure_path: Optional[PathLike] = None) -> SceneFiles:
    """Locate a scene's three frames, exposure file and optional HDR label.

    ``exposure_path`` overrides the exposure file (the SelfHDR download's ``*_align`` folders
    may lack one: the original scene's is used then).
    """
    d = Path(scene_dir)
    if not d.is_dir():
        raise InputError(d, "scene folder not found")
    if (d / _ALT_FRAMES[0]).exists():
        frames = tuple(d / n for n in _ALT_FRAMES)
        missing = [p.name for p in frames if not p.is_file()]
        if missing:
            raise InputError(d, f"missing frame(s) {', '.join(missing)}")
    else:
        frames = tuple(
            sorted(
                (p for p in d.iterdir() if p.is_file() and p.suffix.lower() in LDR_SUFFIXES),
                key=lambda p: p.name,
            )
        )
        if len(frames) != N_FRAMES:
            names = ", ".join(p.name for p in frames) or "none"
            raise InputError(d, f"expected {N_FRAMES} .tif frames, found {len(frames)} ({names})")
    if exposure_path is None:
        found = [d / n for n in EXPOSURE_NAMES if (d / n).is_file()]
        if not found:
            raise InputError(d, f"no exposure file ({' or '.join(EXPOSURE_NAMES)})")
        exposure_path = found[0]
    hdr = next((d / n for n in HDR_NAMES if (d / n).is_file()), None)
    return SceneFiles(d.name, d, frames, Path(exposure_path), hdr)


def read_scene(scene_dir: PathLike, exposure_path: Optional[PathLike] = None, with_hdr: bool = True,
               check_exposures: bool = True) -> Scene:
    """Read a scene: LDR frames (float32 RGB, [0, 1]), exposure times t = 2**EV, HDR or None.

    Every problem (missing or extra frames, unreadable files, mismatched sizes, a wrong
    exposure count, frames whose brightness contradicts ``exposure.txt``, a damaged HDR)
    raises :class:`InputError` naming the file. The brightness check
    (:mod:`selfhdr.data.exposure_check`) is skipped with ``check_exposures=False`` and for
    scenes imported with ``--allow-mismatch`` (their ``bracket.json`` records it).
    """
    files = find_scene_files(scene_dir, exposure_path)
    ldrs = [read_ldr(p) for p in files.ldr_paths]
    shape = ldrs[0].shape
    for p, img in zip(files.ldr_paths, ldrs):
        if img.shape != shape:
            raise InputError(p, f"size {img.shape[1]}×{img.shape[0]} differs from "
                                f"{files.ldr_paths[0].name} ({shape[1]}×{shape[0]})")
    times = read_exposures(files.exposure_path, count=N_FRAMES)
    if check_exposures and not mismatch_allowed(files.dir):
        exposure_check.check_exposures(ldrs, times, files.ldr_paths, where=files.exposure_path,
                                       hint=f"fix {files.exposure_path.name} or the frames, or re-import "
                                            f"the bracket with --allow-mismatch")
    hdr = None
    if with_hdr and files.hdr_path is not None:
        hdr = read_hdr(files.hdr_path)
        if hdr.shape != shape:
            raise InputError(files.hdr_path, f"size {hdr.shape[1]}×{hdr.shape[0]} differs from the "
                                             f"frames ({shape[1]}×{shape[0]})")
    return Scene(files.name, ldrs, times, hdr, files)


def mismatch_allowed(scene_dir: Path) -> bool:
    """True if the importer wrote this scene with ``--allow-mismatch`` (``bracket.json`` says so)."""
    manifest = scene_dir / "bracket.json"
    if not manifest.is_file():
        return False
    try:
        record = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    check = record.get("exposure_check") if isinstance(record, dict) else None
    return isinstance(check, dict) and check.get("skipped") is True


def list_scenes(split_dir: PathLike) -> List[Path]:
    """Scene folders of a split, sorted by name.

    Nested groups (Kalantari's ``Test/EXTRA/001``, ``Test/PAPER/BarbequeDay``) are searched
    one level deep; hidden and ``__MACOSX`` folders are skipped. Scene names must be unique.
    """
    root = Path(split_dir)
    if not root.is_dir():
        raise InputError(root, "dataset split folder not found")
    scenes: List[Path] = []
    for child in sorted(root.iterdir(), key=lambda p: p.name):
        if child.name.startswith((".", "__")) or not child.is_dir():
            continue
        if is_scene_dir(child):
            scenes.append(child)
        else:
            scenes.extend(
                g for g in sorted(child.iterdir(), key=lambda p: p.name)
                if not g.name.startswith((".", "__")) and is_scene_dir(g)
            )
    if not scenes:
        raise InputError(root, "no scene folders found")
    names = [s.name for s in scenes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(root, f"scene names are not unique: {', '.join(dupes)}")
    return sorted(scenes, key=lambda p: p.name)
