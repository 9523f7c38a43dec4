"""Every registered backbone: odd sizes via reconstruct, gradients, small builds, divisor."""

from __future__ import annotations

from typing import Dict, Tuple

import pytest
import torch

from selfhdr.archs import build_backbone, list_backbones
from selfhdr.inference import reconstruct

# Reduced-width/depth builds for fast tests and CPU demos (one per registered backbone).
SMALL: Dict[str, dict] = {
    "AHDRNet": dict(nf=8, growth=4, n_dense=2, n_rdb=2),
    "FSHDR": dict(nf=8, n_sdc=1),
    "HDR-Transformer": dict(embed_dim=16, depths=(2,), num_heads=(2,)),
    "SCTNet": dict(embed_dim=24, depths=(2, 2), num_heads=(2, 2), channel_heads=2),
}


def frames(h: int, w: int, seed: int = 0) -> Tuple[torch.Tensor, ...]:
    """Three random 1×6×H×W frames."""
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(1, 6, h, w, generator=g) for _ in range(3))


def small(name: str) -> torch.nn.Module:
    """The reduced build of ``name``; fails loudly when a new backbone has none listed."""
    if name not in SMALL:
        pytest.fail(f"no reduced-width kwargs for backbone {name!r}: add them to SMALL")
    torch.manual_seed(0)
    return build_backbone(name, **SMALL[name])


@pytest.mark.parametrize("name", list_backbones())
def test_size_divisor_declared(name: str) -> None:
    model = small(name)
    assert isinstance(model.size_divisor, int) and model.size_divisor >= 1
    assert isinstance(type(model).size_divisor, int)


@pytest.mark.parametrize("name", list_backbones())
def test_odd_size_via_reconstruct(name: str) -> None:
    model = small(name).eval()
    y = reconstruct(model, *frames(67, 93))
    assert y.shape == (1, 3, 67, 93)
    assert torch.isfinite(y).all()
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert float(y.std()) > 0.0  # not a constant image


@pytest.mark.parametrize("name", ["AHDRNet", "FSHDR"])
def test_published_width_at_odd_size(name: str) -> None:
    """The published widths run unpadded at any size (size_divisor 1): reconstruct = forward."""
    torch.manual_seed(0)
    model = build_backbone(name).eval()
    assert model.size_divisor == 1
    x = frames(21, 19)
    with torch.no_grad():
        direct = model(*x)
    assert torch.equal(reconstruct(model, *x, channels_last=False), direct)
    # The default channels-last layout runs other oneDNN kernels: equal to float rounding.
    assert float((reconstruct(model, *x) - direct).abs().max()) <= 1e-6
    assert direct.shape == (1, 3, 21, 19)


@pytest.mark.parametrize("name", list_backbones())
def test_backward_gives_finite_gradients(name: str) -> None:
    model = small(name).train()
    side = 2 * model.size_divisor if model.size_divisor > 1 else 13
    x = frames(side, side + model.size_divisor)
    loss = (model(*x) - 0.5).abs().mean()
    loss.backward()
    grads = {k: p.grad for k, p in model.named_parameters()}
    assert all(g is not None for g in grads.values()), [k for k, g in grads.items() if g is None]
    assert all(torch.isfinite(g).all() for g in grads.values())
    assert sum(float(g.abs().sum()) for g in grads.values()) > 0.0


@pytest.mark.parametrize("name", list_backbones())
def test_reduced_width_is_smaller(name: str) -> None:
    full = sum(p.numel() for p in build_backbone(name).parameters())
    reduced = sum(p.numel() for p in small(name).parameters())
    assert reduced < full / 4


@pytest.mark.parametrize(
    "name, published_params", [("AHDRNet", 1_241_507), ("FSHDR", 1_833_603)]
)
def test_published_parameter_count(name: str, published_params: int) -> None:
    assert sum(p.numel() for p in build_backbone(name).parameters()) == published_params


@pytest.mark.parametrize("name", ["AHDRNet", "FSHDR"])
def test_declared_receptive_radius_is_exact(name: str) -> None:
    """The declared radius (used for tiling overlap) equals the gradient support."""
    model = small(name).eval()
    size = 2 * model.receptive_radius + 9
    x = [t.requires_grad_() for t in frames(size, size)]
    model(*x)[0, :, size // 2, size // 2].sum().backward()
    support = sum(t.grad.abs().sum(dim=(0, 1)) for t in x).nonzero()
    assert int((support - size // 2).abs().max()) == model.receptive_radius


@pytest.mark.parametrize("name", list_backbones())
def test_tiled_reconstruct_at_odd_size(name: str) -> None:
    """Tiles on the divisor grid, blended and cropped back, for every backbone."""
    model = small(name).eval()
    x = frames(67, 93)
    tiled = reconstruct(model, *x, tile=48, overlap=16)
    assert tiled.shape == (1, 3, 67, 93)
    assert torch.isfinite(tiled).all()
    assert float(tiled.min()) >= 0.0 and float(tiled.max()) <= 1.0
    # Away from seams the tiles see enough context to track the whole-image output.
    assert float((tiled - reconstruct(model, *x)).abs().mean()) < 0.05
