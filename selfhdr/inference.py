"""Test-time reconstruction: whole-image or tiled inference at any size.

Padding (:mod:`selfhdr.archs.padding`, re-exported here) follows the published SelfHDR ``test.py`` exactly, so our numbers are comparable
with the paper's: it reflection-pads the transformer inputs by ``8 - W % 8`` (a full 8 even
when W is already a multiple of 8), split as evenly as possible with the extra pixel on the
right/bottom, and runs AHDRNet/FSHDR unpadded. Each backbone declares that multiple as
``size_divisor`` (1 = any size, nothing padded).

Tiling bounds memory on large images (AHDRNet at 1000×1500 needs about 5.5 GB untiled), and
it is the default: ``reconstruct(model, x1, x2, x3)`` tiles any image larger than
:data:`DEFAULT_TILE` (512) — exactly for the CNNs (equal to the whole-image forward within
1e-5, tested), blended for the transformers (within 1e-3 of it, tested; measured on a random
64×1100 bracket at published widths: max |Δ| 3.9e-7 HDR-Transformer, 1.2e-4 SCTNet) — and
``tile=None`` (``--tile 0``) forces the whole-image published path.
Tiles are laid out with the fewest tiles per axis whose computed side is at most ``tile``,
spread evenly so every tile has about the same size. Near a tile edge that lies inside the
image a CNN sees zero padding instead of the true neighbours, so two stitching rules:

* **exact** (default for backbones that declare ``receptive_radius``: AHDRNet 37 pixels,
  FSHDR 11, measured from the gradient support): each tile is computed with a halo of
  ``overlap // 2`` pixels beyond its core on every inner side and only its core is kept.
  With ``overlap >= 2 × receptive_radius`` (the default) every kept pixel saw exactly its
  untiled context, so the output equals the untiled one to float rounding. At 1000×1500
  with 800-pixel tiles that computes 1.18× the image's pixels, against 1.68× for blended
  512-pixel tiles with the 4-radius overlap the exact result needs there.
* **blend** (backbones without a radius, e.g. windowed transformers whose receptive field
  spans the whole tile; or ``blend=True``): neighbouring tiles share ``overlap`` pixels and
  each tile's weight is zero over the outer quarter of the overlap and rises with a raised
  cosine over the middle half; the weighted sum is divided by the summed weight. This hides
  seams; it is exact only once ``overlap // 4`` reaches the receptive radius (4 radii).
  Measured for the transformers at 1000×1500 (``scripts/benchmark.py``, published widths
  with their default initialisation, 512-pixel tiles, overlap 64), tiled against the
  untiled forward: HDR-Transformer PSNR-μ 131.4 dB (max |Δ| 3.1e-6: its pooled context
  barely moves), SCTNet PSNR-μ 72.5 dB (max |Δ| 8.1e-3: its channel attention pools over the
  whole tile). Trained weights can differ; measure yours with ``reconstruct`` both ways.

Speed options (see ``scripts/benchmark.py`` for the measurements): inputs in channels-last
layout (oneDNN then skips the reorders to and from its blocked layout; default on the CPU),
and ``precision='bf16'`` autocast (AMX/AVX512-BF16 CPUs, or CUDA; ``'fp16'`` on CUDA only),
which changes outputs by about 1e-2 (see the benchmark's PSNR-μ report). Large forwards also
need :func:`selfhdr.engine.device.keep_freed_memory` (glibc): otherwise much of their time is
the kernel faulting in pages that ``free`` returned to it.
"""

from __future__ import annotations

import contextlib
import math
from typing import Dict, Iterator, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from .archs.padding import PadInfo, pad_to_multiple, unpad  # noqa: F401  (public here too)
from .errors import ConfigError

# Overlap used when a backbone declares no receptive_radius (e.g. windowed transformers,
# whose receptive field spans the whole tile): seams are blended, not removed exactly.
FALLBACK_OVERLAP = 64

AUTO = "auto"
DEFAULT_TILE = 512
"""Tile side of ``tile='auto'`` (the default) unless the model declares ``default_tile``: at
1000×1500 the benchmark measured AHDRNet 23.8 s / 1.65 GiB with 512-pixel exact tiles against
27.4 s / 2.07 GiB with 800 (``scripts/benchmark.py``), and the transformers stay under 2 GiB."""
Tile = Union[int, str, None]


