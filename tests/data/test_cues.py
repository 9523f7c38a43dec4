"""Motion-and-exposure-cues data: patch classes, fusion labels, re-rendering, warps, determinism."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest
import torch

from selfhdr.data.cues import (
    MOVING, REJECTED, STATIC, CuesDataset, IlluminationConfig, PatchConfig, WarpConfig,
    classify_patches, fuse_static, random_homography, render_ldr,
)
from selfhdr.data.synthetic import SyntheticSpec, make_scene
from selfhdr.io import write_exposures, write_ldr

TIMES = [1.0, 4.0, 16.0]
H, W, P = 96, 160, 32
NO_WARP = WarpConfig(translation_px=0, rotation_deg=0, scale=0, perspective=0)


def _bracket() -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Three noisy frames of a hand-made scene and the per-frame masks of its two movers.

    Static textured background, well exposed in every frame; mover A (well exposed in the
    reference) slides 4 px per frame inside grid cell (1, 1); mover B (clipped in the
    reference) inside cell (1, 3); a static region clipped in the reference fills cell (0, 4).
    """
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    tex = 0.5 + 0.5 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    background = (0.012 + 0.01 * tex)[..., None] * np.array([1.0, 0.9, 0.8], np.float32)
    background[0:32, 128:160] = 0.6
    checker = np.where(((yy // 4 + xx // 4) % 2) == 0, 0.6, 1.0)[..., None].astype(np.float32)
    rng = np.random.default_rng(0)
    frames, masks = [], []
    for k, t in enumerate(TIMES):
        rad = background.copy()
        mask = np.zeros((H, W), bool)
        for x0, level in ((36 + 4 * k, 0.05), (100 + 4 * k, 0.5)):
            rad[40:56, x0:x0 + 16] = level * checker[40:56, x0:x0 + 16]
            mask[40:56, x0:x0 + 16] = True
        frames.append(render_ldr(rad, t, rng, IlluminationConfig()))
        masks.append(mask)
    return frames, masks


def _write(root: Path, frames: List[np.ndarray], name: str = "scene") -> Path:
    d = root / "Training" / name
    d.mkdir(parents=True)
    for k, f in enumerate(frames):
        write_ldr(d / f"frame_{k + 1}.tif", f, bits=16)
    write_exposures(d / "exposure.txt", [math.log2(t) for t in TIMES])
    return root / "Training"


def _patch_fraction(mask: np.ndarray, ys: np.ndarray, xs: np.ndarray, p: int) -> np.ndarray:
    return np.array([[mask[y:y + p, x:x + p].mean() for x in xs] for y in ys])


# ----------------------------------------------------------------------------- classification


def test_hand_made_bracket_classes() -> None:
    frames, _ = _bracket()
    grid = classify_patches(frames, TIMES, P, PatchConfig(stride=P))
    expected = np.full((3, 5), STATIC)
    expected[1, 1] = MOVING     # mover A: reference well exposed
    expected[1, 3] = REJECTED   # mover B: reference clipped over a quarter of the patch
    assert grid.ys.tolist() == [0, 32, 64] and grid.xs.tolist() == [0, 32, 64, 96, 128]
    np.testing.assert_array_equal(grid.classes, expected)
    assert grid.counts() == {"static": 13, "moving": 1, "rejected": 1}


@pytest.mark.parametrize("stride", [8, 16])
def test_overlapping_grid_moving_region_never_static(stride: int) -> None:
    frames, masks = _bracket()
    cfg = PatchConfig(stride=stride)
    grid = classify_patches(frames, TIMES, P, cfg)
    changed = (masks[0] != masks[1]) | (masks[1] != masks[2])
    frac = _patch_fraction(changed, grid.ys, grid.xs, P)
    moving = frac > 2 * cfg.max_outliers
    assert moving.sum() >= 4
    assert not np.any(grid.classes[moving] == STATIC)
    # Noise alone never makes a motionless patch disagree.
    assert np.all(grid.classes[frac == 0] == STATIC)


def test_synthetic_scene_moving_objects_are_not_static() -> None:
    spec = SyntheticSpec(height=128, width=192, shake_px=0.0, shake_deg=0.0, objects=[2, 2])
    scene = make_scene(spec, np.random.default_rng(11))
    times = [2.0**s for s in scene.stops]
    grid = classify_patches(scene.ldrs, times, P, PatchConfig(stride=16))
    m = [mk > 0.5 for mk in scene.object_masks]
    changed = (m[0] != m[1]) | (m[1] != m[2])
    touched = m[0] | m[1] | m[2]
    frac = _patch_fraction(changed, grid.ys, grid.xs, P)
    still = _patch_fraction(touched, grid.ys, grid.xs, P) == 0
    assert (frac > 0.1).sum() >= 3 and still.sum() >= 10
    assert not np.any(grid.classes[frac > 0.1] == STATIC)
    assert np.all(grid.classes[still] == STATIC)


# ----------------------------------------------------------------------------- labels and camera


def test_static_fusion_matches_hand_computation() -> None:
    #               short  ref   long: own-value weights (min(1, 2x), hat, min(1, 2 − 2x))
    pixels = [(0.20, 0.50, 0.90),   # 0.4, 1.0, 0.2
              (0.70, 0.95, 1.00),   # 1.0, 0.1, 0.0 (clipped long frame: no weight)
              (0.05, 0.10, 0.30)]   # 0.1, 0.2, 1.0
    weights = [(0.4, 1.0, 0.2), (1.0, 0.1, 0.0), (0.1, 0.2, 1.0)]
    ldrs = [np.array([[[px[k]] * 3 for px in pixels]], np.float32) for k in range(3)]
    got = fuse_static(ldrs, TIMES)[0, :, 0]
    for i, (px, w) in enumerate(zip(pixels, weights)):
        lin = [px[k] ** 2.2 / TIMES[k] for k in range(3)]
        want = sum(wk * lk for wk, lk in zip(w, lin)) / sum(w)
        assert got[i] == pytest.approx(want, rel=1e-5)


def test_dataset_labels_are_gained_fusion_or_reference(tmp_path: Path) -> None:
    frames, _ = _bracket()
    split = _write(tmp_path, frames)
    ds = CuesDataset(split, P, PatchConfig(stride=P), warp=NO_WARP, length=40, seed=3)
    assert ds.stats == {"static": 13.0, "moving": 1.0, "rejected": 1.0, "total": 15.0,
                        "rejected_fraction": 1 / 15}
    stored = ds.brackets[0].ldrs  # the frames as read back from the 16-bit files
    seen = set()
    for i in range(len(ds)):
        item = ds[i]
        y, x = item["yx"].tolist()
        cls, gain = int(item["cls"]), float(item["gain"])
        assert 0.5 <= gain <= 8.0 and (y, x) != (32, 96)  # the rejected cell is never drawn
        crop = [f[y:y + P, x:x + P].astype(np.float64) for f in stored]
        if cls == STATIC:
            short, ref, long_ = crop
            w = [np.minimum(1, 2 * short), 1 - np.abs(2 * ref - 1), np.minimum(1, 2 - 2 * long_)]
            lin = [c**2.2 / t for c, t in zip(crop, TIMES)]
            base = sum(a * b for a, b in zip(w, lin)) / sum(w)
        else:
            assert (y, x) == (32, 32)
            base = crop[1] ** 2.2 / TIMES[1]
        want = np.clip(base * gain, 0, 1).transpose(2, 0, 1)
        np.testing.assert_allclose(item["label"].numpy(), want, rtol=1e-4, atol=1e-6)
        seen.add(cls)
    assert seen == {STATIC, MOVING}


def test_render_clips_exactly_where_the_signal_saturates() -> None:
    rad = np.linspace(0.0, 0.2, 3000, dtype=np.float32).reshape(30, 100, 1).repeat(3, -1)
    t = 16.0
    exact = render_ldr(rad, t, np.random.default_rng(0), IlluminationConfig(noise_shot=0, noise_read=0))
    signal = rad * t
    assert np.all(exact[signal >= 1] == 1.0)
    assert np.all(exact[signal < 1 - 1e-4] < 1.0)
    np.testing.assert_allclose(exact[signal < 1], np.clip(signal[signal < 1], 0, 1) ** (1 / 2.2), atol=1e-5)
    noisy_cfg = IlluminationConfig()
    noisy = render_ldr(rad, t, np.random.default_rng(0), noisy_cfg)
    sigma = math.sqrt(noisy_cfg.noise_shot + noisy_cfg.noise_read**2)
    assert np.all(noisy[signal >= 1 + 6 * sigma] == 1.0)
    assert np.all(noisy[signal <= 1 - 6 * sigma] < 1.0)
    assert 0 < np.abs(noisy - exact)[signal < 0.5].mean() < 0.02  # noise is there, and small
    # 16-bit quantisation: every value on the 1/65535 grid.
    np.testing.assert_allclose(noisy * 65535, np.round(noisy * 65535), atol=1e-3)


def test_rerendered_inputs_clip_where_gain_says(tmp_path: Path) -> None:
    frames, _ = _bracket()
    split = _write(tmp_path, frames)
    illum = IlluminationConfig(gain_range=[6.0, 6.0])
    ds = CuesDataset(split, P, PatchConfig(stride=P), illum, NO_WARP, length=30, seed=0)
    sigma = math.sqrt(illum.noise_shot + illum.noise_read**2)
    clipped_somewhere = saturated_labels = 0
    for i in range(len(ds)):
        item = ds[i]
        label = item["label"].numpy()
        assert float(item["gain"]) == pytest.approx(6.0) and label.max() <= 1.0
        saturated_labels += int(label.max() == 1.0)  # the static cell at radiance 0.6: 3.6 → 1
        for k, t in enumerate(TIMES):
            ldr = item[f"x{k + 1}"][3:].numpy()
            np.testing.assert_allclose(item[f"x{k + 1}"][:3].numpy(), ldr**2.2 / t, rtol=1e-4, atol=1e-7)
            signal = label * t
            assert np.all(ldr[signal >= 1 + 6 * sigma] == 1.0)
            assert np.all(ldr[signal <= 1 - 6 * sigma] < 1.0)
            clipped_somewhere += int((ldr == 1.0).any())
        assert torch.equal(item["t"], torch.tensor(TIMES))
    assert clipped_somewhere >= len(ds)  # the gain made frames clip that were not clipped before
    assert saturated_labels >= 1


# ----------------------------------------------------------------------------- warps and determinism


def test_homography_distribution() -> None:
    rng = np.random.default_rng(0)
    zero = random_homography(rng, 64, NO_WARP)
    np.testing.assert_allclose(zero, np.eye(3), atol=1e-12)
    shift = random_homography(rng, 64, WarpConfig(translation_px=5.0, rotation_deg=0, scale=0, perspective=0))
    np.testing.assert_allclose(shift[:2, :2], np.eye(2), atol=1e-12)
    assert np.abs(shift[:2, 2]).max() > 0.1 and np.all(shift[2] == [0, 0, 1])
    draws = np.array([random_homography(rng, 64, WarpConfig(translation_px=3.0))[:2, 2] for _ in range(400)])
    assert 2.0 < draws.std() < 4.5  # the rotation about the centre adds a little


def test_warp_moves_only_the_non_reference_frames(tmp_path: Path) -> None:
    frames, _ = _bracket()
    split = _write(tmp_path, frames)
    unit = IlluminationConfig(gain_range=[1.0, 1.0])
    still = CuesDataset(split, P, PatchConfig(stride=P), unit, NO_WARP, length=8, seed=5)
    moved = CuesDataset(split, P, PatchConfig(stride=P), unit, WarpConfig(translation_px=6.0), length=8, seed=5)
    textured = 0
    for i in range(len(still)):
        a, b = still[i], moved[i]
        assert torch.equal(a["label"], b["label"]) and torch.equal(a["x2"], b["x2"])
        for key in ("x1", "x3"):
            if a[key][3:].std() < 1e-3:  # saturated everywhere: nothing to see move
                continue
            textured += 1
            diff = (a[key][3:] - b[key][3:]).abs().mean()  # same noise draws: only the warp differs
            assert diff > 2e-3, (i, key, float(diff))
    assert textured >= 12


def test_items_depend_only_on_seed_epoch_index(tmp_path: Path) -> None:
    frames, _ = _bracket()
    split = _write(tmp_path, frames)
    one = CuesDataset(split, P, PatchConfig(stride=P), length=6, seed=1)
    two = CuesDataset(split, P, PatchConfig(stride=P), length=6, seed=1)
    forward = [one[i] for i in range(6)]
    backward = [two[i] for i in reversed(range(6))][::-1]
    for a, b in zip(forward, backward):
        for key in ("x1", "x2", "x3", "label", "gain", "cls", "yx"):
            assert torch.equal(a[key], b[key]), key
    one.set_epoch(1)
    assert not torch.equal(one[0]["x1"], forward[0]["x1"])
    other_seed = CuesDataset(split, P, PatchConfig(stride=P), length=6, seed=2)
    assert not torch.equal(other_seed[0]["x1"], forward[0]["x1"])


def test_no_kept_patch_is_an_error(tmp_path: Path) -> None:
    # Saturated everywhere and consistent: static (the short frame says it must saturate).
    flat = [np.full((H, W, 3), v, np.float32) for v in (0.8, 1.0, 1.0)]
    assert CuesDataset(_write(tmp_path / "a", flat), P, PatchConfig(stride=P)).stats["static"] == 15
    # A reference saturated where the short frame says it cannot be: neither static nor usable.
    bad = [np.full((H, W, 3), v, np.float32) for v in (0.1, 1.0, 1.0)]
    with pytest.raises(ValueError, match="no patch is static or well exposed"):
        CuesDataset(_write(tmp_path / "b", bad), P, PatchConfig(stride=P))
