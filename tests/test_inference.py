"""Padding rule of the published test code, crop back, and tiled vs whole-image inference."""

from __future__ import annotations

from typing import Tuple

import pytest
import torch
import torch.nn.functional as F

from selfhdr.archs import build_backbone
from selfhdr.errors import ConfigError
from selfhdr.inference import (
    PadInfo,
    _crop_segments,
    _tile_starts,
    default_overlap,
    pad_to_multiple,
    reconstruct,
    unpad,
)


def frames(h: int, w: int, seed: int = 0) -> Tuple[torch.Tensor, ...]:
    """Three random 1×6×H×W frames."""
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(1, 6, h, w, generator=g) for _ in range(3))


@pytest.mark.parametrize(
    "size, divisor, before, after",
    [
        (64, 8, 4, 4),  # already a multiple: the published rule still adds a full 8
        (67, 8, 2, 3),  # 8 - 67 % 8 = 5, the odd pixel goes after
        (71, 8, 0, 1),
        (1000, 8, 4, 4),
        (1500, 8, 2, 2),
        (67, 1, 0, 0),  # divisor 1: nothing padded
    ],
)
def test_pad_amounts_follow_published_rule(
    size: int, divisor: int, before: int, after: int
) -> None:
    x = torch.rand(1, 6, size, size)
    padded, info = pad_to_multiple(x, divisor)
    assert padded.shape[-2:] == (size + before + after, size + before + after)
    assert info == PadInfo(before, before, size, size)
    if divisor > 1:
        expected = F.pad(x, (before, after, before, after), mode="reflect")
        assert torch.equal(padded, expected)
        assert padded.shape[-1] % divisor == 0
    else:
        assert padded is x


def test_pad_height_and_width_independently() -> None:
    x = torch.rand(2, 6, 67, 64)
    padded, info = pad_to_multiple(x, 8)
    assert padded.shape == (2, 6, 72, 72)
    assert info == PadInfo(top=2, left=4, height=67, width=64)
    # Reflection, not replication: the first padded row mirrors row 2 about row 0.
    assert torch.equal(padded[:, :, 0, 4:-4], x[:, :, 2, :])


def test_unpad_restores_original() -> None:
    x = torch.rand(1, 3, 45, 93)
    padded, info = pad_to_multiple(x, 8)
    assert padded.shape[-2:] == (48, 96)
    assert torch.equal(unpad(padded, info), x)


def test_pad_rejects_bad_divisor_and_tiny_images() -> None:
    with pytest.raises(ValueError):
        pad_to_multiple(torch.rand(1, 6, 16, 16), 0)
    with pytest.raises(ValueError, match="too small"):
        pad_to_multiple(torch.rand(1, 6, 3, 3), 8)


def test_minimal_rule_pads_bottom_right_only() -> None:
    """The rule of our own networks: fewest pixels, bottom/right, replicate when too small."""
    x = torch.rand(1, 2, 45, 64)
    padded, info = pad_to_multiple(x, 8, rule="minimal")
    assert padded.shape[-2:] == (48, 64) and info == PadInfo(0, 0, 45, 64)
    assert torch.equal(padded, F.pad(x, (0, 0, 0, 3), mode="reflect"))
    assert torch.equal(unpad(padded, info), x)
    tiny = torch.rand(1, 2, 3, 5)
    grown, info = pad_to_multiple(tiny, 8, rule="minimal")
    assert grown.shape[-2:] == (8, 8) and torch.equal(grown[..., 7, 7], tiny[..., 2, 4])
    assert pad_to_multiple(padded, 8, rule="minimal")[0] is padded
    with pytest.raises(ValueError, match="padding rule"):
        pad_to_multiple(x, 8, rule="centred")


def test_tile_starts_cover_with_overlap_on_divisor_grid() -> None:
    cases = [(1000, 512, 148, 1), (1504, 512, 64, 8), (96, 48, 20, 1)]
    for length, tile, overlap, divisor in cases:
        starts, side = _tile_starts(length, tile, overlap, divisor)
        assert side <= tile and side % divisor == 0
        assert all(s % divisor == 0 for s in starts)
        assert starts[0] == 0 and starts[-1] + side == length
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert all(side - g >= overlap for g in gaps), (starts, side)
    assert _tile_starts(80, 128, 32, 8) == ([0], 80)  # smaller than a tile: one tile


# Small widths keep these fast; the receptive radius (what tiling depends on) is unchanged.
@pytest.mark.parametrize(
    "name, kwargs, size, tile",
    [
        ("FSHDR", dict(nf=8), (96, 80), 64),  # radius 11: default overlap 44
        ("AHDRNet", dict(nf=8, growth=4), (208, 200), 192),  # radius 37: default overlap 148
    ],
)
def test_tiled_matches_untiled(name: str, kwargs: dict, size: Tuple[int, int], tile: int) -> None:
    torch.manual_seed(0)
    model = build_backbone(name, **kwargs).eval()
    x = frames(*size)
    whole = reconstruct(model, *x)
    tiled = reconstruct(model, *x, tile=tile)
    assert tiled.shape == whole.shape == (1, 3, *size)
    assert float((tiled - whole).abs().max()) <= 1e-4


