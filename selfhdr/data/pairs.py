"""Under/over exposure pairs for the fusion network: discovery and a torch Dataset.

Two folder layouts are understood, searched recursively under a root (hidden and
``__MACOSX`` folders skipped):

* **A/B pairs**: ``<dir>/<prefix>_A.<ext>`` with ``<dir>/<prefix>_B.<ext>`` (png, jpg,
  jpeg, tif, tiff, bmp). Public sets disagree on whether A is the darker frame, so the
  frames are ordered by mean brightness when read: the darker is the under-exposure (ties
  keep A as under). With ``order_by_brightness=False``, A = under and B = over.
* **Kalantari scenes**: a folder with ``.tif`` frames sorted by name = increasing exposure
  (``input_{1,2,3}_aligned.tif`` preferred when present, as in the aligned repackaging):
  the first is the under-, the last the over-exposure. No exposure file is needed.

A pair's name is its folder relative to the root (plus ``/<prefix>`` when a folder holds
several A/B pairs).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InputError, PathLike
from ..io import read_ldr
from .scene import LDR_SUFFIXES


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_AB = re.compile(r"^(?P<prefix>.*)_(?P<side>[AB])$")
_ALIGNED = re.compile(r"^input_\d+_aligned$")


@dataclass(frozen=True)
class PairFiles:
    """One exposure pair on disk; ``first``/``second`` are under/over unless ``by_brightness``."""

    name: str
    first: Path
    second: Path
    by_brightness: bool


def _ab_pairs(d: Path, files: List[Path], rel: str) -> List[PairFiles]:
    sides: Dict[str, Dict[str, Path]] = {}
    for p in files:
        m = _AB.match(p.stem)
        if m and p.suffix.lower() in IMAGE_SUFFIXES:
            slot = sides.setdefault(m.group("prefix"), {})
            if m.group("side") in slot:
                raise InputError(p, f"two files for side {m.group('side')} of pair {m.group('prefix')!r}")
            slot[m.group("side")] = p
    pairs = []
    for prefix in sorted(sides):
        slot = sides[prefix]
        if set(slot) != {"A", "B"}:
            only = next(iter(slot.values()))
            raise InputError(only, f"pair {prefix!r} has no _{'B' if 'A' in slot else 'A'} partner")
        if len(sides) == 1:
            name = rel if rel != "." else prefix
        else:
            name = prefix if rel == "." else f"{rel}/{prefix}"
        pairs.append(PairFiles(name, slot["A"], slot["B"], True))
    return pairs


def _kalantari_pair(files: List[Path], rel: str, root: Path) -> Optional[PairFiles]:
    frames = sorted((p for p in files if p.suffix.lower() in LDR_SUFFIXES), key=lambda p: p.name)
    aligned = [p for p in frames if _ALIGNED.match(p.stem)]
    frames = aligned or frames
    if not frames:
        return None
    if len(frames) < 2:
        raise InputError(frames[0].parent, "a scene folder needs at least two .tif frames")
    return PairFiles(rel if rel != "." else root.name, frames[0], frames[-1], False)


def find_pairs(root: PathLike) -> List[PairFiles]:
    """Every exposure pair under ``root``, sorted by name; InputError if there is none."""
    base = Path(root)
    if not base.is_dir():
        raise InputError(base, "pair folder not found")
    pairs: List[PairFiles] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(n for n in dirnames if not n.startswith((".", "__")))
        d = Path(dirpath)
        files = sorted((d / n for n in filenames if not n.startswith(".")), key=lambda p: p.name)
        rel = d.relative_to(base).as_posix()
        found = _ab_pairs(d, files, rel)
        if not found:
            kal = _kalantari_pair(files, rel, base)
            found = [kal] if kal is not None else []
        pairs.extend(found)
    if not pairs:
        raise InputError(base, "no exposure pairs found (expected <scene>/*_A.png + *_B.png "
                               "or Kalantari scene folders of .tif frames)")
    names = [p.name for p in pairs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(base, f"pair names are not unique: {', '.join(dupes)}")
    return sorted(pairs, key=lambda p: p.name)


def read_pair(pair: PairFiles, order_by_brightness: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """(under, over) as float32 H×W×3 RGB in [0, 1]; InputError if the sizes differ."""
    first, second = read_ldr(pair.first), read_ldr(pair.second)
    if first.shape != second.shape:
        raise InputError(pair.second, f"size {second.shape[1]}×{second.shape[0]} differs from "
                                      f"{pair.first.name} ({first.shape[1]}×{first.shape[0]})")
    if pair.by_brightness and order_by_brightness and second.mean() < first.mean():
        first, second = second, first
    return first, second


class ExposurePairs(Dataset):
    """Dataset of ``{'under', 'over'}`` 3×H×W float32 RGB tensors in [0, 1] plus ``'name'``.

    ``patch_size`` set: one random square crop (the same for both frames) per item, for
    training, drawn from (``seed``, epoch, index) only, as :class:`BracketDataset` does, so
    a resumed run sees the same crops; ``None``: full images, for evaluation. ``length``
    items per epoch (default: one per pair) lets the trainer's ``iters_per_epoch ×
    batch_size`` run over a small folder; ``cache`` keeps decoded pairs in memory.
    """

    def __init__(self, root: PathLike, patch_size: Optional[int] = None, length: Optional[int] = None,
                 order_by_brightness: bool = True, cache: bool = False, seed: int = 0) -> None:
        if patch_size is not None and patch_size < 1:
            raise ValueError(f"patch_size must be positive or None, got {patch_size}")
        if length is not None and length < 1:
            raise ValueError(f"length must be >= 1 or None, got {length}")
        self.pairs = find_pairs(root)
        self.patch_size = patch_size
        self.length = length if length is not None else len(self.pairs)
        self.order_by_brightness = order_by_brightness
        self.seed = seed
        self.epoch = 0
        self._cache: Optional[Dict[int, Tuple[np.ndarray, np.ndarray]]] = {} if cache else None

    @property
    def names(self) -> List[str]:
        """Pair names in item order."""
        return [p.name for p in self.pairs]

    def set_epoch(self, epoch: int) -> None:
        """Change the crops drawn for each index (called by the trainer every epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def _load(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        images = read_pair(self.pairs[index], self.order_by_brightness)
        if self._cache is not None:
            self._cache[index] = images
        return images

    def __getitem__(self, item: int) -> Dict[str, object]:
        index = item % len(self.pairs)
        under, over = self._load(index)
        if self.patch_size is not None:
            h, w = under.shape[:2]
            p = self.patch_size
            if h < p or w < p:
                raise InputError(self.pairs[index].first,
                                 f"image {w}×{h} is smaller than the {p}×{p} training patch")
            rng = np.random.default_rng([self.seed, self.epoch, item])
            top, left = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            under, over = under[top:top + p, left:left + p], over[top:top + p, left:left + p]
        return {
            "under": torch.from_numpy(np.ascontiguousarray(under.transpose(2, 0, 1))),
            "over": torch.from_numpy(np.ascontiguousarray(over.transpose(2, 0, 1))),
            "name": self.pairs[index].name,
        }
