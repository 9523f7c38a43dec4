"""Import camera brackets (no HDR ground truth) into a Kalantari-layout dataset.

Input layouts (both may be mixed in one folder; hidden files and folders are ignored):

* **one sub-folder per bracket**: every image in ``INPUT/<name>/`` is one bracket, scene
  ``<name>``;
* **a flat folder**: the images directly in ``INPUT`` are grouped into brackets by EXIF.
  They are sorted by (capture time = DateTimeOriginal + SubSecTimeOriginal, EXIF image
  number, file name), and a new bracket starts when (a) the gap from the end of the previous
  frame (its capture time plus its exposure time) exceeds ``gap_seconds`` (2 s), or (b) the
  frame's exposure equals one already in the current bracket (the pattern restarts), or
  (c) the camera make/model or the stored image size changes. The scene is named after the
  bracket's first frame. Without a capture time in every frame the folder is refused,
  unless ``frames_per_bracket`` N is given: then consecutive runs of N files in file-name
  order are the brackets (N always takes precedence over capture times).

When a RAW file and an image share a file name stem (RAW+JPEG shooting) only the RAW is
used, or only the image if ``rawpy`` is not installed.

Exposures: from EXIF, exposure = time × ISO/100 / f-number² (see :mod:`selfhdr.io.exif`),
written as EV stops relative to the shortest frame; or ``exposures``: EV stops for the
frames in file-name order, used for every bracket with that many frames (others use EXIF).

Frames chosen (only three-frame output is supported): a bracket of N > 3 frames gives its
shortest and its longest exposure plus the frame whose EV is closest to the midpoint of
those two (ties: the darker one).

Output: ``ROOT/Training/<scene>/`` and, for a held-out fraction, ``ROOT/Test/<scene>/``,
each with ``1_short.tif``, ``2_mid.tif``, ``3_long.tif`` (16 bits, upright, gamma 2.2),
``exposure.txt``, ``bracket.json`` (sources, EXIF, choice, checks) and
``bracket_preview.png``; never ``HDRImg.hdr``. The split: scenes that pass the metadata
checks, sorted by name; round(fraction × N) of them (at least 1 when fraction > 0 and N ≥ 2,
at most N − 1) evenly spaced through that order go to Test. Scenes are written into a
hidden folder and renamed into place; a scene whose folder already holds ``bracket.json``
(in either split) is skipped, so reruns only add what is missing.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from tqdm import tqdm

from ..errors import InputError
from ..io import write_exposures, write_ldr
from ..io.atomic import atomic_write_text
from ..io.exif import ExifInfo, bracket_exposures, frame_exposure, oriented_size
from .brackets_raw import FRAME_SUFFIXES, frame_exif, have_rawpy, header_size, is_raw, read_frame
from .exposure_check import DEFAULT_TOLERANCE_STOPS, check_exposures, measure_exposure_pairs

PathLike = Union[str, "os.PathLike[str]"]

IMPORTER_VERSION = 1
DEFAULT_GAP_SECONDS = 2.0
FRAME_NAMES = ("1_short.tif", "2_mid.tif", "3_long.tif")
MANIFEST = "bracket.json"
PREVIEW = "bracket_preview.png"
SPLITS = ("Training", "Test")
SAME_EV = 0.01
"""Exposures closer than this (in stops) count as the same exposure."""
_PREVIEW_HEIGHT = 240


@dataclass(frozen=True)
class Frame:
    """One source image with its EXIF and stored (header) size, None when unknown."""

    path: Path
    exif: ExifInfo
    size: Optional[Tuple[int, int]]


@dataclass(frozen=True)
class Bracket:
    """A group of frames to become one scene; ``problem`` is set when grouping refused it."""

    name: str
    frames: Tuple[Frame, ...]
    origin: Path
    problem: Optional[str] = None


@dataclass
class ImportSummary:
    """What an import did: scenes written and skipped ('Split/name'), refused (name → why)."""

    root: Path
    written: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    refused: Dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- finding brackets


def find_brackets(input_dir: PathLike, gap_seconds: float = DEFAULT_GAP_SECONDS,
                  frames_per_bracket: Optional[int] = None) -> List[Bracket]:
    """The brackets in ``input_dir`` (sub-folders first, then flat groups), uniquely named."""
    root = Path(input_dir)
    if not root.is_dir():
        raise InputError(root, "input folder not found")
    if frames_per_bracket is not None and frames_per_bracket < 1:
        raise InputError(None, f"--frames-per-bracket must be positive, got {frames_per_bracket}")
    found: List[Bracket] = []
    for sub in _visible(root):
        if sub.is_dir():
            frames = [_frame(p) for p in _images(sub)]
            if frames:
                found.append(Bracket(sub.name, tuple(frames), sub))
    flat = [_frame(p) for p in _images(root)]
    if flat:
        found.extend(_group_flat(root, flat, gap_seconds, frames_per_bracket))
    if not found:
        raise InputError(root, f"no images found (supported: {' '.join(FRAME_SUFFIXES)})")
    return _unique_names(found)


def group_frames(frames: Sequence[Frame], gap_seconds: float = DEFAULT_GAP_SECONDS) -> List[List[Frame]]:
    """Split frames that all have a capture time into brackets (rule in the module docstring)."""
    order = sorted(frames, key=lambda f: (f.exif.capture_time, f.exif.sequence is None,
                                          f.exif.sequence or 0, f.path.name))
    groups: List[List[Frame]] = []
    for f in order:
        cur = groups[-1] if groups else None
        if cur is None or _starts_new(cur, f, gap_seconds):
            groups.append([f])
        else:
            cur.append(f)
    return groups


def _starts_new(cur: List[Frame], f: Frame, gap_seconds: float) -> bool:
    prev = cur[-1]
    end = prev.exif.capture_time.timestamp() + (prev.exif.exposure_time or 0.0)  # type: ignore[union-attr]
    if f.exif.capture_time.timestamp() - end > gap_seconds:  # type: ignore[union-attr]
        return True
    if f.exif.camera != prev.exif.camera or (f.size and prev.size and f.size != prev.size):
        return True
    ev = frame_exposure(f.exif)
    if ev is not None:
        for g in cur:
            other = frame_exposure(g.exif)
            if other is not None and abs(math.log2(ev / other)) < SAME_EV:
                return True
    return False


def _group_flat(root: Path, frames: List[Frame], gap_seconds: float,
                per: Optional[int]) -> List[Bracket]:
    if per is not None:
        by_name = sorted(frames, key=lambda f: f.path.name)
        out = []
        for k in range(0, len(by_name), per):
            chunk = by_name[k:k + per]
            problem = None
            if len(chunk) < per:
                problem = (f"{len(chunk)} frame(s) left over after grouping by --frames-per-bracket {per}: "
                           + ", ".join(f.path.name for f in chunk))
            out.append(Bracket(chunk[0].path.stem, tuple(chunk), root, problem))
        return out
    untimed = [f.path.name for f in frames if f.exif.capture_time is None]
    if untimed:
        shown = ", ".join(untimed[:5]) + (", ..." if len(untimed) > 5 else "")
        problem = (f"{len(untimed)} of {len(frames)} images in the flat folder have no EXIF capture time "
                   f"({shown}), so they cannot be grouped into brackets; put each bracket in its own "
                   "sub-folder or pass --frames-per-bracket N")
        return [Bracket("flat folder", tuple(sorted(frames, key=lambda f: f.path.name)), root, problem)]
    return [Bracket(g[0].path.stem, tuple(g), root) for g in group_frames(frames, gap_seconds)]


def _visible(folder: Path) -> Iterator[Path]:
    for p in sorted(folder.iterdir(), key=lambda q: q.name):
        if not p.name.startswith((".", "__MACOSX")):
            yield p


def _images(folder: Path) -> List[Path]:
    files = [p for p in _visible(folder) if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES]
    raw_wins = have_rawpy()
    stems: Dict[str, List[Path]] = {}
    for p in files:
        stems.setdefault(p.stem.lower(), []).append(p)
    keep = []
    for group in stems.values():
        raws = [p for p in group if is_raw(p)]
        if raws and len(raws) < len(group):  # RAW + JPEG of the same shot: keep one kind
            group = raws if raw_wins else [p for p in group if not is_raw(p)]
        keep.extend(group)
    return sorted(keep, key=lambda p: p.name)


def _frame(p: Path) -> Frame:
    return Frame(p, frame_exif(p), header_size(p))


def sanitize_name(name: str) -> str:
    """A folder-safe scene name: letters, digits, '.', '_' and '-'; never hidden or empty."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    return clean or "scene"


