"""Test-time reconstruction: the one padding helper, and whole-image or tiled inference.

Padding follows the published SelfHDR ``test.py`` exactly, so our numbers are comparable
with the paper's: it reflection-pads the transformer inputs by ``8 - W % 8`` (a full 8 even
when W is already a multiple of 8), split as evenly as possible with the extra pixel on the
right/bottom, and runs AHDRNet/FSHDR unpadded. Each backbone declares that multiple as
``size_divisor`` (1 = any size, nothing padded).

Tiling bounds memory on large images (AHDRNet at 1000×1500 needs about 5.5 GB untiled, about
1.4 GB with 512-pixel tiles). Neighbouring tiles share ``overlap`` pixels. Near a tile edge
that lies inside the image a CNN sees zero padding instead of the true neighbours, so each
tile's weight is zero over the outer quarter of the overlap and rises with a raised cosine
over the middle half; the weighted sum is divided by the summed weight. A pixel therefore
only takes values computed at least ``overlap // 4`` pixels from any inner tile edge, and
the tiled output equals the untiled one (to float rounding) once ``overlap // 4`` reaches
the network's receptive-field radius: 37 pixels for AHDRNet (overlap >= 148) and 11 for
FSHDR (overlap >= 44), measured from the gradient support. Backbones declare that radius as
``receptive_radius``; the default overlap uses it. (With random weights the boundary effect
fades faster: overlap 64 already agreed to 1.2e-7 at 1000×1500; only 4 radii is guaranteed.)

On glibc much of the CPU time of large forwards is the kernel faulting in (and zeroing)
pages that ``free`` returned to it; launching with ``MALLOC_MMAP_MAX_=0`` and
``MALLOC_TRIM_THRESHOLD_=100000000000`` cut system time from 53 s to 1 s (1000×1500,
512-pixel tiles) at +0.5 GB peak memory.
"""

from __future__ import annotations

