"""Torch datasets over Kalantari-format scenes: random crops for training, full images for test.

Each item is a dict: ``x1, x2, x3`` (6×H×W float32 frames ``[LDR**2.2 / t, LDR]``, frame 2 the
reference), ``t`` (the three exposure times), ``name`` (scene), and one 3×H×W tensor per
requested label: ``gt`` is the scene's own ``HDRImg.hdr``; other labels come from folders
holding ``<scene>/HDRImg.hdr`` (SelfHDR's ``Training_align`` layout) or ``<scene>.hdr``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from ..camera import frame_input, match_exposure
from ..errors import InputError
from ..io import read_hdr
from .scene import REFERENCE, Scene, find_scene_files, list_scenes, read_scene

PathLike = Union[str, "os.PathLike[str]"]
GT = "gt"
AUGMENTATIONS = ("flip", "rot90", "channels", "gain", "tint")
"""What :class:`BracketDataset`'s ``augment`` may hold."""
SATURATED = 0.95
"""A reference pixel whose largest channel reaches this counts as saturated (``saturated_crops``)."""
GAIN_STOPS = 1.0
"""The ``gain`` augmentation brightens each colour channel by up to this many stops (default);
``tint`` shifts the channels apart by up to this many stops."""


def check_augment(augment: Sequence[str], saturated_crops: float = 0.0,
                  gain_stops: float = GAIN_STOPS) -> Tuple[str, ...]:
    """``augment`` as a tuple, or ValueError naming an unknown augmentation or an impossible
    ``saturated_crops`` / ``gain_stops`` (the crop options of :class:`BracketDataset`)."""
    if isinstance(augment, str):
        raise ValueError(f"augment must be a list of names, got the string {augment!r}")
    bad = [a for a in augment if a not in AUGMENTATIONS]
    if bad:
        raise ValueError(f"unknown augmentation {bad[0]!r}; choose from {', '.join(AUGMENTATIONS)}")
    if not 0.0 <= saturated_crops <= 1.0:
        raise ValueError(f"saturated_crops must lie in [0, 1], got {saturated_crops}")
    if gain_stops < 0:
        raise ValueError(f"gain_stops must be ≥ 0, got {gain_stops}")
    if "gain" in augment and "tint" in augment:
        raise ValueError("augment: choose one of 'gain' and 'tint' (both set the channel gains)")
    return tuple(augment)


class AugmentView:
    """One draw of ``augment``, applied alike to every H×W×3 array of an item.

    ``frame`` transforms an LDR frame, ``label`` an HDR label: the geometric and channel
    transforms are the same for both; ``gain`` multiplies channel c's radiance by
    g_c = 2**u_c (u_c uniform in [0, stops]), which is what a brighter scene through the same
    camera gives: frames are re-exposed through the camera model (clipped pixels stay
    clipped, others may clip), labels scaled and clipped to 1 like the shortest frame (the
    label convention). Gains ≥ 1 only: a clipped pixel's radiance is unknown, so darkening
    one cannot be simulated. ``tint`` draws the same u_c and uses g_c = 2**(u_c − min u): the
    same spread of colours between the channels, with the least-brightened channel left as it
    was, so the scene brightens only as much as the colour shift needs.
    """

    def __init__(self, rng: np.random.Generator, augment: Sequence[str], stops: float = GAIN_STOPS) -> None:
        self.flip = "flip" in augment and bool(rng.integers(0, 2))
        self.turns = int(rng.integers(0, 4)) if "rot90" in augment else 0
        self.perm = rng.permutation(3) if "channels" in augment else None
        self.gain = None
        if "gain" in augment or "tint" in augment:
            u = rng.uniform(0.0, stops, 3)
            self.gain = (2.0 ** (u - u.min() if "tint" in augment else u)).astype(np.float32)

    def _geometry(self, img: np.ndarray) -> np.ndarray:
        if self.flip:
            img = img[:, ::-1]
        if self.turns:
            img = np.rot90(img, self.turns, axes=(0, 1))
        if self.perm is not None:
            img = img[..., self.perm]
        return img

    def frame(self, ldr: np.ndarray) -> np.ndarray:
        """An LDR frame (any exposure: the gain acts on radiance, so on every frame alike)."""
        if self.gain is not None:
            ldr = match_exposure(ldr, 1.0, self.gain).astype(np.float32)
        return self._geometry(ldr)

    def label(self, hdr: np.ndarray) -> np.ndarray:
        """An HDR label in the scene's radiance units."""
        if self.gain is not None:
            hdr = np.minimum(hdr * self.gain, 1.0).astype(np.float32)
        return self._geometry(hdr)


