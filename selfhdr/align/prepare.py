"""Build ``ROOT/<split>_align/``: flow-aligned frames and Y_color, in the SelfHDR download's layout.

Each scene folder gets the three LDR frames under their source names (the two non-reference
frames warped onto the reference and written as 16-bit TIFFs, the reference copied byte for
byte), ``exposure.txt`` and ``HDRImg.hdr`` holding Y_color, plus ``HDRImg_preview.png``. A
user who has the published download can use it instead: the training code reads either.

Scenes are independent, so they run in a process pool; each is written into a hidden
temporary folder and renamed into place, so an interrupted run never leaves a half-written
scene, and a rerun skips finished ones.

``<split>_align/align.json`` records the align settings (``AlignConfig`` as a dict) and the
scenes made with them, rewritten atomically after each scene. A rerun keeps only scenes made
with the requested settings: when they differ, every scene is recomputed (the log says which
settings changed), and an interrupted rebuild resumes where it stopped. A folder with scenes
but no manifest (the published SelfHDR download) is used as it is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple, Union

from tqdm import tqdm

from ..data.scene import REFERENCE, find_scene_files, list_scenes, read_scene
from ..errors import InputError
from ..io import atomic_write_text, read_exposure_stops, write_exposures, write_hdr, write_ldr, write_preview
from .color import compute_color
from .config import AlignConfig
from .flow import build_flow

PathLike = Union[str, "os.PathLike[str]"]
LABEL_NAME = "HDRImg.hdr"
PREVIEW_NAME = "HDRImg_preview.png"
EXPOSURE_NAME = "exposure.txt"
MANIFEST_NAME = "align.json"
log = logging.getLogger(__name__)


@dataclass
class PrepareSummary:
    """What :func:`prepare_color` did."""

    out_dir: Path
    written: int
    skipped: int
    seconds: float

    @property
    def scenes_per_second(self) -> float:
        """Scenes written per second of wall time (0 when nothing was written)."""
        return self.written / self.seconds if self.written and self.seconds > 0 else 0.0

    def line(self) -> str:
        """The one-line summary the script prints."""
        return (f"{self.written} scene(s) written, {self.skipped} already done, in {self.seconds:.1f} s "
                f"({self.scenes_per_second:.2f} scenes/s) -> {self.out_dir}")


def align_dir(data_root: PathLike, split: str) -> Path:
    """``ROOT/<split>_align``, where SelfHDR keeps the aligned frames and Y_color."""
    return Path(data_root) / f"{split}_align"


def is_complete(out_scene: Path, frame_names: List[str]) -> bool:
    """True if ``out_scene`` holds the label, the exposures and every frame (non-empty)."""
    needed = [LABEL_NAME, EXPOSURE_NAME, *frame_names]
    return all((out_scene / n).is_file() and (out_scene / n).stat().st_size > 0 for n in needed)


def prepare_scene(scene_dir: PathLike, out_scene: PathLike, cfg: AlignConfig = AlignConfig()) -> float:
    """Align one scene and write its ``*_align`` folder atomically; returns seconds spent."""
    start = time.perf_counter()
    src, dest = Path(scene_dir), Path(out_scene)
    scene = read_scene(src, with_hdr=False)
    stops = read_exposure_stops(scene.files.exposure_path, count=len(scene.ldrs))
    res = compute_color(scene.ldrs, scene.times, cfg)
    tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        for k, path in enumerate(scene.files.ldr_paths):
            if k == REFERENCE:
                shutil.copyfile(path, tmp / path.name)
            else:
                write_ldr(tmp / path.name, res.aligned[k], bits=16)
        write_exposures(tmp / EXPOSURE_NAME, stops)
        write_hdr(tmp / LABEL_NAME, res.hdr)
        write_preview(tmp / PREVIEW_NAME, res.hdr)
        _replace_dir(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return time.perf_counter() - start


def _replace_dir(tmp: Path, dest: Path) -> None:
    """Move ``tmp`` to ``dest``; an existing ``dest`` is moved aside first, then deleted."""
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _worker_init() -> None:
    # One process per core: keep each single-threaded so they do not fight over cores.
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


_Failure = Optional[Tuple[Optional[str], str]]


def _run(scene_dir: str, out_scene: str, cfg: AlignConfig) -> Tuple[str, float, _Failure]:
    """Pool task: returns InputError's (path, problem) instead of raising it (it does not pickle)."""
    try:
        return scene_dir, prepare_scene(scene_dir, out_scene, cfg), None
    except InputError as exc:
        return scene_dir, 0.0, (exc.path, exc.problem)