import math
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Overlap used when a backbone declares no receptive_radius (e.g. windowed transformers,
# whose receptive field spans the whole tile): seams are blended, not removed exactly.
FALLBACK_OVERLAP = 64


class PadInfo(NamedTuple):
    """Where the original image sits inside a padded one: offsets and original size."""

    top: int
    left: int
    height: int
    width: int


def _pad_amounts(size: int, divisor: int) -> Tuple[int, int]:
    """(before, after) padding of one axis under the published test-time rule."""
    if divisor == 1:
        return 0, 0
    total = divisor - size % divisor  # a full divisor when size is already a multiple
    return total // 2, total - total // 2


def pad_to_multiple(x: Tensor, divisor: int) -> Tuple[Tensor, PadInfo]:
    """Reflection-pad the last two dims of ``x`` to a multiple of ``divisor``, as published."""
    if not isinstance(divisor, int) or divisor < 1:
        raise ValueError(f"divisor must be an integer >= 1, got {divisor!r}")
    height, width = x.shape[-2:]
    top, bottom = _pad_amounts(height, divisor)
    left, right = _pad_amounts(width, divisor)
    info = PadInfo(top, left, height, width)
    if top == bottom == left == right == 0:
        return x, info
    if max(top, bottom) >= height or max(left, right) >= width:
        # Reflection cannot reach further than the image itself.
        raise ValueError(
            f"a {height}×{width} image is too small to reflection-pad to a multiple of {divisor}"
        )
    return F.pad(x, (left, right, top, bottom), mode="reflect"), info


def unpad(y: Tensor, info: PadInfo) -> Tensor:
    """Crop a padded output back to the original image (inverse of :func:`pad_to_multiple`)."""
    return y[..., info.top : info.top + info.height, info.left : info.left + info.width]


def default_overlap(model: nn.Module) -> int:
    """Overlap that makes tiling exact for ``model``: 4 × its ``receptive_radius`` if declared."""
    radius = getattr(model, "receptive_radius", None)
    return FALLBACK_OVERLAP if radius is None else 4 * int(radius)


def _tile_starts(length: int, tile: int, overlap: int, divisor: int) -> Tuple[List[int], int]:
    """Tile starts and the (possibly reduced) tile side covering one axis of ``length``.

    Works in units of ``divisor`` so every tile side and start is a multiple of it (windowed
    transformers then see the same window grid as untiled). The number of tiles is the
    fewest that keep neighbours ``overlap`` apart; the tile is then shrunk to the smallest
    side that still covers the axis, which spreads tiles evenly instead of leaving a last
    tile that mostly hangs outside the image.
    """
    units, tile_u = length // divisor, tile // divisor
    if tile_u >= units:
        return [0], length
    overlap_u = -(-overlap // divisor)
    step_u = tile_u - overlap_u
    count = 1 + -(-(units - tile_u) // step_u)
    tile_u = -(-(units + (count - 1) * overlap_u) // count)
    step_u = -(-(units - tile_u) // (count - 1))
    # min() shifts the last tile back inside the image.
    starts = [min(i * step_u, units - tile_u) * divisor for i in range(count)]
    return starts, tile_u * divisor


def _ramp(size: int, overlap: int, rise_at_start: bool, rise_at_end: bool) -> Tensor:
    """1-D tile weight: zero on the overlap's outer quarter, raised cosine over its middle half."""
    margin = overlap // 4
    rise = overlap - 2 * margin
    dist = torch.arange(size, dtype=torch.float64)
    weight = torch.ones(size, dtype=torch.float64)

    def edge(d: Tensor) -> Tensor:
        # Half-pixel offset makes the two overlapping ramps sum to one.
        phase = ((d - margin + 0.5) / max(rise, 1)).clamp(0.0, 1.0)
        return torch.where(d < margin, torch.zeros_like(d), 0.5 - 0.5 * torch.cos(math.pi * phase))

    if rise_at_start:
        weight = weight * edge(dist)
    if rise_at_end:
        weight = weight * edge(size - 1 - dist)
    return weight


def _run_tiled(
    model: nn.Module, frames: Tuple[Tensor, Tensor, Tensor], tile: int, overlap: int, divisor: int
) -> Tensor:
    """Blend overlapping tile outputs over frames already padded to a multiple of ``divisor``."""
    height, width = frames[0].shape[-2:]
    rows, tile_h = _tile_starts(height, tile, overlap, divisor)
    cols, tile_w = _tile_starts(width, tile, overlap, divisor)
    if len(rows) == len(cols) == 1:
        return model(*frames)

    ref = frames[0]
    # One window per (inner-edge) pattern: at most nine, reused across tiles.
    windows: Dict[Tuple[bool, bool, bool, bool], Tensor] = {}
    out: Optional[Tensor] = None
    weight_sum = torch.zeros(height, width, dtype=ref.dtype, device=ref.device)
    for top in rows:
        for left in cols:
            key = (top > 0, top + tile_h < height, left > 0, left + tile_w < width)
            if key not in windows:
                w_rows = _ramp(tile_h, overlap, key[0], key[1])
                w_cols = _ramp(tile_w, overlap, key[2], key[3])
                windows[key] = torch.outer(w_rows, w_cols).to(ref.dtype).to(ref.device)
            window = windows[key]
            crop = (..., slice(top, top + tile_h), slice(left, left + tile_w))
            pred = model(*(f[crop] for f in frames))
            if out is None:
                out = pred.new_zeros(*pred.shape[:-2], height, width)
            out[crop] += pred * window
            weight_sum[crop] += window
    assert out is not None
    return out / weight_sum


def reconstruct(
    model: nn.Module,
    x1: Tensor,
    x2: Tensor,
    x3: Tensor,
    tile: Optional[int] = None,
    overlap: Optional[int] = None,
) -> Tensor:
    """Run a backbone on a full bracket at any size, optionally in blended tiles; no autograd.

    ``tile`` is the largest tile side (rounded down to ``model.size_divisor``); ``None`` runs
    the whole image at once. ``overlap`` defaults to :func:`default_overlap` (148 for
    AHDRNet, 44 for FSHDR: exact to float rounding). Put ``model`` in eval mode first.
    """
    divisor = int(getattr(model, "size_divisor"))
    if tile is not None:
        overlap = default_overlap(model) if overlap is None else overlap
        if overlap < 0:
            raise ValueError(f"overlap must be >= 0, got {overlap}")
        tile = tile // divisor * divisor
        # Tiles are placed on the divisor grid, so the overlap is effectively rounded up.
        if tile <= -(-overlap // divisor) * divisor:
            raise ValueError(
                f"tile ({tile} after rounding down to size_divisor {divisor}) must exceed "
                f"overlap ({overlap} rounded up to a multiple of {divisor})"
            )
    with torch.inference_mode():
        padded = [pad_to_multiple(x, divisor) for x in (x1, x2, x3)]
        frames = (padded[0][0], padded[1][0], padded[2][0])
        if tile is None:
            y = model(*frames)
        else:
            assert overlap is not None
            y = _run_tiled(model, frames, tile, overlap, divisor)
        return unpad(y, padded[0][1])
