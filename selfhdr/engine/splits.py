"""Which scenes train, validate and test a run, and which of them have labels.

SelfHDR needs no ground truth, so a dataset root may lack ``HDRImg.hdr`` everywhere, or lack
the ``Test/`` split. The rules:

* **training** uses every scene of ``data.train_split`` except those held out for validation;
* **validation** uses held-out training scenes when ``data.val_fraction`` > 0 (by default
  0.1 when there is no test split, else 0), otherwise the test split;
* **testing** uses the test split when it exists, else the held-out training scenes, else
  nothing (the test step is skipped with a log line).

Held-out scenes are a seeded, sorted choice: the same seed and scene list give the same split.
Metrics and rows that need labels (baselines, Y_color's score, the supervised row, validation
PSNR) are computed on the labelled scenes only, and skipped when there are none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np

from ..data.scene import find_scene_files, list_scenes
from ..errors import InputError

AUTO_VAL_FRACTION = 0.1
"""``data.val_fraction`` used when it is unset and the dataset has no test split."""


@dataclass(frozen=True)
class SceneSet:
    """Scenes of one split folder: their names and which of them have an HDR label."""

    dir: Path
    names: List[str]
    labelled: List[str]

    @property
    def any_labelled(self) -> bool:
        """At least one scene has a label."""
        return bool(self.labelled)

    @property
    def all_labelled(self) -> bool:
        """Every scene has a label."""
        return bool(self.names) and len(self.labelled) == len(self.names)

    @property
    def unlabelled(self) -> List[str]:
        """Names of the scenes without a label."""
        have = set(self.labelled)
        return [n for n in self.names if n not in have]


@dataclass(frozen=True)
class Splits:
    """The scenes a run trains, validates and tests on."""

    train: SceneSet
    val: Optional[SceneSet]
    test: Optional[SceneSet]
    held_out: List[str]
    """Training scenes kept out of training (validation, and testing when there is no test split)."""

    def describe(self) -> str:
        """One line for the log: counts and label coverage of each part."""
        def part(name: str, s: Optional[SceneSet]) -> str:
            if s is None:
                return f"{name}: none"
            return f"{name}: {len(s.names)} scenes in {s.dir.name}/ ({len(s.labelled)} labelled)"
        return "; ".join([part("train", self.train), part("validation", self.val), part("test", self.test)])


def scene_set(split_dir: Path, names: Optional[List[str]] = None) -> SceneSet:
    """The scenes of ``split_dir`` (optionally only ``names``) and which have a label."""
    dirs = list_scenes(split_dir)
    if names is not None:
        wanted = set(names)
        dirs = [d for d in dirs if d.name in wanted]
    labelled = [d.name for d in dirs if find_scene_files(d).hdr_path is not None]
    return SceneSet(Path(split_dir), [d.name for d in dirs], labelled)


def hold_out(names: List[str], fraction: float, seed: int) -> List[str]:
    """A seeded choice of ``round(fraction · n)`` names (at least 1, leaving at least 1), sorted."""
    if fraction <= 0 or len(names) < 2:
        return []
    k = min(len(names) - 1, max(1, int(round(fraction * len(names)))))
    order = np.random.default_rng([seed, 4099]).permutation(len(names))
    return sorted(names[i] for i in order[:k])


def resolve_splits(root: Path, train_split: str, test_split: str, val_fraction: Optional[float],
                   seed: int) -> Splits:
    """Apply the rules of this module to a dataset root (the training split must exist)."""
    train_all = scene_set(root / train_split)
    test_dir = root / test_split
    test = scene_set(test_dir) if test_dir.is_dir() and _has_scenes(test_dir) else None
    fraction = val_fraction if val_fraction is not None else (AUTO_VAL_FRACTION if test is None else 0.0)
    held = hold_out(train_all.names, fraction, seed)
    keep = [n for n in train_all.names if n not in set(held)]
    train = scene_set(root / train_split, keep)
    held_set = scene_set(root / train_split, held) if held else None
    val = held_set if held_set is not None else test
    return Splits(train=train, val=val, test=test if test is not None else held_set, held_out=held)


def _has_scenes(split_dir: Path) -> bool:
    try:
        list_scenes(split_dir)
    except InputError:  # an empty split folder counts as absent
        return False
    return True


__all__ = ["AUTO_VAL_FRACTION", "SceneSet", "Splits", "hold_out", "resolve_splits", "scene_set"]
