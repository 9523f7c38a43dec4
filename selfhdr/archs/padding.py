"""The one padding helper: pad images to a multiple of a network's size divisor and crop back.

Two placement rules share one implementation:

* ``"published"`` (test-time reconstruction, :mod:`selfhdr.inference`): the published
  SelfHDR ``test.py`` reflection-pads the transformer inputs by ``divisor - size % divisor``
  per axis (a full divisor even when the size is already a multiple), split as evenly as
  possible with the extra pixel on the right/bottom. Our numbers stay comparable with the
  paper's only under this exact rule. Reflection cannot reach further than the image, so an
  image too small for it is an error.
* ``"minimal"`` (networks of our own, e.g. the fusion network): the fewest pixels that reach
  a multiple, all on the right/bottom; reflection, or edge replication when the image is too
  small to reflect.

Divisor 1 pads nothing under either rule.
"""

from __future__ import annotations

from typing import NamedTuple, Tuple

import torch.nn.functional as F
from torch import Tensor

RULES = ("published", "minimal")


class PadInfo(NamedTuple):
    """Where the original image sits inside a padded one: offsets and original size."""

    top: int
    left: int
    height: int
    width: int


def _pad_amounts(size: int, divisor: int, rule: str) -> Tuple[int, int]:
    """(before, after) padding of one axis of ``size`` pixels."""
    if divisor == 1:
        return 0, 0
    if rule == "minimal":
        return 0, (-size) % divisor
    total = divisor - size % divisor  # a full divisor when size is already a multiple
    return total // 2, total - total // 2


def pad_to_multiple(x: Tensor, divisor: int, rule: str = "published") -> Tuple[Tensor, PadInfo]:
    """Pad the last two dims of ``x`` to a multiple of ``divisor`` under ``rule`` (module doc)."""
    if not isinstance(divisor, int) or divisor < 1:
        raise ValueError(f"divisor must be an integer >= 1, got {divisor!r}")
    if rule not in RULES:
        raise ValueError(f"padding rule must be one of {', '.join(RULES)}, got {rule!r}")
    height, width = x.shape[-2:]
    top, bottom = _pad_amounts(height, divisor, rule)
    left, right = _pad_amounts(width, divisor, rule)
    info = PadInfo(top, left, height, width)
    if top == bottom == left == right == 0:
        return x, info
    mode = "reflect"
    if max(top, bottom) >= height or max(left, right) >= width:
        if rule == "published":
            raise ValueError(
                f"a {height}×{width} image is too small to reflection-pad to a multiple of {divisor}"
            )
        mode = "replicate"
    return F.pad(x, (left, right, top, bottom), mode=mode), info


def unpad(y: Tensor, info: PadInfo) -> Tensor:
    """Crop a padded output back to the original image (inverse of :func:`pad_to_multiple`)."""
    return y[..., info.top : info.top + info.height, info.left : info.left + info.width]