def resolve_tile(model: nn.Module, tile: Tile) -> Optional[int]:
    """The tile side ``reconstruct`` uses: 'auto' → the model's ``default_tile`` or
    :data:`DEFAULT_TILE`; ``None`` or 0 → None (the whole image at once, the published path)."""
    if tile == AUTO:
        return int(getattr(model, "default_tile", DEFAULT_TILE))
    if tile is None or tile == 0:
        return None
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 0:
        raise ValueError(f"tile must be 'auto', None, 0 or a positive side, got {tile!r}")
    return tile


PRECISIONS = ("fp32", "bf16", "fp16")


def default_overlap(model: nn.Module, blend: bool = True) -> int:
    """Overlap that makes tiling exact for ``model``: 4 (blended) or 2 (cropped halos) ×
    its ``receptive_radius`` if declared, else :data:`FALLBACK_OVERLAP`."""
    radius = getattr(model, "receptive_radius", None)
    return FALLBACK_OVERLAP if radius is None else (4 if blend else 2) * int(radius)


def _crop_segments(length: int, tile: int, overlap: int, divisor: int) -> List[Tuple[int, int, int, int]]:
    """``(start, stop, keep_start, keep_stop)`` of each tile along one axis, exact stitching.

    The axis is cut into cores (kept) at evenly spread boundaries; each tile computes its core
    plus at least a halo of ``ceil(overlap / 2)`` pixels (rounded up to ``divisor``) on inner
    sides, and uses the fewest tiles whose computed side is at most ``tile``. Edge tiles need
    a halo on one side only, so they get bigger cores. Every tile computes exactly the same
    side (extra context changes nothing): identical tiles reuse the same kernels and the
    same heap blocks, so memory stops growing after the first tile. Everything is in units
    of ``divisor``, so tiles lie on the divisor grid.
    """
    units, tile_u = length // divisor, tile // divisor
    halo_u = -(-(-(-overlap // 2)) // divisor)
    if tile_u >= units:
        return [(0, length, 0, length)]
    if tile_u < 2 * halo_u + 1:
        raise ValueError(f"tile {tile} leaves no core inside halos of {halo_u * divisor} pixels")
    count = 2
    while True:
        # Interior cores c, edge cores c + halo: 2(c + halo) + (count - 2) c = units.
        core = (units - 2 * halo_u) / count
        cuts = [0] + [round(halo_u + i * core) for i in range(1, count)] + [units]
        cores = list(zip(cuts, cuts[1:]))
        side = max(min(units, b + halo_u) - max(0, a - halo_u) for a, b in cores)
        if all(b > a for a, b in cores) and side <= tile_u:
            starts = [max(0, min(a - halo_u, units - side)) for a, _ in cores]
            return [(s * divisor, (s + side) * divisor, a * divisor, b * divisor)
                    for s, (a, b) in zip(starts, cores)]
        count += 1


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


def _run_blended(
    model: nn.Module, frames: Tuple[Tensor, Tensor, Tensor], tile: int, overlap: int, divisor: int,
    prepare: "_Prepare",
) -> Tensor:
    """Blend overlapping tile outputs over frames already padded to a multiple of ``divisor``."""
    height, width = frames[0].shape[-2:]
    rows, tile_h = _tile_starts(height, tile, overlap, divisor)
    cols, tile_w = _tile_starts(width, tile, overlap, divisor)
    if len(rows) == len(cols) == 1:
        return model(*prepare(frames)).float()

    ref = frames[0]
    # One window per (inner-edge) pattern: at most nine, reused across tiles.
    windows: Dict[Tuple[bool, bool, bool, bool], Tensor] = {}
    out: Optional[Tensor] = None
    weight_sum = torch.zeros(height, width, dtype=torch.float32, device=ref.device)
    for top in rows:
        for left in cols:
            key = (top > 0, top + tile_h < height, left > 0, left + tile_w < width)
            if key not in windows:
                w_rows = _ramp(tile_h, overlap, key[0], key[1])
                w_cols = _ramp(tile_w, overlap, key[2], key[3])
                windows[key] = torch.outer(w_rows, w_cols).float().to(ref.device)
            window = windows[key]
            crop = (..., slice(top, top + tile_h), slice(left, left + tile_w))
            pred = model(*prepare(tuple(f[crop] for f in frames))).float()
            if out is None:
                out = pred.new_zeros(*pred.shape[:-2], height, width)
            out[crop] += pred * window
            weight_sum[crop] += window
    assert out is not None
    return out / weight_sum


def _run_cropped(
    model: nn.Module, frames: Tuple[Tensor, Tensor, Tensor], tile: int, overlap: int, divisor: int,
    prepare: "_Prepare",
) -> Tensor:
    """Stitch the cores of tiles computed with halos (see :func:`_crop_segments`)."""
    height, width = frames[0].shape[-2:]
    rows = _crop_segments(height, tile, overlap, divisor)
    cols = _crop_segments(width, tile, overlap, divisor)
    if len(rows) == len(cols) == 1:
        return model(*prepare(frames)).float()
    # Allocated before the first tile (backbones return B×3×H×W), so no long-lived block
    # lands in the middle of the heap the tiles' feature maps reuse.
    out = frames[0].new_empty(frames[0].shape[0], 3, height, width, dtype=torch.float32)
    for r0, r1, rk0, rk1 in rows:
        for c0, c1, ck0, ck1 in cols:
            pred = model(*prepare(tuple(f[..., r0:r1, c0:c1] for f in frames)))
            out[..., rk0:rk1, ck0:ck1] = pred[..., rk0 - r0 : rk1 - r0, ck0 - c0 : ck1 - c0]
            del pred
    return out


class _Prepare:
    """Puts a tile's frames in the memory layout the forward runs fastest with."""

    def __init__(self, channels_last: bool) -> None:
        self.channels_last = channels_last

    def __call__(self, frames: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
        if not self.channels_last:
            return frames
        return tuple(f.contiguous(memory_format=torch.channels_last) for f in frames)


@contextlib.contextmanager
def precision_context(precision: str, device: torch.device) -> Iterator[None]:
    """Autocast for ``precision`` ('fp32': none; 'bf16'; 'fp16' on CUDA only) on ``device``."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        yield
        return
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("precision 'fp16' needs CUDA; on the CPU use 'bf16' or 'fp32'")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    with torch.autocast(device.type, dtype=dtype):
        yield


def reconstruct(
    model: nn.Module,
    x1: Tensor,
    x2: Tensor,
    x3: Tensor,
    tile: Tile = AUTO,
    overlap: Optional[int] = None,
    *,
    blend: Optional[bool] = None,
    precision: str = "fp32",
    channels_last: Optional[bool] = None,
) -> Tensor:
    """Run a backbone on a full bracket at any size, in tiles when it is large; no autograd.

    ``tile`` is the largest computed tile side (rounded down to ``model.size_divisor``); the
    default 'auto' uses :data:`DEFAULT_TILE` (exact for the CNNs, so the default call is fast,
    memory-bounded and equal to the whole-image forward to float rounding; blended for the
    transformers, with the difference measured in the module docstring). ``None`` or 0 runs
    the whole image at once, the published path. An image no larger than a tile runs whole
    either way. ``blend`` picks the stitching (module docstring):
    default exact cropped halos when the model declares ``receptive_radius``, else blending.
    ``overlap`` defaults to :func:`default_overlap` (exact to float rounding for the CNNs).
    ``precision`` 'bf16'/'fp16' runs under autocast; ``channels_last`` (default: on the CPU)
    feeds the forward channels-last frames. Returns float32. Put ``model`` in eval mode first.
    """
    divisor = int(getattr(model, "size_divisor"))
    device = x1.device
    if blend is None:
        blend = getattr(model, "receptive_radius", None) is None
    if channels_last is None:
        channels_last = device.type == "cpu"
    tile = resolve_tile(model, tile)
    if tile is not None:
        overlap = default_overlap(model, blend) if overlap is None else overlap
        if overlap < 0:
            raise ValueError(f"overlap must be >= 0, got {overlap}")
        tile = tile // divisor * divisor
        # Tiles are placed on the divisor grid, so the overlap is effectively rounded up.
        if tile <= -(-overlap // divisor) * divisor:
            raise ValueError(
                f"tile ({tile} after rounding down to size_divisor {divisor}) must exceed "
                f"overlap ({overlap} rounded up to a multiple of {divisor})"
            )
    if device.type == "cpu":
        from .engine.device import keep_freed_memory

        keep_freed_memory()  # large feature maps reuse freed heap instead of faulting in pages
    prepare = _Prepare(channels_last)
    with torch.inference_mode(), precision_context(precision, device):
        padded = [pad_to_multiple(x, divisor) for x in (x1, x2, x3)]
        frames = (padded[0][0], padded[1][0], padded[2][0])
        if tile is None:
            y = model(*prepare(frames)).float()
        else:
            assert overlap is not None
            run = _run_blended if blend else _run_cropped
            y = run(model, frames, tile, overlap, divisor, prepare)
        # Callers get the usual contiguous NCHW layout whatever the forward used.
        return unpad(y, padded[0][1]).contiguous()
