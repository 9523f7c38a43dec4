"""Synthetic dynamic HDR scenes in Kalantari's layout: the project's embedded default data.

Each scene is procedural radiance (textured regions under light levels spanning more than 12
stops, a bright sky band, light sources far above saturation) seen three times with small
camera shake, while textured foreground objects move (occluding and disoccluding the
background). The frames are rendered with a gamma-2.2 camera at stops 0/2/4 or 0/3/6 with
Poisson–Gaussian noise and 16-bit quantisation. ``HDRImg.hdr`` is the noise-free radiance of
the reference (middle) frame in units where the shortest exposure saturates at 1, clipped to
[0, 1] as the Kalantari labels are. Everything is deterministic given the seed.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from tqdm import tqdm

from ..camera import GAMMA
from ..io import write_exposures, write_hdr, write_ldr, write_preview
from .scene import N_FRAMES, REFERENCE

PathLike = Union[str, "os.PathLike[str]"]
SPLITS = ("Training", "Test")
MANIFEST = "synthetic.json"


@dataclass
class SyntheticSpec:
    """Parameters of a synthetic dataset; the same spec and seed always give the same bytes."""

    height: int = 256
    width: int = 384
    n_train: int = 12
    n_test: int = 4
    seed: int = 0
    stops: List[List[float]] = field(default_factory=lambda: [[0, 2, 4], [0, 3, 6]])
    objects: List[int] = field(default_factory=lambda: [1, 3])
    motion_px: List[float] = field(default_factory=lambda: [4.0, 14.0])
    shake_px: float = 1.5
    shake_deg: float = 0.25
    full_well: float = 8000.0
    read_noise: float = 0.0015
    lights: List[int] = field(default_factory=lambda: [1, 3])

    def validate(self) -> None:
        """Raise ValueError on values that cannot make a sensible dataset."""
        if self.height < 32 or self.width < 32:
            raise ValueError(f"synthetic images must be at least 32×32, got {self.height}×{self.width}")
        if self.n_train < 0 or self.n_test < 0 or self.n_train + self.n_test == 0:
            raise ValueError("synthetic dataset needs at least one scene")
        for s in self.stops:
            if len(s) != N_FRAMES or s[0] != 0 or not (s[0] < s[1] < s[2]):
                raise ValueError(f"stops must be three increasing EVs starting at 0, got {s}")
        if not (1 <= self.objects[0] <= self.objects[1]):
            raise ValueError(f"objects must be [min, max] with 1 <= min <= max, got {self.objects}")


@dataclass
class SyntheticScene:
    """One rendered scene in memory (float32 RGB), with the moving objects' masks per frame."""

    ldrs: List[np.ndarray]
    stops: List[float]
    hdr: np.ndarray
    radiance: List[np.ndarray]
    object_masks: List[np.ndarray]


