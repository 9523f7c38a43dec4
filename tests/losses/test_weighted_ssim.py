"""Weighted-SSIM loss: zero at the identity, γ favouring the detailed / well-exposed input."""

from __future__ import annotations

import math

import pytest
import torch

from selfhdr.losses.weighted_ssim import GAMMAS, WeightedSSIMLoss


def waves(h: int = 40, w: int = 48, amplitude: float = 1.0, offset: float = 0.5) -> torch.Tensor:
    """1×1×H×W float64 smooth pattern ``offset + amplitude · sin(x/3) cos(y/4) / 2``."""
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                          indexing="ij")
    return (offset + amplitude * 0.5 * torch.sin(x / 3) * torch.cos(y / 4))[None, None]


def textured(seed: int = 0, shape: tuple = (2, 1, 32, 40)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_identical_inputs_and_fused_give_zero_loss(gamma: str) -> None:
    x = textured()
    loss = WeightedSSIMLoss(gamma)(x, torch.cat([x, x], dim=1))
    assert abs(loss.item()) < 1e-10


@pytest.mark.parametrize("gamma", GAMMAS)
def test_gamma_is_a_partition_of_unity(gamma: str) -> None:
    inputs = torch.cat([textured(1), textured(2) * 0.3 + 0.6], dim=1)
    g = WeightedSSIMLoss(gamma).gamma(inputs)
    assert g.shape == inputs.shape
    assert torch.all(g >= 0)
    torch.testing.assert_close(g.sum(dim=1), torch.ones_like(g[:, 0]), atol=1e-12, rtol=0)


def test_variance_and_gradient_weights_follow_the_contrast_ratio() -> None:
    # Input 2 is input 1 at half the contrast: local variance ×1/4, gradient magnitude ×1/2,
    # so γ_1 = 1/(1 + 1/4) = 0.8 (variance) and 1/(1 + 1/2) = 2/3 (gradient) at every pixel.
    inputs = torch.cat([waves(amplitude=0.8), waves(amplitude=0.4)], dim=1)
    v = WeightedSSIMLoss("variance", eps=1e-12).gamma(inputs)
    g = WeightedSSIMLoss("gradient", eps=1e-12).gamma(inputs)
    h = WeightedSSIMLoss("hybrid", eps=1e-12, hybrid_mix=0.25).gamma(inputs)
    torch.testing.assert_close(v[:, 0], torch.full_like(v[:, 0], 0.8), atol=1e-9, rtol=0)
    torch.testing.assert_close(g[:, 0], torch.full_like(g[:, 0], 2 / 3), atol=1e-9, rtol=0)
    expected = 0.25 * 0.8 + 0.75 * 2 / 3
    torch.testing.assert_close(h[:, 0], torch.full_like(h[:, 0], expected), atol=1e-9, rtol=0)


def test_well_exposedness_weight_is_mertens_gaussian() -> None:
    inputs = torch.cat([torch.full((1, 1, 16, 16), 0.5, dtype=torch.float64),
                        torch.full((1, 1, 16, 16), 0.98, dtype=torch.float64)], dim=1)
    g = WeightedSSIMLoss("well_exposedness", eps=1e-12).gamma(inputs)
    e2 = math.exp(-(0.48 ** 2) / (2 * 0.2 ** 2))
    torch.testing.assert_close(g[:, 0], torch.full_like(g[:, 0], 1 / (1 + e2)), atol=1e-9, rtol=0)


@pytest.mark.parametrize("gamma", ["variance", "gradient", "hybrid"])
def test_detailed_input_wins_over_a_clipped_one(gamma: str) -> None:
    detail = textured(3, (1, 1, 32, 40)) * 0.6 + 0.2
    clipped = torch.ones_like(detail)  # saturated over-exposure: no structure left
    inputs = torch.cat([detail, clipped], dim=1)
    loss_fn = WeightedSSIMLoss(gamma)
    g = loss_fn.gamma(inputs)
    assert g[:, 0].min() > 0.99
    # the loss then prefers keeping the detailed frame to copying the clipped one
    assert loss_fn(detail, inputs) < 0.01
    assert loss_fn(clipped, inputs) > 0.5


def test_flat_inputs_fall_back_to_uniform_weights() -> None:
    inputs = torch.cat([torch.full((1, 1, 20, 20), 0.2), torch.full((1, 1, 20, 20), 0.7)], dim=1)
    for gamma in ("variance", "gradient", "hybrid"):
        g = WeightedSSIMLoss(gamma).gamma(inputs)
        torch.testing.assert_close(g, torch.full_like(g, 0.5))


@pytest.mark.parametrize("gamma", GAMMAS)
def test_gradients_flow_to_the_fused_image(gamma: str) -> None:
    inputs = torch.cat([textured(4, (2, 1, 24, 28)) * 0.4, textured(5, (2, 1, 24, 28)) * 0.4 + 0.6], 1).float()
    fused = inputs.mean(dim=1, keepdim=True).clone().requires_grad_(True)
    loss = WeightedSSIMLoss(gamma)(fused, inputs)
    loss.backward()
    assert 0 < loss.item() < 1
    assert torch.isfinite(fused.grad).all() and fused.grad.abs().sum() > 0


def test_small_images_and_bad_arguments() -> None:
    x = torch.rand(1, 2, 4, 5)
    assert torch.isfinite(WeightedSSIMLoss()(x[:, :1], x))  # smaller than the window: replicate pad
    with pytest.raises(ValueError, match="unknown gamma"):
        WeightedSSIMLoss("contrast")
    with pytest.raises(ValueError, match="odd"):
        WeightedSSIMLoss(var_window=4)
    with pytest.raises(ValueError, match="B×1×H×W"):
        WeightedSSIMLoss()(x, x)


def test_structure_only_variant_ignores_brightness() -> None:
    x = textured(6, (1, 1, 32, 40)) * 0.5
    inputs = torch.cat([x, x], dim=1)
    brighter = x + 0.4  # same structure and contrast, other mean
    assert WeightedSSIMLoss(luminance=False)(brighter, inputs).item() == pytest.approx(0.0, abs=1e-6)
    assert WeightedSSIMLoss(luminance=True)(brighter, inputs).item() > 0.05


def test_multiscale_loss() -> None:
    x = textured(7, (1, 2, 37, 41))
    three = WeightedSSIMLoss(scale_weights=(0.0448, 0.2856, 0.3001))
    assert three.scale_weights == pytest.approx([0.0448 / 0.6305, 0.2856 / 0.6305, 0.3001 / 0.6305])
    assert abs(three(x[:, :1], torch.cat([x[:, :1], x[:, :1]], 1)).item()) < 1e-10
    fused = x.mean(dim=1, keepdim=True).requires_grad_(True)
    one, multi = WeightedSSIMLoss()(fused, x), three(fused, x)
    assert multi.item() != pytest.approx(one.item(), abs=1e-4)
    multi.backward()
    assert torch.isfinite(fused.grad).all() and fused.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="scale_weights"):
        WeightedSSIMLoss(scale_weights=())
