"""Training samples for self-supervision from motion and exposure cues (Nazarczuk et al. 2022).

Each training bracket is cut into a grid of ``patch_size`` patches (step ``stride``), and every
patch is classified once, from the unlabelled frames only:

* **static**: the exposures agree. Each adjacent pair (short, reference) and (reference,
  long) is compared in the brighter frame's LDR domain, the darker frame being re-exposed
  with :func:`selfhdr.camera.match_exposure`, at pixels where neither is clipped and the
  darker is not near-black. A pixel disagrees when the channel mean of |difference| exceeds
  ``tolerance`` plus ``noise_sigmas`` standard deviations of the Poisson–Gaussian noise
  of both frames carried into that domain, or when one frame is clipped and the other lies
  below the clipping level by more than that (a bright object that moved). A patch is
  static when at most ``max_outliers`` of its pixels disagree. Label: the three linear
  frames fused with weights on each frame's *own* LDR value (see :func:`fusion_weights`).
* **moving** (not static but well exposed): at most ``max_badly_exposed`` of the reference
  patch's pixels are clipped (max channel ≥ ``clip_level``) or near-black (max channel ≤
  ``black_level``). Label: the linearised reference.
* otherwise **rejected**.

A training item takes a kept patch, scales its label by a log-uniform random gain (clipped to
[0, 1], the label convention: linear units where the shortest exposure saturates at 1), and
re-renders all three LDR frames from it with the camera model (the bracket's exposure times,
Poisson–Gaussian noise, clipping, gamma 2.2, quantisation), so the inputs are consistent
with a known label even where they clip. Before rendering, the two non-reference frames see
the label through their own random homography (motion augmentation); the reference and the
label are never warped. Everything random depends only on (seed, epoch, index).
"""

from __future__ import annotations

import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from ..camera import GAMMA, frame_input, hdr_to_ldr, ldr_to_hdr, match_exposure, reference_weight
from ..errors import InputError
from .scene import N_FRAMES, REFERENCE, list_scenes, read_scene

PathLike = Union[str, "os.PathLike[str]"]
log = logging.getLogger(__name__)

STATIC, MOVING, REJECTED = 0, 1, 2
CLASS_NAMES = ("static", "moving", "rejected")


# ----------------------------------------------------------------------------- settings