def make_scene(spec: SyntheticSpec, rng: np.random.Generator) -> SyntheticScene:
    """Render one scene from ``rng`` (see the module docstring for the model)."""
    h, w = spec.height, spec.width
    margin = int(math.ceil(spec.shake_px + 2 + 0.01 * spec.shake_deg * max(h, w)))
    ch, cw = h + 2 * margin, w + 2 * margin
    background = _background(rng, ch, cw, spec)
    n_obj = int(rng.integers(spec.objects[0], spec.objects[1] + 1))
    objects = [_moving_object(rng, ch, cw, spec) for _ in range(n_obj)]
    stops = [float(s) for s in spec.stops[int(rng.integers(len(spec.stops)))]]

    radiance, masks = [], []
    for k in range(N_FRAMES):
        world = background.copy()
        alpha_all = np.zeros((ch, cw), np.float32)
        for obj in objects:
            rad, alpha = obj.render(k - REFERENCE, ch, cw)
            world = world * (1 - alpha[..., None]) + rad * alpha[..., None]
            alpha_all = np.maximum(alpha_all, alpha)
        shake = _camera_shake(rng, spec, k, (cw / 2, ch / 2), margin)
        radiance.append(_warp(world, shake, w, h))
        masks.append(_warp(alpha_all, shake, w, h))

    ldrs = [
        _expose(radiance[k], 2.0 ** stops[k], spec, rng) for k in range(N_FRAMES)
    ]
    hdr = np.clip(radiance[REFERENCE], 0.0, 1.0).astype(np.float32)
    return SyntheticScene(ldrs, stops, hdr, radiance, masks)


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The independent random stream of one scene (so scenes can be made in any order)."""
    return np.random.default_rng([seed, SPLITS.index(split), index])


def write_dataset(root: PathLike, spec: SyntheticSpec, progress: bool = True) -> Path:
    """Write (or complete) a synthetic dataset at ``root`` in Kalantari's layout.

    Idempotent: a root whose ``synthetic.json`` matches ``spec`` keeps its finished scenes and
    only makes missing ones; a root made with a different spec is refused rather than mixed.
    Each scene is written into a temporary folder and renamed, so none is ever half-written.
    """
    spec.validate()
    root = Path(root)
    manifest = root / MANIFEST
    wanted = asdict(spec)
    if manifest.exists():
        old = json.loads(manifest.read_text())
        if old != wanted:
            raise ValueError(
                f"{root} holds a synthetic dataset made with different settings; "
                f"delete it or choose another root ({manifest})"
            )
    elif any((root / s).is_dir() for s in SPLITS):
        # Someone's own data (imported brackets, Kalantari's set): never mix synthetic scenes in.
        raise ValueError(f"{root} holds a dataset that is not synthetic (no {MANIFEST}); to train on it, "
                         f"drop the config's data.synthetic section (--set data.synthetic=null)")
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(s, i) for s, n in zip(SPLITS, (spec.n_train, spec.n_test)) for i in range(n)]
    # A scene folder exists only once complete (written elsewhere, then renamed); a user who
    # deleted its label to try the label-free path must not get the label back.
    todo = [(s, i) for s, i in jobs if not (root / s / scene_name(s, i)).is_dir()]
    for split, index in tqdm(todo, desc="synthetic scenes", disable=not progress or not todo):
        _write_scene(root / split / scene_name(split, index), make_scene(spec, scene_rng(spec.seed, split, index)))
    manifest.write_text(json.dumps(wanted, indent=1) + "\n")
    return root


def scene_name(split: str, index: int) -> str:
    """Folder name of a synthetic scene, e.g. ``train_003`` or ``test_001``."""
    return f"{'train' if split == 'Training' else 'test'}_{index + 1:03d}"


def _write_scene(dest: Path, scene: SyntheticScene) -> None:
    tmp = dest.with_name(f".{dest.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for k, ldr in enumerate(scene.ldrs):
        write_ldr(tmp / f"frame_{k + 1}.tif", ldr, bits=16)
    write_exposures(tmp / "exposure.txt", scene.stops)
    write_hdr(tmp / "HDRImg.hdr", scene.hdr)
    write_preview(tmp / "HDRImg_preview.png", scene.hdr)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)


# ----------------------------------------------------------------------------- rendering


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A [0, 1] texture: multi-octave value noise, sometimes with stripes or a checkerboard."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    cell = float(rng.uniform(24, 64))
    for _ in range(4):
        gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
        grid = rng.random((gh, gw), dtype=np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.55
        cell /= 2.3
    out /= total
    kind = rng.integers(4)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 1:
        theta, period = rng.uniform(0, np.pi), rng.uniform(4, 18)
        stripes = 0.5 + 0.5 * np.sin((xx * np.cos(theta) + yy * np.sin(theta)) * 2 * np.pi / period)
        out = 0.45 * out + 0.55 * stripes
    elif kind == 2:
        size = rng.uniform(5, 20)
        checker = ((np.floor(xx / size) + np.floor(yy / size)) % 2).astype(np.float32)
        out = 0.5 * out + 0.5 * cv2.GaussianBlur(checker, (0, 0), 0.7)
    lo, hi = np.percentile(out, [1, 99])
    return np.clip((out - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def _colour(rng: np.random.Generator, saturation: float) -> np.ndarray:
    base = rng.uniform(0.2, 1.0, size=3).astype(np.float32)
    grey = base.mean()
    return (grey + saturation * (base - grey)).astype(np.float32)


def _layer(rng: np.random.Generator, h: int, w: int, level: float) -> np.ndarray:
    """Radiance of a textured surface lit at ``level``: level × albedo × texture."""
    tex = _texture(rng, h, w)
    albedo = _colour(rng, rng.uniform(0.3, 1.0))
    contrast = rng.uniform(0.5, 0.9)
    return (level * (1 - contrast + contrast * tex))[..., None] * albedo[None, None, :]


def _random_polygon(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    n = int(rng.integers(3, 7))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = scale * min(h, w) * rng.uniform(0.5, 1.0, n)
    pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
    return pts


def _mask_from_polygon(pts: np.ndarray, h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _background(rng: np.random.Generator, h: int, w: int, spec: SyntheticSpec) -> np.ndarray:
    """Static world radiance: sky band, lit and shadowed surfaces, windows and light sources."""
    # Light levels in log2 units relative to t=1 saturation: from ~2^-12 (deep shadow)
    # to ~2^-1 (bright sky), plus light sources at 2^2..2^6.
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    horizon = rng.uniform(0.25, 0.45)
    sky_level = 2.0 ** rng.uniform(-2.0, -0.2)
    sky = _layer(rng, h, w, sky_level) * (1.3 - 0.6 * yy)
    ground = _layer(rng, h, w, 2.0 ** rng.uniform(-6.5, -4.5))
    sky_mask = np.clip((horizon - yy[..., 0]) * h / 6 + 0.5, 0, 1)[..., None]
    world = sky * sky_mask + ground * (1 - sky_mask)
    for _ in range(int(rng.integers(4, 8))):
        level = 2.0 ** rng.uniform(-12.5, -3.0)
        mask = _mask_from_polygon(_random_polygon(rng, h, w, rng.uniform(0.15, 0.45)), h, w)
        world = world * (1 - mask[..., None]) + _layer(rng, h, w, level) * mask[..., None]
    for _ in range(int(rng.integers(0, 3))):  # bright windows: detail only in the short frame
        y0, x0 = int(rng.uniform(0, h * 0.8)), int(rng.uniform(0, w * 0.85))
        wh, ww = int(rng.uniform(0.08, 0.2) * h), int(rng.uniform(0.06, 0.15) * w)
        patch = _layer(rng, wh, ww, 2.0 ** rng.uniform(-1.5, 0.3))
        world[y0:y0 + wh, x0:x0 + ww] = patch[: h - y0, : w - x0]
    n_lights = int(rng.integers(spec.lights[0], spec.lights[1] + 1))
    glow = np.zeros((h, w), np.float32)
    for _ in range(n_lights):
        cy, cx = rng.uniform(0.05, 0.7) * h, rng.uniform(0.05, 0.95) * w
        r = rng.uniform(0.01, 0.03) * min(h, w) + 1.5
        core = np.zeros((h, w), np.uint8)
        cv2.circle(core, (int(cx * 16), int(cy * 16)), int(r * 16), 255, -1, cv2.LINE_AA, 4)
        core_f = core.astype(np.float32) / 255.0
        level = 2.0 ** rng.uniform(2.0, 6.0)
        tint = _colour(rng, 0.25)
        world = world * (1 - core_f[..., None]) + (level * core_f)[..., None] * tint
        glow += level * 0.02 * cv2.GaussianBlur(core_f, (0, 0), 3 * r)
    world += glow[..., None] * np.float32(1.0)
    return world.astype(np.float32)


@dataclass
class _MovingObject:
    radiance: np.ndarray
    alpha: np.ndarray
    centre: np.ndarray
    velocity: np.ndarray
    spin_deg: float

    def render(self, dk: int, h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
        """Radiance and alpha of the object on an h×w canvas, ``dk`` frames from the reference."""
        sh, sw = self.alpha.shape
        pos = self.centre + dk * self.velocity
        m = cv2.getRotationMatrix2D((sw / 2, sh / 2), dk * self.spin_deg, 1.0)
        m[:, 2] += pos - np.array([sw / 2, sh / 2])
        rad = cv2.warpAffine(self.radiance, m, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        alpha = cv2.warpAffine(self.alpha, m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return rad, alpha


def _moving_object(rng: np.random.Generator, h: int, w: int, spec: SyntheticSpec) -> _MovingObject:
    size = int(rng.uniform(0.18, 0.38) * min(h, w)) + 8
    pts = _random_polygon(rng, size, size, 0.5)
    pts = (pts - pts.mean(0)) * 0.9 + size / 2
    alpha = _mask_from_polygon(pts, size, size)
    level = 2.0 ** rng.uniform(-8.0, -1.0)
    radiance = _layer(rng, size, size, level)
    centre = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.2, 0.85) * h])
    speed = rng.uniform(*spec.motion_px)
    angle = rng.uniform(0, 2 * np.pi)
    velocity = speed * np.array([np.cos(angle), np.sin(angle)])
    return _MovingObject(radiance.astype(np.float32), alpha, centre, velocity, float(rng.uniform(-6, 6)))


def _camera_shake(rng: np.random.Generator, spec: SyntheticSpec, k: int,
                  centre: Tuple[float, float], margin: int) -> np.ndarray:
    """Affine map from frame pixels to world canvas pixels (identity shake for the reference)."""
    if k == REFERENCE:
        deg, d = 0.0, np.zeros(2)
    else:
        deg = float(rng.uniform(-spec.shake_deg, spec.shake_deg))
        d = rng.uniform(-spec.shake_px, spec.shake_px, 2)
    m = cv2.getRotationMatrix2D(centre, deg, 1.0)
    m[:, 2] += d
    # Frame pixel (x, y) looks at canvas (x + margin, y + margin) before the shake.
    m[:, 2] += m[:, :2] @ np.array([margin, margin], dtype=np.float64)
    return m


def _warp(img: np.ndarray, frame_to_canvas: np.ndarray, w: int, h: int) -> np.ndarray:
    return cv2.warpAffine(img, frame_to_canvas, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def _expose(radiance: np.ndarray, t: float, spec: SyntheticSpec, rng: np.random.Generator) -> np.ndarray:
    """Camera: exposure, Poisson shot noise, Gaussian read noise, clipping, gamma, 16 bits."""
    signal = np.clip(radiance * t, 0.0, 2.0) * spec.full_well
    electrons = rng.poisson(signal).astype(np.float32) / spec.full_well
    electrons += rng.normal(0.0, spec.read_noise, size=electrons.shape).astype(np.float32)
    ldr = np.clip(electrons, 0.0, 1.0) ** (1.0 / GAMMA)
    return (np.round(ldr * 65535.0) / 65535.0).astype(np.float32)


def dynamic_range_stops(hdr: np.ndarray, lo_pct: float = 0.1, hi_pct: float = 99.9) -> float:
    """Dynamic range of a radiance map in stops, between two luminance percentiles."""
    lum = hdr.mean(axis=-1)
    lo, hi = np.percentile(lum, [lo_pct, hi_pct])
    return float(np.log2(max(hi, 1e-12) / max(lo, 1e-12)))


def spec_from_dict(d: Optional[Dict]) -> SyntheticSpec:
    """A SyntheticSpec from a plain dict (e.g. a config node), validating it."""
    spec = SyntheticSpec(**(d or {}))
    spec.validate()
    return spec


__all__: Sequence[str] = [
    "SyntheticScene", "SyntheticSpec", "dynamic_range_stops", "make_scene", "scene_name",
    "scene_rng", "spec_from_dict", "write_dataset",
]