def _unique_names(brackets: List[Bracket]) -> List[Bracket]:
    seen: set = set()
    out = []
    for b in brackets:
        base = sanitize_name(b.name)
        name, k = base, 1
        while name.lower() in seen:  # case-insensitive: macOS and Windows file systems
            k += 1
            name = f"{base}_{k}"
        seen.add(name.lower())
        out.append(Bracket(name, b.frames, b.origin, b.problem))
    return out


# ----------------------------------------------------------------------------- planning


def choose_frames(stops: Sequence[float], frames: int = 3) -> Tuple[int, int, int]:
    """Indices of the (short, middle, long) frames of a bracket given its EV stops.

    Shortest, longest, and the frame whose EV is closest to their midpoint (ties: darker).
    """
    if frames != 3:
        raise InputError(None, f"only 3 output frames are supported (Kalantari layout), got {frames}")
    if len(stops) < 3:
        raise ValueError(f"need at least 3 frames, got {len(stops)}")
    order = sorted(range(len(stops)), key=lambda k: (stops[k], k))
    lo, hi = order[0], order[-1]
    centre = (stops[lo] + stops[hi]) / 2
    mid = min(order[1:-1], key=lambda k: (round(abs(stops[k] - centre), 6), stops[k]))
    return lo, mid, hi


