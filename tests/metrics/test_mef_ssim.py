"""MEF-SSIM: analytic cases, input handling, and golden values from the authors' MATLAB code.

The pinned values were computed by this implementation and by the authors' ``mef_ms_ssim.m``
/ ``mef_ssim.m`` (release 1.0, run unmodified in GNU Octave 7.3 with image 2.14, grey
inputs made as below); the two agree to within 4e-15 on every case here.
"""

from __future__ import annotations

import numpy as np
import pytest

from selfhdr.metrics.mef_ssim import (
    RGB2GRAY, SCALE_WEIGHTS, _downsample, mef_ssim, mef_ssim_scales, to_gray_255,
)


def hashed(h: int, w: int, seed: int) -> np.ndarray:
    """Deterministic pseudo-random uint8 image (a multiplicative hash; no RNG version drift)."""
    i = np.arange(h * w, dtype=np.uint64) + np.uint64(seed) * np.uint64(1000003)
    v = (i * np.uint64(2654435761)) % np.uint64(2 ** 32)
    v = (v ^ (v >> np.uint64(13))) * np.uint64(1274126177) % np.uint64(2 ** 32)
    return (v >> np.uint64(24)).astype(np.uint8).reshape(h, w)


def hdr_pair(h: int = 60, w: int = 72) -> tuple:
    """A smooth radiance map with a highlight, rendered at 1/4 and 4× (gamma 2.2, clipped)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    rad = 0.02 + 4.0 * np.exp(-((x - 0.7 * w) ** 2 + (y - 0.35 * h) ** 2) / (2 * (0.2 * w) ** 2))
    rad = rad * (1.0 + 0.5 * np.sin(x / 2.0) * np.cos(y / 3.0))
    under = np.round(np.clip(rad * 0.25, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8)
    over = np.round(np.clip(rad * 4.0, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8)
    return under, over


def _mean_u8(*imgs: np.ndarray) -> np.ndarray:
    return ((sum(i.astype(np.uint16) for i in imgs) + 1) // len(imgs)).astype(np.uint8)


NOISE_A, NOISE_B = hashed(48, 56, 1), hashed(48, 56, 2)
UNDER, OVER = hdr_pair()

# name -> (sources, fused, MEF-SSIM from mef_ms_ssim.m)
GOLDEN = {
    "noise_fused_a": ([NOISE_A, NOISE_B], NOISE_A, 0.7212369031940097),
    "noise_fused_mean": ([NOISE_A, NOISE_B],
                         ((NOISE_A.astype(np.uint16) + NOISE_B) // 2).astype(np.uint8),
                         0.9393312967355791),
    "noise_const": ([NOISE_A, NOISE_B], np.full_like(NOISE_A, 100), 0.0670490030063016),
    "hdr_fused_under": ([UNDER, OVER], UNDER, 0.942121535846807),
    "hdr_fused_mean": ([UNDER, OVER], _mean_u8(UNDER, OVER), 0.8577142944992587),
    "hdr_const": ([UNDER, OVER], np.full_like(UNDER, 100), 0.069264588612028),
    "k3": ([UNDER, hashed(60, 72, 3), OVER], _mean_u8(UNDER, OVER), 0.5702634510348169),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_values_match_authors_code(name: str) -> None:
    sources, fused, expected = GOLDEN[name]
    assert mef_ssim(sources, fused) == pytest.approx(expected, abs=1e-9)


def test_identical_sources_and_fused_score_one() -> None:
    # R = 1, equal weights, desired patch = the source patch up to the authors' +0.001 in
    # its norm: the score is 1 to ~1e-11.
    assert mef_ssim([UNDER, UNDER], UNDER) == pytest.approx(1.0, abs=1e-9)
    assert mef_ssim([NOISE_A, NOISE_A, NOISE_A], NOISE_A) == pytest.approx(1.0, abs=1e-9)


def test_fused_equal_to_one_source_is_below_one() -> None:
    q = mef_ssim([UNDER, OVER], UNDER)
    assert 0.9 < q < 0.99
    assert mef_ssim([UNDER, OVER], OVER) < 0.99


def test_flat_sources_and_flat_fused_score_one() -> None:
    flat = np.full((48, 48), 90, np.uint8)
    assert mef_ssim([flat, np.full_like(flat, 200)], np.full_like(flat, 10)) == pytest.approx(1.0, abs=1e-12)


def test_no_luminance_term() -> None:
    # MEF-SSIM compares structure and contrast only: a constant offset (no clipping) or a
    # different constant fused level changes nothing.
    base = mef_ssim([NOISE_A, NOISE_B], (NOISE_A // 2).astype(np.uint8))
    shifted = mef_ssim([NOISE_A, NOISE_B], (NOISE_A // 2 + 100).astype(np.uint8))
    assert shifted == pytest.approx(base, abs=1e-12)
    c1 = mef_ssim([UNDER, OVER], np.full_like(UNDER, 20))
    c2 = mef_ssim([UNDER, OVER], np.full_like(UNDER, 230))
    assert c1 == pytest.approx(c2, abs=1e-12)


def test_scores_combine_as_weighted_geometric_mean() -> None:
    scales = mef_ssim_scales([UNDER, OVER], _mean_u8(UNDER, OVER))
    assert len(scales) == 3
    assert sum(SCALE_WEIGHTS) == pytest.approx(1.0)
    assert SCALE_WEIGHTS[0] == pytest.approx(0.0448 / 0.6305)
    expected = np.prod([q ** w for q, w in zip(scales, SCALE_WEIGHTS)])
    assert mef_ssim([UNDER, OVER], _mean_u8(UNDER, OVER)) == pytest.approx(expected, rel=1e-14)


def test_downsample_matches_matlab_imfilter_same_symmetric() -> None:
    # imfilter(magic(5), ones(2)/4, 'symmetric', 'same')(1:2:end, 1:2:end), from Octave.
    magic5 = np.array([[17, 24, 1, 8, 15], [23, 5, 7, 14, 16], [4, 6, 13, 20, 22],
                       [10, 12, 19, 21, 3], [11, 18, 25, 2, 9]], dtype=np.float64)
    expected = np.array([[17.25, 7.5, 15.5], [8.0, 18.25, 12.5], [14.5, 13.5, 9.0]])
    np.testing.assert_array_equal(_downsample(magic5), expected)


def test_uint8_and_float_grey_inputs_agree() -> None:
    fused = _mean_u8(UNDER, OVER)
    q8 = mef_ssim([UNDER, OVER], fused)
    qf = mef_ssim([UNDER / 255.0, OVER / np.float32(255)], fused.astype(np.float64) / 255.0)
    assert qf == pytest.approx(q8, abs=1e-9)


def test_rgb_is_converted_like_matlab_rgb2gray() -> None:
    rgb = np.stack([UNDER, hashed(60, 72, 5), OVER], axis=-1)
    grey = to_gray_255(rgb)
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    np.testing.assert_array_equal(grey, np.floor(RGB2GRAY[0] * r + RGB2GRAY[1] * g + RGB2GRAY[2] * b + 0.5))
    assert RGB2GRAY == (0.298936021293775, 0.587043074451121, 0.114020904255103)
    # uint8 RGB is rounded to grey as rgb2gray does: same score as the rounded grey image.
    sources_rgb = [rgb, rgb[:, ::-1].copy()]
    sources_grey = [grey.astype(np.uint8), grey[:, ::-1].astype(np.uint8)]
    assert mef_ssim(sources_rgb, UNDER) == mef_ssim(sources_grey, UNDER)
    # grey replicated to RGB is the same image (the coefficients sum to 1 - 1e-15).
    grey3 = np.repeat(UNDER[..., None], 3, axis=-1)
    assert mef_ssim([grey3, OVER], UNDER) == mef_ssim([UNDER, OVER], UNDER)


def test_float_rgb_is_not_rounded_but_close_to_uint8() -> None:
    rgb_u = np.stack([UNDER, OVER, _mean_u8(UNDER, OVER)], axis=-1)
    rgb_o = np.stack([OVER, UNDER, OVER], axis=-1)
    fused = _mean_u8(rgb_u, rgb_o)
    q8 = mef_ssim([rgb_u, rgb_o], fused)
    qf = mef_ssim([rgb_u / 255.0, rgb_o / 255.0], fused / 255.0)
    assert qf == pytest.approx(q8, abs=2e-3)
    grey_f = to_gray_255(rgb_u / 255.0)
    assert np.any(np.abs(grey_f - np.round(grey_f)) > 0.01)  # float input: not quantised
    exact = [to_gray_255(x / 255.0) / 255.0 for x in (rgb_u, rgb_o)]
    assert mef_ssim(exact, to_gray_255(fused / 255.0) / 255.0) == pytest.approx(qf, abs=1e-12)


def test_stacked_array_input_equals_list_input() -> None:
    stack = np.stack([UNDER, OVER])
    assert mef_ssim(stack, UNDER) == mef_ssim([UNDER, OVER], UNDER)
    rgb = np.stack([np.repeat(x[..., None], 3, -1) for x in (UNDER, OVER)])
    assert rgb.shape == (2, 60, 72, 3)
    assert mef_ssim(rgb, UNDER) == mef_ssim([UNDER, OVER], UNDER)


@pytest.mark.parametrize("sources, fused, match", [
    ([UNDER], UNDER, "at least 2"),
    ([UNDER, OVER[:, :70]], UNDER, "share"),
    ([UNDER, OVER], UNDER[:50], "differs"),
    ([UNDER, OVER], np.zeros((60, 72, 4), np.uint8), "H×W×3"),
    (np.zeros((60, 72), np.uint8), UNDER, "K×H×W"),
    ([UNDER[:40], OVER[:40]], UNDER[:40], "too small"),
    ([UNDER, OVER], UNDER.astype(np.float32), r"\[0, 1\]"),
    ([UNDER.astype(np.int32), OVER], UNDER, "dtype"),
    ([UNDER / 255.0, np.full((60, 72), np.nan)], UNDER, "NaN"),
])
def test_bad_inputs_raise_value_error(sources, fused, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mef_ssim(sources, fused)
