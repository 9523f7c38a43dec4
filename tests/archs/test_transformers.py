"""HDR-Transformer and SCTNet: shifted-window masks, arbitrary sizes, mask caching, small builds."""

from __future__ import annotations

from typing import Dict, Tuple

import pytest
import torch

from selfhdr.archs import build_backbone
from selfhdr.archs._swin import MASK_VALUE, WindowAttention, shifted_window_mask, window_partition
from selfhdr.errors import ConfigError, InputError

# Small builds so every test runs in well under a second per forward on two CPU cores.
SMALL: Dict[str, dict] = {
    "HDR-Transformer": dict(embed_dim=16, depths=(2,), num_heads=(2,)),
    "SCTNet": dict(embed_dim=24, depths=(2, 2), num_heads=(2, 2), channel_heads=2),
}


def frames(h: int, w: int, batch: int = 1, seed: int = 0) -> Tuple[torch.Tensor, ...]:
    """Three random B×6×H×W frames."""
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(batch, 6, h, w, generator=g) for _ in range(3))


def small(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_backbone(name, **SMALL[name]).eval()


def brute_force_mask(h: int, w: int, window: int, shift: int) -> torch.Tensor:
    """Dense nW×N×N SW-MSA mask from the region-label definition, with plain Python loops.

    The cyclically shifted map is cut into three bands per axis, [0, h-window),
    [h-window, h-shift), [h-shift, h); each of the nine band pairs is a region, and a token
    may only attend to tokens of its own region.
    """
    def band(i: int, n: int) -> int:
        if i < n - window:
            return 0
        return 1 if i < n - shift else 2

    label = [[band(r, h) * 3 + band(c, w) for c in range(w)] for r in range(h)]
    windows = []
    for wr in range(0, h, window):
        for wc in range(0, w, window):
            tokens = [label[wr + i][wc + j] for i in range(window) for j in range(window)]
            windows.append(
                [[0.0 if a == b else MASK_VALUE for b in tokens] for a in tokens]
            )
    return torch.tensor(windows)


def dense(h: int, w: int, window: int, shift: int) -> torch.Tensor:
    """Our seam-only mask expanded to every window."""
    index, mask = shifted_window_mask(h, w, window, shift, torch.device("cpu"))
    out = torch.zeros((h // window) * (w // window), window * window, window * window)
    out[index] = mask
    return out


@pytest.mark.parametrize("size", [(48, 72), (72, 48), (8, 16), (64, 64)])
def test_mask_matches_region_label_definition(size: Tuple[int, int]) -> None:
    h, w = size
    expected = brute_force_mask(h, w, 8, 4)
    assert (expected != 0).any()
    assert torch.equal(dense(h, w, 8, 4), expected)
    # Only the last window row and column straddle a seam.
    index, _ = shifted_window_mask(h, w, 8, 4, torch.device("cpu"))
    assert len(index) == h // 8 + w // 8 - 1


def test_window_attention_matches_dense_reference() -> None:
    """The seam-only masked attention equals plain attention with the full brute-force mask."""
    torch.manual_seed(0)
    attn = WindowAttention(dim=12, window_size=8, num_heads=3)
    x = torch.randn(2, 48, 72, 12)
    with torch.no_grad():
        ours = attn(x.flatten(1, 2), (48, 72), shift=4).view(2, 48, 72, 12)

        shifted = torch.roll(x, (-4, -4), (1, 2))
        win = window_partition(shifted, 8)
        q, k, v = attn.qkv(win).view(-1, 64, 3, 3, 4).permute(2, 0, 3, 1, 4)
        logits = (q * attn.scale) @ k.transpose(-2, -1) + attn.relative_position_bias()
        mask = brute_force_mask(48, 72, 8, 4)
        logits = logits.view(2, -1, 3, 64, 64) + mask[None, :, None]
        out = (logits.softmax(-1).view(-1, 3, 64, 64) @ v).transpose(1, 2).reshape(-1, 64, 12)
        out = attn.proj(out).view(2, 6, 9, 8, 8, 12).permute(0, 1, 3, 2, 4, 5)
        out = out.reshape(2, 48, 72, 12)
        ref = torch.roll(out, (4, 4), (1, 2))
    assert (ours - ref).abs().max().item() < 1e-5
    # Dropping the mask changes the seam windows, so the comparison above is not vacuous.
    with torch.no_grad():
        unmasked = attn(torch.roll(x, (-4, -4), (1, 2)).flatten(1, 2), (48, 72))
    unmasked = torch.roll(unmasked.view(2, 48, 72, 12), (4, 4), (1, 2))
    assert (unmasked - ref).abs().max().item() > 1e-3
    # ... and only there: windows off the seams match the reference without a mask.
    interior = (slice(None), slice(4, 44), slice(4, 68))  # seam windows wrap the borders
    assert (unmasked[interior] - ref[interior]).abs().max().item() < 1e-5


@pytest.mark.parametrize("name", list(SMALL))
@pytest.mark.parametrize("size", [(32, 48), (40, 56), (8, 8)])
def test_runs_at_multiples_of_divisor(name: str, size: Tuple[int, int]) -> None:
    model = small(name)
    assert model.size_divisor == 8 and type(model).size_divisor == 8
    with torch.no_grad():
        y = model(*frames(*size, batch=2))
    assert y.shape == (2, 3) + size
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    # The two batch items differ, so the network did not collapse to a constant.
    assert (y[0] - y[1]).abs().max() > 1e-4


@pytest.mark.parametrize("name", list(SMALL))
def test_rejects_sizes_off_the_divisor(name: str) -> None:
    with pytest.raises(InputError, match="multiples of 8"):
        small(name)(*frames(32, 44))


@pytest.mark.parametrize("name", list(SMALL))
def test_output_independent_of_mask_cache(name: str) -> None:
    model = small(name)
    a, b = frames(48, 72, seed=1), frames(40, 56, seed=2)
    with torch.no_grad():
        shifted_window_mask.cache_clear()
        fresh = model(*a)
        model(*b)  # caches masks for another size
        again = model(*a)
        shifted_window_mask.cache_clear()
        model(*b)
        after_other = model(*a)
    assert torch.equal(fresh, again)
    assert torch.equal(fresh, after_other)


@pytest.mark.parametrize("name", list(SMALL))
def test_batch_items_are_independent(name: str) -> None:
    """Batching must not mix windows of different images (the seam masks are per image)."""
    model = small(name)
    x = frames(32, 48, batch=3, seed=3)
    with torch.no_grad():
        together = model(*x)
        alone = model(*(t[1:2] for t in x))
    assert (together[1:2] - alone).abs().max().item() < 1e-5


@pytest.mark.parametrize("name", list(SMALL))
def test_state_dict_holds_only_parameters(name: str) -> None:
    model = small(name)
    assert set(model.state_dict()) == {k for k, _ in model.named_parameters()}
    clone = build_backbone(name, **SMALL[name]).eval()
    clone.load_state_dict(model.state_dict())
    x = frames(16, 24)
    with torch.no_grad():
        assert torch.equal(model(*x), clone(*x))


@pytest.mark.parametrize("name", list(SMALL))
def test_backward_gives_finite_gradients(name: str) -> None:
    model = small(name).train()  # drop-path active
    y = model(*frames(24, 32, batch=2))
    (y - 0.5).square().mean().backward()
    for key, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), key
    tables = [p for k, p in model.named_parameters() if k.endswith("relative_position_bias_table")]
    assert tables and all(t.grad.abs().sum() > 0 for t in tables)


def test_published_width_constructs() -> None:
    counts = {n: sum(p.numel() for p in build_backbone(n).parameters()) for n in SMALL}
    assert counts == {"HDR-Transformer": 1_222_113, "SCTNet": 994_555}


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("SCTNet", dict(embed_dim=20)),  # not a multiple of 3
        ("SCTNet", dict(embed_dim=24, channel_heads=3)),  # 8 channels per frame, 3 heads
        ("HDR-Transformer", dict(depths=(2, 2), num_heads=(2,))),
        ("HDR-Transformer", dict(embed_dim=16, num_heads=(3, 3, 3))),
    ],
)
def test_inconsistent_widths_are_config_errors(name: str, kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        build_backbone(name, **kwargs)