@dataclass
class _Plan:
    bracket: Bracket
    frames: List[Frame]          # sorted by exposure, shortest first
    stops: List[float]           # EV relative to the shortest, same order
    chosen: Tuple[int, int, int]
    source: str                  # "EXIF" or "--exposures"


def plan_bracket(b: Bracket, exposures: Optional[Sequence[float]] = None, frames: int = 3) -> _Plan:
    """Check a bracket's metadata and choose its frames; InputError names what is wrong."""
    if b.problem:
        raise InputError(b.origin, b.problem)
    names = ", ".join(f.path.name for f in b.frames)
    if len(b.frames) < 3:
        raise InputError(b.origin, f"a bracket needs at least 3 frames, found {len(b.frames)} ({names})")
    by_name = sorted(b.frames, key=lambda f: f.path.name)
    if exposures is not None and len(exposures) == len(by_name):
        evs, source = [float(e) for e in exposures], "--exposures"
    else:
        hint = (f" (--exposures gives {len(exposures)} values but this bracket has {len(by_name)} frames)"
                if exposures is not None else "")
        try:
            rel = bracket_exposures([f.exif for f in by_name], [f.path for f in by_name], b.origin)
        except InputError as exc:
            raise InputError(b.origin, exc.problem + hint) from None
        evs, source = [math.log2(r) for r in rel], "EXIF"
    order = sorted(range(len(by_name)), key=lambda k: (evs[k], by_name[k].path.name))
    fs = [by_name[k] for k in order]
    ev = [evs[k] - evs[order[0]] for k in order]
    for a in range(len(fs) - 1):
        if ev[a + 1] - ev[a] < SAME_EV:
            raise InputError(b.origin, f"{fs[a].path.name} and {fs[a + 1].path.name} have the same exposure "
                                       f"(EV {ev[a]:.2f}, from {source}); a bracket needs distinct exposures"
                                       + (" — a sub-folder must hold one bracket" if len(fs) > 5 else ""))
    turns = {f.path.name: f.exif.orientation or 1 for f in fs}
    if len(set(turns.values())) > 1:
        listed = ", ".join(f"{n}: {o}" for n, o in turns.items())
        raise InputError(b.origin, f"frames have different EXIF orientations ({listed}); a bracket must be "
                                   "shot without turning the camera")
    sizes = {f.path.name: oriented_size(*f.size, f.exif.orientation) for f in fs if f.size}
    if len(set(sizes.values())) > 1:
        raise InputError(b.origin, "frames have different sizes: " + _sizes_text(sizes))
    return _Plan(b, fs, [round(e, 6) + 0.0 for e in ev], choose_frames(ev, frames), source)