def align_record(cfg: AlignConfig) -> Dict[str, Any]:
    """``cfg`` as the manifest stores it (through JSON, so it compares equal to one read back)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def read_manifest(out_dir: PathLike) -> Optional[Dict[str, Any]]:
    """``<split>_align/align.json`` as written by :func:`prepare_color`; None when there is none.

    An unreadable or malformed manifest reads as ``{}``: settings unknown, so nothing is kept.
    """
    path = Path(out_dir) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("%s: unreadable (%s); its scenes count as made with unknown settings", path, exc)
        return {}
    ok = isinstance(data, dict) and isinstance(data.get("align"), dict) and isinstance(data.get("scenes"), list)
    return data if ok else {}


def changed_settings(recorded: Mapping[str, Any], wanted: Mapping[str, Any]) -> List[str]:
    """``key: old → new`` for each setting that differs between two :func:`align_record` dicts."""
    def show(d: Mapping[str, Any], k: str) -> str:
        return repr(d[k]) if k in d else "(unset)"

    keys = list(wanted) + [k for k in recorded if k not in wanted]
    return [f"{k}: {show(recorded, k)} → {show(wanted, k)}" for k in keys
            if k not in recorded or k not in wanted or recorded[k] != wanted[k]]


def _reusable(out_dir: Path, manifest: Optional[Dict[str, Any]], wanted: Dict[str, Any], complete: Set[str],
              force: bool) -> Tuple[Set[str], bool]:
    """Finished scenes that may be kept, and whether the manifest is to be kept up to date."""
    if force:
        return set(), True
    if manifest is None:
        if not complete:
            return set(), True
        # Labels from elsewhere (the published download, or made before manifests existed):
        # their settings are unknown, and recomputing them unasked would discard them.
        log.info("%s: no %s, so its %d finished scene(s) are used as they are, whatever made them; "
                 "delete the folder (or pass --force) to rebuild them with the current align settings",
                 out_dir, MANIFEST_NAME, len(complete))
        return complete, False
    if manifest.get("align") != wanted:
        changes = changed_settings(manifest["align"], wanted) if manifest else ["(unknown)"]
        if complete:
            log.info("%s: labels were made with other align settings (%s); recomputing every scene",
                     out_dir, "; ".join(changes))
        return set(), True
    return complete & set(manifest["scenes"]), True


def prepare_color(data_root: PathLike, split: str = "Training", cfg: AlignConfig = AlignConfig(),
                  force: bool = False, workers: Optional[int] = None,
                  progress: bool = True) -> PrepareSummary:
    """Write ``ROOT/<split>_align/<scene>/`` for every scene of ``ROOT/<split>`` (see module).

    Scenes finished with the same align settings (per the manifest) are skipped unless
    ``force``; ``workers`` processes (default: CPU count; 1 runs in this process). The first
    bad scene raises its :class:`InputError` (which names the file or scene folder); scenes
    finished before it are kept.
    """
    start = time.perf_counter()
    build_flow(cfg)  # a misconfigured estimator (RAFT without weights) fails before any work
    src_split = Path(data_root) / split
    out_dir = align_dir(data_root, split)
    scenes = list_scenes(src_split)
    complete = {d.name for d in scenes
                if is_complete(out_dir / d.name, [p.name for p in find_scene_files(d).ldr_paths])}
    wanted = align_record(cfg)
    manifest = read_manifest(out_dir)
    keep, tracked = _reusable(out_dir, manifest, wanted, complete, force)
    todo = [(d, out_dir / d.name) for d in scenes if d.name not in keep]
    out_dir.mkdir(parents=True, exist_ok=True)
    for _, dest in todo:  # leftovers of an interrupted run
        for stale in out_dir.glob(f".{dest.name}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)
    made = set(keep)

    def finished(name: Optional[str]) -> None:
        # Rewritten before the first scene is replaced (dropping old settings' claims) and
        # after each one, so an interruption loses no finished scene and keeps no stale one.
        if name is not None:
            made.add(name)
        if tracked:
            record = {"align": wanted, "scenes": sorted(made)}
            atomic_write_text(out_dir / MANIFEST_NAME, json.dumps(record, indent=2) + "\n")

    if tracked and (todo or manifest != {"align": wanted, "scenes": sorted(made)}):
        finished(None)
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    bar = tqdm(total=len(todo), desc=f"aligning {split}", unit="scene", disable=not progress or not todo)
    with bar:
        if n_workers == 1:
            for d, dest in todo:
                prepare_scene(d, dest, cfg)
                finished(dest.name)
                bar.update()
        else:
            _run_pool(todo, cfg, n_workers, bar, finished)
    return PrepareSummary(out_dir, len(todo), len(scenes) - len(todo), time.perf_counter() - start)


def _run_pool(todo: List[Tuple[Path, Path]], cfg: AlignConfig, n_workers: int, bar: tqdm,
              finished: Callable[[str], None]) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_worker_init) as pool:
        pending: Dict[Future, Path] = {pool.submit(_run, str(d), str(dest), cfg): dest for d, dest in todo}
        try:
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    dest = pending.pop(fut)
                    _, _, err = fut.result()
                    if err is not None:
                        raise InputError(err[0], err[1])
                    finished(dest.name)
                    bar.update()
        finally:
            for fut in pending:
                fut.cancel()
            with contextlib.suppress(Exception):
                pool.shutdown(wait=True, cancel_futures=True)