def test_too_little_overlap_shows_seams() -> None:
    """The agreement above is not trivial: with overlap below 4 radii, tiles disagree."""
    torch.manual_seed(0)
    model = build_backbone("FSHDR", nf=8).eval()
    x = frames(96, 80)
    whole = reconstruct(model, *x)
    seamy = reconstruct(model, *x, tile=32, overlap=4)
    assert float((seamy - whole).abs().max()) > 1e-3


def test_default_overlap_is_four_receptive_radii() -> None:
    assert default_overlap(build_backbone("AHDRNet", nf=8, growth=4)) == 148
    assert default_overlap(build_backbone("FSHDR", nf=8)) == 44


def test_tiling_with_divisor_pads_then_tiles() -> None:
    """A divisor-8 model sees tiles on the 8-grid of the padded image and gets cropped back."""

    class Local(torch.nn.Module):
        size_divisor = 8
        receptive_radius = 1

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(18, 3, 3, padding=1)

        def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            assert a.shape[-1] % 8 == 0 and a.shape[-2] % 8 == 0
            return torch.sigmoid(self.conv(torch.cat((a, b, c), 1)))

    model = Local().eval()
    x = frames(61, 90)
    whole = reconstruct(model, *x)
    tiled = reconstruct(model, *x, tile=32)
    assert whole.shape == tiled.shape == (1, 3, 61, 90)
    assert float((tiled - whole).abs().max()) <= 1e-6


def test_no_autograd_graph_kept() -> None:
    model = build_backbone("FSHDR", nf=8).eval()
    x = tuple(t.requires_grad_() for t in frames(20, 24))
    assert not reconstruct(model, *x).requires_grad
    assert not reconstruct(model, *x, tile=16, overlap=8).requires_grad


def test_tile_must_exceed_overlap() -> None:
    model = build_backbone("FSHDR", nf=8).eval()
    with pytest.raises(ValueError, match="must exceed"):
        reconstruct(model, *frames(40, 40), tile=32, overlap=32)


# ----------------------------------------------------------------------------- fast paths

SMALL_ALL = {
    "AHDRNet": dict(nf=8, growth=4),  # radius 37 as published
    "FSHDR": dict(nf=8),  # radius 11
    "HDR-Transformer": dict(embed_dim=16, depths=(2,), num_heads=(2,)),
    "SCTNet": dict(embed_dim=24, depths=(2, 2), num_heads=(2, 2), channel_heads=2),
}
# bf16 keeps 8 significant bits: outputs in [0, 1] move by about one bf16 step near 0.5.
BF16_MAX_ABS = 1e-2
BF16_MEAN_ABS = 2e-3


def _small(name: str) -> torch.nn.Module:
    """A small, seeded backbone in eval mode."""
    torch.manual_seed(0)
    return build_backbone(name, **SMALL_ALL[name]).eval()


