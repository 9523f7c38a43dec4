"""Alignment and Y_color on brackets with known motion, occlusion and clipping."""

from __future__ import annotations

import numpy as np
import pytest
from align_helpers import TIMES, bracket, shift, texture

from selfhdr.align import AlignConfig, align_frames, compute_color
from selfhdr.align.color import noise_profile
from selfhdr.engine.color_eval import plain_merge_config
from selfhdr.camera import ldr_to_hdr, match_exposure, triangle_merge, triangle_weights
from selfhdr.data.synthetic import SyntheticSpec, make_scene
from selfhdr.metrics import psnr_mu
from selfhdr.methods.classical import unaligned_merge
from selfhdr.data.scene import Scene

H, W = 96, 128


def background() -> np.ndarray:
    """Radiance whose reference frame (t = 4) spans LDR ≈ 0.2–0.7: every frame has detail."""
    return (0.01 + 0.1 * texture(H, W, seed=3)).astype(np.float32)


def test_translation_is_aligned_and_outside_is_filled() -> None:
    rad = background()
    moved = shift(rad, 6.0, -3.0)  # frames 1 and 3 see the scene moved by (+6, −3)
    ldrs, t = bracket([moved, rad, moved], noise=0.0005)
    al = align_frames(ldrs, t, AlignConfig())
    ref = ldrs[1]
    inner = (slice(12, -12), slice(12, -12))
    short_up = match_exposure(al.aligned[0], t[0], t[1])
    err_short = np.abs(short_up - ref)[inner]
    assert np.median(err_short) < 0.01 and np.percentile(err_short, 99) < 0.05
    long_ref = match_exposure(ref, t[1], t[2])
    ok = long_ref < 0.98
    err_long = np.abs(al.aligned[2] - long_ref)[inner][ok[inner]]
    assert np.median(err_long) < 0.01 and np.percentile(err_long, 99) < 0.05
    np.testing.assert_allclose(np.median(al.flows[0][inner], axis=(0, 1)), [6.0, -3.0], atol=0.3)
    for k in (0, 2):
        out = al.outside[k]
        # ref(x) = frame(x + d): the last 6 columns and first 3 rows come from outside.
        assert out[:, -4:].all() and out[:2, :].all() and not out[inner].any()
        fill = match_exposure(ref, t[1], t[k])
        np.testing.assert_allclose(al.aligned[k][out], fill[out], rtol=1e-6)
    res = compute_color(ldrs, t)
    assert (res.masks[0][al.outside[0]] == 0).all()
    np.testing.assert_allclose(res.hdr[:, -4:], ldr_to_hdr(ref, t[1])[:, -4:], rtol=1e-4, atol=1e-7)


def moving_square_scene(step: int = 10):
    """A textured square moving ``step`` px to the right per frame over a static background."""
    rad = background()
    obj = (0.004 + 0.06 * texture(H, W, seed=9, cell=3)).astype(np.float32)
    rads, masks = [], []
    for k in range(3):
        m = np.zeros((H, W), bool)
        x0 = 40 + (k - 1) * step
        m[30:62, x0:x0 + 32] = True
        rads.append(np.where(m[..., None], obj, rad))
        masks.append(m)
    ldrs, t = bracket(rads, noise=0.0005, seed=1)
    return ldrs, t, rads, masks


def test_masks_flag_the_occluded_region() -> None:
    ldrs, t, _, masks = moving_square_scene()
    res = compute_color(ldrs, t)
    for k in (0, 2):
        occluded = masks[k] & ~masks[1]  # background in the reference, covered in frame k
        assert occluded.sum() > 200
        assert res.masks[k][occluded].mean() < 0.2, k
        far = np.ones((H, W), bool)
        far[18:74, 18:110] = False  # well away from the square's path
        assert res.masks[k][far].mean() > 0.95, k
    assert np.all(res.masks[1] == 1.0)
    total = sum(res.weights)
    np.testing.assert_allclose(total, 1.0, atol=1e-5)
    assert all((w >= -1e-6).all() and (w <= 1 + 1e-6).all() for w in res.weights)
    assert np.isfinite(res.hdr).all() and (res.hdr >= 0).all()


