"""Build ``ROOT/<split>_align/``: flow-aligned frames and Y_color, in the SelfHDR download's layout.

Each scene folder gets the three LDR frames under their source names (the two non-reference
frames warped onto the reference and written as 16-bit TIFFs, the reference copied byte for
byte), ``exposure.txt`` and ``HDRImg.hdr`` holding Y_color, plus ``HDRImg_preview.png``. A
user who has the published download can use it instead: the training code reads either.

Scenes are independent, so they run in a process pool; each is written into a hidden
temporary folder and renamed into place, so an interrupted run never leaves a half-written
scene, and a rerun skips finished ones.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from tqdm import tqdm

from ..data.scene import REFERENCE, find_scene_files, list_scenes, read_scene
from ..errors import InputError
from ..io import read_exposure_stops, write_exposures, write_hdr, write_ldr, write_preview
from .color import compute_color
from .config import AlignConfig
from .flow import build_flow

PathLike = Union[str, "os.PathLike[str]"]
LABEL_NAME = "HDRImg.hdr"
PREVIEW_NAME = "HDRImg_preview.png"
EXPOSURE_NAME = "exposure.txt"


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


def prepare_color(data_root: PathLike, split: str = "Training", cfg: AlignConfig = AlignConfig(),
                  force: bool = False, workers: Optional[int] = None,
                  progress: bool = True) -> PrepareSummary:
    """Write ``ROOT/<split>_align/<scene>/`` for every scene of ``ROOT/<split>`` (see module).

    Finished scenes are skipped unless ``force``; ``workers`` processes (default: CPU count;
    1 runs in this process). The first bad scene raises its :class:`InputError` (which names
    the file or scene folder); scenes finished before it are kept.
    """
    start = time.perf_counter()
    build_flow(cfg)  # a misconfigured estimator (RAFT without weights) fails before any work
    src_split = Path(data_root) / split
    out_dir = align_dir(data_root, split)
    todo: List[Tuple[Path, Path]] = []
    skipped = 0
    for d in list_scenes(src_split):
        dest = out_dir / d.name
        names = [p.name for p in find_scene_files(d).ldr_paths]
        if not force and is_complete(dest, names):
            skipped += 1
        else:
            todo.append((d, dest))
    out_dir.mkdir(parents=True, exist_ok=True)
    for _, dest in todo:  # leftovers of an interrupted run
        for stale in out_dir.glob(f".{dest.name}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    bar = tqdm(total=len(todo), desc=f"aligning {split}", unit="scene", disable=not progress or not todo)
    with bar:
        if n_workers == 1:
            for d, dest in todo:
                prepare_scene(d, dest, cfg)
                bar.update()
        else:
            _run_pool(todo, cfg, n_workers, bar)
    return PrepareSummary(out_dir, len(todo), skipped, time.perf_counter() - start)


def _run_pool(todo: List[Tuple[Path, Path]], cfg: AlignConfig, n_workers: int, bar: tqdm) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_worker_init) as pool:
        pending: Dict[Future, Path] = {pool.submit(_run, str(d), str(dest), cfg): d for d, dest in todo}
        try:
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    pending.pop(fut)
                    _, _, err = fut.result()
                    if err is not None:
                        raise InputError(err[0], err[1])
                    bar.update()
        finally:
            for fut in pending:
                fut.cancel()
            with contextlib.suppress(Exception):
                pool.shutdown(wait=True, cancel_futures=True)