def label_path(label_dir: PathLike, scene: str) -> Path:
    """Where a label for ``scene`` lives in ``label_dir`` (``<scene>/HDRImg.hdr`` or ``<scene>.hdr``)."""
    d = Path(label_dir)
    for cand in (d / scene / "HDRImg.hdr", d / scene / "HDRImg.exr", d / f"{scene}.hdr", d / f"{scene}.exr"):
        if cand.is_file():
            return cand
    raise InputError(d / scene, f"no label for scene {scene!r} in {d} (looked for {scene}/HDRImg.hdr and {scene}.hdr)")


def exposure_fallback(scene_dir: Path, original_split: Optional[Path]) -> Optional[Path]:
    """For ``*_align`` scene folders without exposures, the original scene's exposure file."""
    if original_split is None:
        return None
    files = [scene_dir / n for n in ("exposure.txt", "input_exp.txt")]
    if any(f.is_file() for f in files):
        return None
    return find_scene_files(original_split / scene_dir.name).exposure_path


@dataclass
class _Item:
    scene: Scene
    labels: Dict[str, np.ndarray]
    saturated: Optional[np.ndarray] = None
    """Flat indices of the reference's saturated pixels (only with ``saturated_crops``)."""


class BracketDataset(Dataset):
    """Scenes of one split, preloaded; random ``patch_size`` crops or whole images.

    Args:
        split_dir: folder of scene folders (e.g. ``ROOT/Training`` or ``ROOT/Training_align``).
        labels: label name → ``"gt"`` (the scene's own HDR) or a label folder.
        patch_size: crop side for training; ``None`` returns whole images.
        length: items per epoch in training mode (default: one per scene).
        crop_top_left: in whole-image mode, keep only the top-left square of this side
            (SelfHDR validates on the top-left 512×512).
        original_split: the un-aligned split folder whose ``exposure.txt`` an ``*_align``
            scene without one falls back to.
        seed: crops depend only on (seed, epoch, index), whatever the worker layout.
        augment: training-crop augmentations, any of :data:`AUGMENTATIONS`, drawn per item from
            the same (seed, epoch, index) and applied alike to the three frames and every label:
            ``flip`` (horizontal, 1/2), ``rot90`` (0–3 quarter turns), ``channels`` (a random
            permutation of the colour channels), ``gain`` (each channel's radiance brightened by
            up to ``gain_stops``; see :class:`AugmentView`), ``tint`` (the channels' radiance
            shifted apart by up to ``gain_stops``, the least one unchanged; not with ``gain``).
            None of them changes how a bracket maps to its radiance; the published code uses
            none.
        saturated_crops: the share of training crops drawn around a pixel where the reference
            frame is saturated (largest channel ≥ :data:`SATURATED`), picked uniformly among
            such pixels; the rest (and every crop of a scene without one) are uniform, as
            published (0).
    """

    def __init__(
        self,
        split_dir: PathLike,
        labels: Optional[Mapping[str, Union[str, PathLike]]] = None,
        patch_size: Optional[int] = None,
        length: Optional[int] = None,
        crop_top_left: Optional[int] = None,
        original_split: Optional[PathLike] = None,
        seed: int = 0,
        progress: bool = False,
        scenes: Optional[List[str]] = None,
        augment: Sequence[str] = (),
        saturated_crops: float = 0.0,
        gain_stops: float = GAIN_STOPS,
    ) -> None:
        self.augment = check_augment(augment, saturated_crops, gain_stops)
        self.gain_stops = float(gain_stops)
        self.split_dir = Path(split_dir)
        self.saturated_crops = float(saturated_crops)
        self.patch_size = patch_size
        self.crop_top_left = crop_top_left
        self.seed = seed
        self.epoch = 0
        dirs = list_scenes(self.split_dir)
        if scenes is not None:
            wanted = set(scenes)
            dirs = [d for d in dirs if d.name in wanted]
        orig = Path(original_split) if original_split is not None else None
        label_spec = dict(labels or {})

        def load(d: Path) -> _Item:
            scene = read_scene(d, exposure_fallback(d, orig), with_hdr=GT in label_spec.values())
            out: Dict[str, np.ndarray] = {}
            for name, src in label_spec.items():
                if src == GT:
                    if scene.hdr is None:
                        raise InputError(d, "scene has no HDRImg.hdr but label 'gt' was requested")
                    out[name] = scene.hdr
                else:
                    p = label_path(src, scene.name)
                    img = read_hdr(p)
                    if img.shape != scene.ldrs[0].shape:
                        raise InputError(p, f"label size {img.shape[:2]} differs from the frames {scene.ldrs[0].shape[:2]}")
                    out[name] = img
            if patch_size is not None:
                h, w = scene.ldrs[0].shape[:2]
                if h < patch_size or w < patch_size:
                    raise InputError(d, f"frames ({w}×{h}) are smaller than the {patch_size} patch size")
            sat = None
            if patch_size is not None and saturated_crops > 0:
                sat = np.flatnonzero(scene.ldrs[REFERENCE].max(axis=2) >= SATURATED).astype(np.int64)
            return _Item(scene, out, sat)

        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            it = pool.map(load, dirs)
            self.items: List[_Item] = list(
                tqdm(it, total=len(dirs), desc=f"loading {self.split_dir.name}", disable=not progress)
            )
        self.length = length if length is not None else len(self.items)

    @property
    def names(self) -> List[str]:
        """Scene names in item order."""
        return [it.scene.name for it in self.items]

    def set_epoch(self, epoch: int) -> None:
        """Change the crops drawn for each index (called by the trainer every epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Dict[str, object]:
        item = self.items[index % len(self.items)]
        ldrs = item.scene.ldrs
        labels = item.labels
        h, w = ldrs[0].shape[:2]
        if self.patch_size is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            p = self.patch_size
            sat = item.saturated
            if self.saturated_crops > 0 and sat is not None and sat.size \
                    and rng.random() < self.saturated_crops:
                cy, cx = divmod(int(sat[rng.integers(0, sat.size)]), w)
                # A crop that holds (cy, cx) at a uniform offset, moved inside the image.
                y = min(max(cy - int(rng.integers(0, p)), 0), h - p)
                x = min(max(cx - int(rng.integers(0, p)), 0), w - p)
            else:
                y = int(rng.integers(0, h - p + 1))
                x = int(rng.integers(0, w - p + 1))
            win = (slice(y, y + p), slice(x, x + p))
        elif self.crop_top_left is not None:
            win = (slice(0, self.crop_top_left), slice(0, self.crop_top_left))
        else:
            win = (slice(None), slice(None))
        view = AugmentView(rng, self.augment, self.gain_stops) if self.patch_size is not None and self.augment else None
        out: Dict[str, object] = {"name": item.scene.name}
        times = item.scene.times
        for k, (ldr, t) in enumerate(zip(ldrs, times)):
            crop = ldr[win] if view is None else view.frame(ldr[win])
            out[f"x{k + 1}"] = _chw(frame_input(crop, float(t)))
        out["t"] = torch.tensor(times, dtype=torch.float32)
        for name, img in labels.items():
            out[name] = _chw(img[win] if view is None else view.label(img[win]))
        return out


def _chw(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))