@pytest.mark.parametrize(
    "length, tile, overlap, divisor",
    [(1000, 800, 74, 1), (1500, 800, 74, 1), (1000, 512, 74, 1), (96, 64, 22, 1), (104, 48, 20, 8), (67, 40, 10, 1)],
)
def test_crop_segments_partition_the_axis(length: int, tile: int, overlap: int, divisor: int) -> None:
    segs = _crop_segments(length, tile, overlap, divisor)
    halo = -(-(-(-overlap // 2)) // divisor) * divisor
    assert segs[0][2] == 0 and segs[-1][3] == length
    for (s, e, k0, k1), nxt in zip(segs, segs[1:] + [None]):
        assert e - s <= tile and s <= k0 < k1 <= e
        assert all(v % divisor == 0 for v in (s, e, k0, k1))
        # Every kept pixel lies at least a halo from any edge inside the image.
        assert k0 - s >= halo or s == 0
        assert e - k1 >= halo or e == length
        if nxt is not None:
            assert nxt[2] == k1  # cores are contiguous
    # The fewest tiles: one fewer would not fit.
    if len(segs) > 1:
        fewer = len(segs) - 1
        assert fewer == 1 and length > tile or -(-(length - 2 * halo) // fewer) + 2 * halo > tile


def test_crop_layout_at_kalantari_size() -> None:
    """1000×1500 in 800-pixel tiles: 2×2 tiles of 537×787, 1.13× the image's pixels."""
    rows, cols = _crop_segments(1000, 800, 74, 1), _crop_segments(1500, 800, 74, 1)
    assert [e - s for s, e, _, _ in rows] == [537, 537]
    assert [e - s for s, e, _, _ in cols] == [787, 787]


@pytest.mark.parametrize("name", ["AHDRNet", "FSHDR"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_cropped_tiles_are_exact(name: str, channels_last: bool) -> None:
    """Default tiling of a CNN (halo = receptive radius) equals the untiled forward."""
    model = _small(name)
    x = frames(170, 120) if name == "AHDRNet" else frames(70, 61)
    tile = 110 if name == "AHDRNet" else 40
    whole = reconstruct(model, *x, channels_last=False)
    tiled = reconstruct(model, *x, tile=tile, channels_last=channels_last)
    assert float((tiled - whole).abs().max()) <= 1e-5
    # Blending is still available and exact with its 4-radius default overlap.
    if name == "FSHDR":
        blended = reconstruct(model, *x, tile=64, blend=True, channels_last=channels_last)
        assert float((blended - whole).abs().max()) <= 1e-5


@pytest.mark.parametrize("name", list(SMALL_ALL))
def test_channels_last_matches_plain(name: str) -> None:
    model = _small(name)
    x = frames(40, 48)
    plain = reconstruct(model, *x, channels_last=False)
    fast = reconstruct(model, *x, channels_last=True)
    assert fast.dtype == torch.float32 and fast.is_contiguous()
    assert float((fast - plain).abs().max()) <= 1e-5


@pytest.mark.parametrize("name", list(SMALL_ALL))
def test_bf16_within_documented_tolerance(name: str) -> None:
    model = _small(name)
    x = frames(40, 48)
    ref = reconstruct(model, *x)
    low = reconstruct(model, *x, precision="bf16")
    assert low.dtype == torch.float32 and low.shape == ref.shape
    diff = (low - ref).abs()
    assert float(diff.max()) <= BF16_MAX_ABS and float(diff.mean()) <= BF16_MEAN_ABS
    assert float(diff.max()) > 0.0  # autocast really ran in bf16


def test_bf16_tiled_matches_bf16_whole() -> None:
    model = _small("AHDRNet")
    x = frames(170, 120)
    whole = reconstruct(model, *x, precision="bf16")
    tiled = reconstruct(model, *x, tile=110, precision="bf16")
    assert float((tiled - whole).abs().max()) <= BF16_MAX_ABS


def test_precision_is_checked() -> None:
    model = build_backbone("FSHDR", nf=8).eval()
    with pytest.raises(ConfigError, match="needs CUDA"):
        reconstruct(model, *frames(16, 16), precision="fp16")
    with pytest.raises(ConfigError, match="precision must be"):
        reconstruct(model, *frames(16, 16), precision="int8")


# The default call (tile='auto') on an image wider than a tile against the published
# whole-image forward. CNNs: exact tiles, 1e-5. Transformers: blended tiles; measured max |Δ|
# on this bracket at published widths 3.9e-7 (HDR-Transformer) and 1.2e-4 (SCTNet), at these
# small widths below 1e-4; allowed 1e-3 (the tolerance stated in selfhdr.inference).
@pytest.mark.parametrize("name, kwargs, tol", [
    ("AHDRNet", dict(nf=8, growth=4), 1e-5),
    ("FSHDR", dict(nf=8), 1e-5),
    ("HDR-Transformer", dict(embed_dim=16, depths=(2,), num_heads=(2,)), 1e-3),
    ("SCTNet", dict(embed_dim=24, depths=(2, 2), num_heads=(2, 2), channel_heads=2), 1e-3),
])
def test_default_call_tiles_large_images_and_matches_the_whole_image(name: str, kwargs: dict, tol: float,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from selfhdr import inference

    torch.manual_seed(0)
    model = build_backbone(name, **kwargs).eval()
    x = frames(64, 1100)
    whole = reconstruct(model, *x, tile=None)
    calls = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda *a: calls.append(a[0].shape[-1]) or forward(*a))
    default = reconstruct(model, *x)
    assert len(calls) >= 3 and max(calls) <= inference.DEFAULT_TILE  # tiled, each tile bounded
    assert default.shape == whole.shape
    assert float((default - whole).abs().max()) <= tol
    assert float((reconstruct(model, *x, tile=0) - whole).abs().max()) == 0.0  # 0: the published path


def test_tile_values() -> None:
    from selfhdr.inference import DEFAULT_TILE, resolve_tile

    model = build_backbone("FSHDR", nf=8)
    assert resolve_tile(model, "auto") == DEFAULT_TILE == 512
    assert resolve_tile(model, None) is None and resolve_tile(model, 0) is None and resolve_tile(model, 300) == 300
    with pytest.raises(ValueError, match="tile must be"):
        resolve_tile(model, -5)