def test_rejection_beats_plain_aligned_merge_on_occlusions() -> None:
    ldrs, t, rads, _ = moving_square_scene()
    gt = np.clip(rads[1], 0, 1)
    ours = psnr_mu(compute_color(ldrs, t).hdr, gt)
    plain = psnr_mu(compute_color(ldrs, t, plain_merge_config(AlignConfig())).hdr, gt)
    assert ours > plain + 1.0, (ours, plain)


@pytest.mark.parametrize("seed", [1, 2])
def test_y_color_beats_unaligned_merge(seed: int) -> None:
    spec = SyntheticSpec(height=H, width=W, motion_px=[6.0, 10.0], objects=[2, 3])
    sc = make_scene(spec, np.random.default_rng(seed))
    t = np.power(2.0, sc.stops)
    scene = Scene("s", sc.ldrs, t, sc.hdr, None)  # type: ignore[arg-type]
    ours = psnr_mu(compute_color(sc.ldrs, t).hdr, sc.hdr)
    base = psnr_mu(unaligned_merge(scene), sc.hdr)
    assert ours > base + 2.0, (ours, base)


@pytest.mark.parametrize("merge", ["robust", "published"])
def test_static_scene_is_the_triangle_merge(merge: str) -> None:
    rad = background()
    ldrs, t = bracket([rad, rad, rad])
    res = compute_color(ldrs, t, AlignConfig(merge=merge))  # type: ignore[arg-type]
    tri = triangle_weights(ldrs[1])
    for k in (0, 2):  # trusted wherever the frame takes part in the merge
        used = tri[k].max(axis=2) > 0
        assert used.mean() > 0.2 and res.masks[k][used].min() > 0.99, k
    expected = triangle_merge([ldr_to_hdr(l, tk) for l, tk in zip(ldrs, t)], ldrs[1])
    np.testing.assert_allclose(res.hdr, expected, rtol=2e-3, atol=1e-5)


@pytest.mark.parametrize("merge", ["robust", "published"])
def test_short_frame_kept_where_the_reference_is_clipped(merge: str) -> None:
    rad = background()
    rad[20:60, 30:90] *= 12.0  # saturates the reference (t = 4), not the short frame (t = 1)
    ldrs, t = bracket([rad, rad, rad], noise=0.0005, seed=2)
    assert (ldrs[1][25:55, 35:85] > 0.99).mean() > 0.5
    res = compute_color(ldrs, t, AlignConfig(merge=merge))  # type: ignore[arg-type]
    region = (slice(25, 55), slice(35, 85))
    assert res.masks[0][region].min() > 0.9
    rel = np.abs(res.hdr[region] - rad[region]) / rad[region]
    assert np.median(rel) < 0.02


def test_rejects_bad_brackets() -> None:
    ldrs, t = bracket([background()] * 3)
    with pytest.raises(ValueError, match="3 frames"):
        compute_color(ldrs[:2], t[:2])
    with pytest.raises(ValueError, match="increasing"):
        compute_color(ldrs, t[::-1])
    assert TIMES[0] < TIMES[1] < TIMES[2]


def test_noise_profile_measures_sigma_per_brightness_despite_outliers() -> None:
    rng = np.random.default_rng(0)
    level = rng.random((300, 400)).astype(np.float32)
    sigma = 0.01 + 0.02 * level
    diff = (rng.normal(size=level.shape) * sigma).astype(np.float32)
    clean = noise_profile(diff, level)
    diff[rng.random(level.shape) < 0.1] = 0.3  # a minority of pixels disagree wildly
    robust = noise_profile(diff, level)
    assert clean.shape == robust.shape == (256,)
    for v in (0.1, 0.5, 0.9):
        expected = 0.01 + 0.02 * v
        assert abs(clean[int(v * 255)] - expected) < 0.06 * expected, (v, clean[int(v * 255)])
        # The median moves by ~13% with 10% outliers; a standard deviation would be ×5.
        assert abs(robust[int(v * 255)] - expected) < 0.2 * expected, (v, robust[int(v * 255)])