@dataclass
class PatchConfig:
    """The patch grid and the classification thresholds (LDR values are in [0, 1])."""

    stride: Optional[int] = None
    """Grid step in pixels; None: half the patch size (overlapping patches)."""
    clip_level: float = 0.98
    """An LDR pixel whose largest channel reaches this counts as clipped."""
    black_level: float = 0.02
    """An LDR pixel whose largest channel is at most this counts as near-black."""
    tolerance: float = 0.02
    """Noise-free part of the agreement tolerance (brighter frame's LDR units): response
    mismatch, compression, demosaicking."""
    noise_sigmas: float = 3.0
    """Plus this many standard deviations of the expected noise of the difference."""
    noise_shot: float = 1.25e-4
    """Assumed shot-noise variance per unit signal of the training frames (1 / full well)."""
    noise_read: float = 0.0015
    """Assumed read-noise standard deviation of the training frames (saturation = 1)."""
    max_outliers: float = 0.01
    """A patch is static if at most this fraction of its pixels disagree."""
    max_badly_exposed: float = 0.05
    """A non-static patch is kept if at most this fraction of its reference pixels is
    clipped or near-black."""

    def validate(self) -> None:
        """Reject levels outside (0, 1) and negative tolerances."""
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"stride must be ≥ 1, got {self.stride}")
        if not 0 <= self.black_level < self.clip_level <= 1:
            raise ValueError(f"need 0 ≤ black_level < clip_level ≤ 1, got {self.black_level}, {self.clip_level}")
        for name in ("tolerance", "noise_sigmas", "noise_shot", "noise_read"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be ≥ 0, got {getattr(self, name)}")
        for name in ("max_outliers", "max_badly_exposed"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass
class IlluminationConfig:
    """Synthetic illumination: the label's random gain and the camera that re-renders it."""

    gain_range: List[float] = field(default_factory=lambda: [0.5, 8.0])
    """The gain is log-uniform in [low, high]; above 1 the frames clip where the data did not."""
    noise_shot: float = 1.25e-4
    """Shot-noise variance per unit signal (1 / electrons at saturation)."""
    noise_read: float = 0.0015
    """Gaussian read-noise standard deviation (saturation = 1)."""
    bits: Optional[int] = 16
    """LDR quantisation (2**bits − 1 levels); None: none."""

    def validate(self) -> None:
        """Reject an empty or non-positive gain range and negative noise."""
        if len(self.gain_range) != 2 or not 0 < self.gain_range[0] <= self.gain_range[1]:
            raise ValueError(f"gain_range must be [low, high] with 0 < low ≤ high, got {self.gain_range}")
        if self.noise_shot < 0 or self.noise_read < 0:
            raise ValueError("noise_shot and noise_read must be ≥ 0")
        if self.bits is not None and not 1 <= self.bits <= 32:
            raise ValueError(f"bits must be in [1, 32], got {self.bits}")


@dataclass
class WarpConfig:
    """Motion augmentation: a homography per non-reference frame, each parameter Gaussian."""

    translation_px: float = 4.0
    """σ of the x and y shifts, pixels."""
    rotation_deg: float = 1.5
    """σ of the rotation about the patch centre, degrees."""
    scale: float = 0.02
    """σ of the log scale factor."""
    perspective: float = 0.01
    """σ of the two perspective terms, as the relative scale change they cause at the edge."""
    margin: int = 16
    """Context read around the patch so warps bring in real content (reflected beyond it)."""

    def validate(self) -> None:
        """Reject negative spreads."""
        for name in ("translation_px", "rotation_deg", "scale", "perspective", "margin"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be ≥ 0, got {getattr(self, name)}")

    @property
    def enabled(self) -> bool:
        """False when every spread is 0 (the warp is the identity)."""
        return any(v > 0 for v in (self.translation_px, self.rotation_deg, self.scale, self.perspective))


# ----------------------------------------------------------------------------- classification


@dataclass
class PatchGrid:
    """Top-left corners of the grid patches and their class (STATIC, MOVING or REJECTED)."""

    ys: np.ndarray
    xs: np.ndarray
    classes: np.ndarray
    """len(ys) × len(xs) int array."""

    def counts(self) -> Dict[str, int]:
        """Number of patches per class name."""
        return {n: int((self.classes == c).sum()) for c, n in enumerate(CLASS_NAMES)}


def disagreement(ldrs: Sequence[np.ndarray], times: Sequence[float], cfg: PatchConfig) -> np.ndarray:
    """H×W bool: pixels where an adjacent exposure pair disagrees beyond the noise tolerance."""
    out = np.zeros(ldrs[0].shape[:2], bool)
    read2 = cfg.noise_read**2
    floor = max(cfg.black_level, 1e-3) ** GAMMA
    for a, b in ((0, 1), (1, 2)):
        dark, bright = ldrs[a], ldrs[b]
        k = float(times[b]) / float(times[a])
        matched = match_exposure(dark, float(times[a]), float(times[b]))
        peak_m, peak_b = matched.max(-1), bright.max(-1)
        clip_m, clip_b = peak_m >= cfg.clip_level, peak_b >= cfg.clip_level
        # Noise of both frames in the brighter frame's linear domain (saturation = 1), then
        # carried through the gamma curve's slope at the brighter frame's level.
        s_dark, s_bright = dark**GAMMA, bright**GAMMA
        var = k * k * (cfg.noise_shot * s_dark + read2) + cfg.noise_shot * s_bright + read2
        slope = np.maximum(s_bright, floor) ** (1.0 / GAMMA - 1.0) / GAMMA
        tol = (cfg.tolerance + cfg.noise_sigmas * slope * np.sqrt(var)).mean(-1)
        valid = ~clip_m & ~clip_b & (dark.max(-1) > cfg.black_level)
        out |= valid & (np.abs(matched - bright).mean(-1) > tol)
        # One frame saturated where the other is clearly below saturation: a bright object
        # that moved. (Values are not compared there: saturation levels differ per channel.)
        out |= clip_m & ~clip_b & (peak_b < cfg.clip_level - tol)
        out |= clip_b & ~clip_m & (peak_m < cfg.clip_level - tol)
    return out


def badly_exposed(ref: np.ndarray, cfg: PatchConfig) -> np.ndarray:
    """H×W bool: reference pixels that are clipped or near-black."""
    peak = ref.max(-1)
    return (peak >= cfg.clip_level) | (peak <= cfg.black_level)


def grid_corners(size: int, patch: int, stride: int) -> np.ndarray:
    """Patch starts along one axis: every ``stride`` pixels, the last patch ending inside."""
    if size < patch:
        return np.zeros(0, np.int64)
    return np.arange(0, size - patch + 1, stride, dtype=np.int64)


def _box_sums(mask: np.ndarray, ys: np.ndarray, xs: np.ndarray, p: int) -> np.ndarray:
    """Number of True pixels in each p×p patch (integral image; len(ys) × len(xs))."""
    s = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int64)
    s[1:, 1:] = mask.astype(np.int64).cumsum(0).cumsum(1)
    y0, x0 = ys[:, None], xs[None, :]
    return s[y0 + p, x0 + p] - s[y0, x0 + p] - s[y0 + p, x0] + s[y0, x0]


def classify_patches(ldrs: Sequence[np.ndarray], times: Sequence[float], patch: int,
                     cfg: Optional[PatchConfig] = None) -> PatchGrid:
    """Classify the patch grid of one bracket (frames H×W×3, shortest first) into the classes."""
    cfg = cfg or PatchConfig()
    h, w = ldrs[0].shape[:2]
    stride = cfg.stride or max(1, patch // 2)
    ys, xs = grid_corners(h, patch, stride), grid_corners(w, patch, stride)
    area = patch * patch
    outliers = _box_sums(disagreement(ldrs, times, cfg), ys, xs, patch)
    bad = _box_sums(badly_exposed(ldrs[REFERENCE], cfg), ys, xs, patch)
    static = outliers <= cfg.max_outliers * area
    well = bad <= cfg.max_badly_exposed * area
    classes = np.where(static, STATIC, np.where(well, MOVING, REJECTED)).astype(np.int64)
    return PatchGrid(ys, xs, classes)


# ----------------------------------------------------------------------------- labels and camera


def fusion_weights(ldrs: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangle-shaped weights (short, reference, long), each on that frame's own LDR value x.

    Short: rising then flat, min(1, 2x), as only it sees the highlights; reference: the hat
    1 − |2x − 1|; long: flat then falling, min(1, 2 − 2x), as only it sees the shadows.
    Nazarczuk et al.'s figure draws P0 flat then falling and P2 rising then flat. Giving the
    flat-then-falling curve to the *short* frame would give a saturated long pixel full
    weight, so the curves go by role: each frame keeps full weight where it alone is
    informative, and a clipped long pixel gets weight 0. Unnormalised.
    """
    short, ref, long_ = ldrs
    hat_s, hat_l = reference_weight(short), reference_weight(long_)
    return (np.where(short < 0.5, hat_s, 1.0), reference_weight(ref), np.where(long_ < 0.5, 1.0, hat_l))


def fuse_static(ldrs: Sequence[np.ndarray], times: Sequence[float]) -> np.ndarray:
    """HDR fusion of an aligned bracket: Σ w_k·ldr_k**γ/t_k / Σ w_k (the reference where Σ w = 0)."""
    weights = fusion_weights(ldrs)
    linears = [ldr_to_hdr(ldr, float(t)) for ldr, t in zip(ldrs, times)]
    total = weights[0] + weights[1] + weights[2]
    num = sum(wk * lk for wk, lk in zip(weights, linears))
    safe = np.maximum(total, 1e-6)
    return np.where(total > 1e-6, num / safe, linears[REFERENCE]).astype(np.float32)


def render_ldr(radiance: np.ndarray, t: float, rng: np.random.Generator,
               cfg: IlluminationConfig) -> np.ndarray:
    """Camera: exposure, Poisson–Gaussian noise, clipping, gamma 2.2, quantisation.

    The noise is the heteroscedastic Gaussian form of the Poisson–Gaussian model (variance
    ``noise_shot · s + noise_read²`` at signal s, saturation = 1): the same model the patch
    classification assumes, and several times faster to draw than Poisson counts.
    """
    # Signal above 2 saturates whatever the noise; capping it bounds the noise there too.
    signal = np.minimum(np.maximum(radiance, 0.0) * t, 2.0)
    std = np.sqrt(cfg.noise_shot * signal + cfg.noise_read**2)
    if cfg.noise_shot > 0 or cfg.noise_read > 0:
        signal = signal + std * rng.standard_normal(signal.shape, dtype=np.float32)
    ldr = hdr_to_ldr(signal, 1.0)
    if cfg.bits is not None:
        levels = float(2**cfg.bits - 1)
        ldr = np.round(ldr * levels) / levels
    return ldr.astype(np.float32)


def random_homography(rng: np.random.Generator, size: int, cfg: WarpConfig) -> np.ndarray:
    """A 3×3 homography about the centre of a size×size window, parameters drawn from Gaussians."""
    theta = math.radians(rng.normal(0.0, cfg.rotation_deg))
    s = math.exp(rng.normal(0.0, cfg.scale))
    tx, ty = rng.normal(0.0, cfg.translation_px, 2)
    half = size / 2.0
    px, py = rng.normal(0.0, cfg.perspective, 2) / half
    m = np.array([[s * math.cos(theta), -s * math.sin(theta), tx],
                  [s * math.sin(theta), s * math.cos(theta), ty],
                  [px, py, 1.0]])
    c = (size - 1) / 2.0
    to_centre = np.array([[1.0, 0.0, -c], [0.0, 1.0, -c], [0.0, 0.0, 1.0]])
    back = np.array([[1.0, 0.0, c], [0.0, 1.0, c], [0.0, 0.0, 1.0]])
    return back @ m @ to_centre


def warp_image(img: np.ndarray, hom: np.ndarray) -> np.ndarray:
    """Warp an H×W×C image by a homography (bilinear, reflected borders), same size."""
    h, w = img.shape[:2]
    return cv2.warpPerspective(img, hom, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


# ----------------------------------------------------------------------------- dataset


@dataclass
class _Bracket:
    name: str
    ldrs: List[np.ndarray]
    times: np.ndarray
    grid: PatchGrid


class CuesDataset(Dataset):
    """Kept patches of a training split with synthetic-illumination labels and warped inputs.

    Args:
        split_dir: folder of scene folders (only the LDR frames and exposures are read).
        patch_size: side of the grid patches and of the returned crops.
        patches, illumination, warp: the three settings sections (defaults above).
        length: items per epoch (default: the number of kept patches).
        seed: every item depends only on (seed, epoch, index).

    Items: ``x1, x2, x3`` (6×p×p ``[linear, LDR]`` frames), ``t`` (exposure times),
    ``label`` (3×p×p), ``name``, ``cls`` (0 static, 1 moving), ``gain`` and ``yx`` (the
    patch's top-left corner in its scene).
    ``stats`` holds the class counts and the rejected fraction over the whole grid.
    """

    def __init__(self, split_dir: PathLike, patch_size: int, patches: Optional[PatchConfig] = None,
                 illumination: Optional[IlluminationConfig] = None, warp: Optional[WarpConfig] = None,
                 length: Optional[int] = None, seed: int = 0, progress: bool = False,
                 scenes: Optional[List[str]] = None) -> None:
        self.split_dir = Path(split_dir)
        self.patch_size = int(patch_size)
        self.patches = patches or PatchConfig()
        self.illumination = illumination or IlluminationConfig()
        self.warp = warp or WarpConfig()
        self.seed = seed
        self.epoch = 0
        dirs = list_scenes(self.split_dir)
        if scenes is not None:
            wanted = set(scenes)
            dirs = [d for d in dirs if d.name in wanted]

        def load(d: Path) -> _Bracket:
            scene = read_scene(d, with_hdr=False)
            h, w = scene.ldrs[0].shape[:2]
            if h < patch_size or w < patch_size:
                raise InputError(d, f"frames ({w}×{h}) are smaller than the {patch_size} patch size")
            grid = classify_patches(scene.ldrs, scene.times, self.patch_size, self.patches)
            return _Bracket(scene.name, scene.ldrs, np.asarray(scene.times, np.float64), grid)

        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            self.brackets: List[_Bracket] = list(tqdm(pool.map(load, dirs), total=len(dirs),
                                                      desc=f"classifying {self.split_dir.name}",
                                                      disable=not progress))
        rows = []
        for i, b in enumerate(self.brackets):
            iy, ix = np.nonzero(b.grid.classes != REJECTED)
            rows.append(np.stack([np.full_like(iy, i), b.grid.ys[iy], b.grid.xs[ix],
                                  b.grid.classes[iy, ix]], axis=1))
        self.kept = np.concatenate(rows) if rows else np.zeros((0, 4), np.int64)
        """One row per kept patch: (bracket index, y, x, class)."""
        self.stats = self._stats()
        log.info("%s: %d patches of %d px from %d brackets: %d static, %d moving, %d rejected (%.1f%%)",
                 self.split_dir, int(self.stats["total"]), self.patch_size, len(self.brackets),
                 int(self.stats["static"]), int(self.stats["moving"]), int(self.stats["rejected"]),
                 100 * self.stats["rejected_fraction"])
        if len(self.kept) == 0:
            raise InputError(self.split_dir, "no patch is static or well exposed; loosen cues.patches "
                                             "(max_outliers, max_badly_exposed, tolerance)")
        self.length = length if length is not None else len(self.kept)

    def _stats(self) -> Dict[str, float]:
        counts = {n: 0 for n in CLASS_NAMES}
        for b in self.brackets:
            for n, c in b.grid.counts().items():
                counts[n] += c
        total = sum(counts.values())
        return {**{n: float(c) for n, c in counts.items()}, "total": float(total),
                "rejected_fraction": counts["rejected"] / total if total else 0.0}

    @property
    def names(self) -> List[str]:
        """Scene names in bracket order."""
        return [b.name for b in self.brackets]

    def set_epoch(self, epoch: int) -> None:
        """Change the patches, gains, noise and warps drawn for each index."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def label_window(self, row: np.ndarray, margin: int) -> np.ndarray:
        """The un-gained label of a kept patch with ``margin`` reflected context around it."""
        b = self.brackets[int(row[0])]
        y, x, cls = int(row[1]), int(row[2]), int(row[3])
        h, w = b.ldrs[0].shape[:2]
        side = self.patch_size + 2 * margin
        y0, x0 = y - margin, x - margin
        ya, yb, xa, xb = max(y0, 0), min(y0 + side, h), max(x0, 0), min(x0 + side, w)
        pad = ((ya - y0, y0 + side - yb), (xa - x0, x0 + side - xb), (0, 0))
        frames = [np.pad(ldr[ya:yb, xa:xb], pad, mode="reflect") for ldr in b.ldrs]
        if cls == STATIC:
            return fuse_static(frames, b.times)
        return ldr_to_hdr(frames[REFERENCE], float(b.times[REFERENCE])).astype(np.float32)

    def __getitem__(self, index: int) -> Dict[str, object]:
        pick, gain_rng, noise_rng, warp_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence([self.seed, self.epoch, index]).spawn(4))
        row = self.kept[int(pick.integers(len(self.kept)))]
        b = self.brackets[int(row[0])]
        y, x = int(row[1]), int(row[2])
        p, m = self.patch_size, self.warp.margin
        lo, hi = self.illumination.gain_range
        gain = float(math.exp(gain_rng.uniform(math.log(lo), math.log(hi))))
        label = np.clip(self.label_window(row, m) * gain, 0.0, 1.0).astype(np.float32)
        centre = (slice(m, m + p), slice(m, m + p))
        out: Dict[str, object] = {"name": b.name}
        for k in range(N_FRAMES):
            radiance = label
            if k != REFERENCE and self.warp.enabled:
                radiance = warp_image(label, random_homography(warp_rng, label.shape[0], self.warp))
            t = float(b.times[k])
            ldr = render_ldr(radiance[centre], t, noise_rng, self.illumination)
            out[f"x{k + 1}"] = _chw(frame_input(ldr, t))
        out["t"] = torch.tensor(b.times, dtype=torch.float32)
        out["label"] = _chw(label[centre])
        out["cls"] = torch.tensor(int(row[3]), dtype=torch.int64)
        out["yx"] = torch.tensor([y, x], dtype=torch.int64)
        out["gain"] = torch.tensor(gain, dtype=torch.float32)
        return out


def _chw(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))


__all__ = [
    "CLASS_NAMES", "MOVING", "REJECTED", "STATIC", "CuesDataset", "IlluminationConfig", "PatchConfig",
    "PatchGrid", "WarpConfig", "badly_exposed", "classify_patches", "disagreement", "fuse_static",
    "fusion_weights", "random_homography", "render_ldr", "warp_image",
]