def _sizes_text(sizes: Dict[str, Tuple[int, int]]) -> str:
    return ", ".join(f"{n} {w}×{h}" for n, (w, h) in sizes.items())


def split_names(names: Sequence[str], test_fraction: float) -> Dict[str, str]:
    """Scene name → 'Training' or 'Test' (the evenly spaced rule in the module docstring)."""
    if not 0.0 <= test_fraction < 1.0:
        raise InputError(None, f"--test-fraction must be in [0, 1), got {test_fraction}")
    order = sorted(names)
    n = len(order)
    k = 0
    if test_fraction > 0 and n >= 2:
        k = min(n - 1, max(1, int(round(test_fraction * n))))
    test = {order[int((i + 0.5) * n / k)] for i in range(k)} if k else set()
    return {name: ("Test" if name in test else "Training") for name in order}


# ----------------------------------------------------------------------------- writing


def import_brackets(input_dir: PathLike, out_root: PathLike, *, frames: int = 3,
                    exposures: Optional[Sequence[float]] = None, allow_mismatch: bool = False,
                    gap_seconds: float = DEFAULT_GAP_SECONDS, frames_per_bracket: Optional[int] = None,
                    test_fraction: float = 0.0, tolerance_stops: float = DEFAULT_TOLERANCE_STOPS,
                    workers: int = 1, progress: bool = False) -> ImportSummary:
    """Import every bracket of ``input_dir`` into ``out_root`` (see the module docstring).

    A bracket that cannot be imported is refused (listed in the summary with the reason) and
    the run goes on; only a bad option or an input folder without images raises.
    """
    if frames != 3:
        raise InputError(None, f"--frames {frames}: only 3 output frames are supported (Kalantari layout)")
    if exposures is not None and not all(math.isfinite(float(e)) for e in exposures):
        raise InputError(None, f"--exposures must be finite EV stops, got {list(exposures)}")
    split_names([], test_fraction)  # validates the fraction before any work
    root = Path(out_root)
    summary = ImportSummary(root)
    plans: Dict[str, _Plan] = {}
    done: List[str] = []
    for b in find_brackets(input_dir, gap_seconds, frames_per_bracket):
        try:
            where = _existing(root, b.name)
            if where is not None:
                summary.skipped.append(f"{where}/{b.name}")
                done.append(b.name)
                continue
            plans[b.name] = plan_bracket(b, exposures, frames)
        except InputError as exc:
            summary.refused[b.name] = str(exc)
    splits = split_names(list(plans) + done, test_fraction)

    def run(plan: _Plan) -> Tuple[str, Optional[str]]:
        dest = root / splits[plan.bracket.name] / plan.bracket.name
        try:
            write_scene(plan, dest, allow_mismatch, tolerance_stops)
        except (InputError, OSError) as exc:
            return plan.bracket.name, str(exc)
        return plan.bracket.name, None

    todo = list(plans.values())
    bar = tqdm(total=len(todo), desc="brackets", unit="bracket", disable=not progress or not todo)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for name, problem in pool.map(run, todo):
            if problem is None:
                summary.written.append(f"{splits[name]}/{name}")
            else:
                summary.refused[name] = problem
            bar.update(1)
    bar.close()
    summary.written.sort()
    summary.skipped.sort()
    return summary


def _existing(root: Path, name: str) -> Optional[str]:
    """The split already holding a complete scene ``name``; raises for an incomplete one."""
    for split in SPLITS:
        d = root / split / name
        if (d / MANIFEST).is_file():
            return split
        if d.exists():
            raise InputError(d, f"exists but has no {MANIFEST} (not written by the importer, or "
                                "damaged); delete it to import this bracket again")
    return None


