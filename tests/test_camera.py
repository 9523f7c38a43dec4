"""The camera model: linearisation, re-exposure, triangle weights and the frame input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfhdr.camera import (
    frame_input, hdr_to_ldr, ldr_to_hdr, match_exposure, reference_weight, triangle_merge,
    triangle_weights,
)
from selfhdr.tonemap import mu_law


def test_ldr_to_hdr_matches_published_formula() -> None:
    ldr = np.array([0.0, 0.25, 0.5, 1.0], np.float32)
    np.testing.assert_allclose(ldr_to_hdr(ldr, 4.0), ldr**2.2 / (4.0 + 1e-8), rtol=1e-7)


def test_round_trip_and_clipping() -> None:
    hdr = np.array([0.01, 0.1, 0.2, 0.5], np.float32)
    np.testing.assert_allclose(ldr_to_hdr(hdr_to_ldr(hdr, 2.0), 2.0), hdr, rtol=1e-5)
    assert hdr_to_ldr(np.float32(0.6), 2.0) == 1.0  # 0.6 · 2 saturates
    assert match_exposure(np.float32(0.5), 1.0, 4.0) == pytest.approx(min(1.0, (0.5**2.2 * 4) ** (1 / 2.2)))


@pytest.mark.parametrize("r,expected", [
    (0.0, (0.0, 0.0, 1.0)), (0.25, (0.0, 0.5, 0.5)), (0.5, (0.0, 1.0, 0.0)),
    (0.75, (0.5, 0.5, 0.0)), (1.0, (1.0, 0.0, 0.0)),
])
def test_triangle_weights(r: float, expected: tuple) -> None:
    w = triangle_weights(np.float32(r))
    np.testing.assert_allclose(w, expected, atol=1e-7)
    assert reference_weight(np.float32(r)) == pytest.approx(expected[1])


def test_triangle_merge_and_torch_agree() -> None:
    rng = np.random.default_rng(0)
    ref = rng.random((5, 6, 3)).astype(np.float32)
    lin = [rng.random((5, 6, 3)).astype(np.float32) for _ in range(3)]
    merged = triangle_merge(lin, ref)
    w = triangle_weights(ref)
    np.testing.assert_allclose(sum(w), 1.0, atol=1e-6)
    t_merged = triangle_merge([torch.from_numpy(x) for x in lin], torch.from_numpy(ref))
    np.testing.assert_allclose(t_merged.numpy(), merged, atol=1e-6)


def test_frame_input_is_linear_first() -> None:
    ldr = np.full((2, 2, 3), 0.5, np.float32)
    x = frame_input(ldr, 4.0)
    assert x.shape == (2, 2, 6)
    np.testing.assert_allclose(x[..., :3], 0.5**2.2 / 4, rtol=1e-6)
    np.testing.assert_allclose(x[..., 3:], 0.5)
    xt = frame_input(torch.full((1, 3, 2, 2), 0.5), 4.0)
    assert xt.shape == (1, 6, 2, 2)
    np.testing.assert_allclose(xt[0, :3].numpy(), 0.5**2.2 / 4, rtol=1e-6)


def test_mu_law_numpy_and_torch() -> None:
    x = np.array([0.0, 0.001, 0.1, 1.0], np.float32)
    expected = np.log(1 + 5000 * x.astype(np.float64)) / np.log(5001)
    np.testing.assert_allclose(mu_law(x), expected, rtol=1e-6)
    np.testing.assert_allclose(mu_law(torch.from_numpy(x)).numpy(), expected, rtol=1e-6)