def write_scene(plan: _Plan, dest: Path, allow_mismatch: bool = False,
                tolerance_stops: float = DEFAULT_TOLERANCE_STOPS) -> None:
    """Decode, check and write one planned bracket to ``dest`` atomically (hidden temp folder)."""
    chosen = [plan.frames[k] for k in plan.chosen]
    decoded = [read_frame(f.path, f.exif) for f in chosen]
    ldrs = [img for img, _ in decoded]
    sizes = {f.path.name: (img.shape[1], img.shape[0]) for f, img in zip(chosen, ldrs)}
    if len(set(sizes.values())) > 1:
        raise InputError(plan.bracket.origin, "frames have different sizes (after EXIF orientation): "
                                              + _sizes_text(sizes))
    stops = [plan.stops[k] for k in plan.chosen]
    times = [2.0 ** s for s in stops]
    paths = [f.path for f in chosen]
    if allow_mismatch:
        checks = measure_exposure_pairs(ldrs, times, tolerance_stops)
    else:
        checks = check_exposures(ldrs, times, paths, tolerance_stops, where=plan.bracket.origin)
    manifest = _manifest(plan, dest, [how for _, how in decoded], checks, allow_mismatch, tolerance_stops)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.importing")
    try:
        if tmp.exists():
            shutil.rmtree(tmp)  # left by a run that was killed
        tmp.mkdir()
        for name, img in zip(FRAME_NAMES, ldrs):
            write_ldr(tmp / name, img, bits=16)
        write_exposures(tmp / "exposure.txt", stops)
        write_ldr(tmp / PREVIEW, _preview(ldrs), bits=8)
        atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=1) + "\n")
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _manifest(plan: _Plan, dest: Path, turned: List[str], checks, allow_mismatch: bool,
              tolerance_stops: float) -> dict:
    from .exposure_check import RELATIVE_TOLERANCE

    role = {k: FRAME_NAMES[r] for r, k in enumerate(plan.chosen)}
    n = len(plan.frames)
    lo, mid, hi = (plan.stops[k] for k in plan.chosen)
    rule = ("all 3 frames" if n == 3 else
            f"{n} frames: the shortest (EV {lo:g}), the longest (EV {hi:g}) and the one closest to their "
            f"midpoint EV {(lo + hi) / 2:g} (EV {mid:g}; ties go to the darker)")
    return {
        "importer": "selfhdr.data.brackets",
        "importer_version": IMPORTER_VERSION,
        "scene": dest.name,
        "split": dest.parent.name,
        "source_folder": str(plan.bracket.origin.resolve()),
        "exposures_from": plan.source,
        "selection": rule,
        "stops": [plan.stops[k] for k in plan.chosen],
        "frames": [{
            "file": f.path.name,
            "ev": plan.stops[k],
            "exposure": frame_exposure(f.exif),
            "exif": f.exif.to_json(),
            "written_as": role.get(k),
        } for k, f in enumerate(plan.frames)],
        "orientation": {FRAME_NAMES[r]: turned[r] for r in range(3)},
        "exposure_check": {
            "skipped": allow_mismatch,
            "tolerance_stops": tolerance_stops,
            "relative_tolerance": RELATIVE_TOLERANCE,
            "pairs": [{"frames": [FRAME_NAMES[c.i], FRAME_NAMES[c.j]], "declared_stops": c.declared_stops,
                       "measured_stops": c.measured_stops, "pixels": c.pixels, "ok": c.ok} for c in checks],
        },
    }


def _preview(ldrs: Sequence[np.ndarray]) -> np.ndarray:
    """The three frames side by side, scaled to at most _PREVIEW_HEIGHT rows."""
    h, w = ldrs[0].shape[:2]
    scale = min(1.0, _PREVIEW_HEIGHT / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = [cv2.resize(x, size, interpolation=cv2.INTER_AREA) if scale < 1 else x for x in ldrs]
    return np.concatenate(small, axis=1)


def format_summary(summary: ImportSummary) -> str:
    """The summary as printable lines: counts, then each scene written, skipped and refused."""
    lines = [f"{summary.root}: {len(summary.written)} scene(s) written, {len(summary.skipped)} skipped "
             f"(already complete), {len(summary.refused)} refused"]
    lines += [f"  written  {s}" for s in summary.written]
    lines += [f"  skipped  {s}" for s in summary.skipped]
    lines += [f"  refused  {name}: {why}" for name, why in sorted(summary.refused.items())]
    return "\n".join(lines)
