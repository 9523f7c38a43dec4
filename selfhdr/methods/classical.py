"""Classical, training-free HDR baselines: the reference frame alone and the unaligned merge."""

from __future__ import annotations

from typing import Callable, Dict

import numpy as np

from ..camera import ldr_to_hdr, triangle_merge
from ..data.scene import REFERENCE, Scene


def reference_alone(scene: Scene) -> np.ndarray:
    """The reference LDR frame, linearised: ``LDR2**2.2 / t2``."""
    return ldr_to_hdr(scene.ldrs[REFERENCE], float(scene.times[REFERENCE])).astype(np.float32)


def unaligned_merge(scene: Scene) -> np.ndarray:
    """Triangle-weight merge of the three frames as they are (no alignment)."""
    linears = [ldr_to_hdr(l, float(t)) for l, t in zip(scene.ldrs, scene.times)]
    return triangle_merge(linears, scene.ldrs[REFERENCE]).astype(np.float32)


BASELINES: Dict[str, Callable[[Scene], np.ndarray]] = {
    "reference alone": reference_alone,
    "unaligned merge": unaligned_merge,
}
"""Name → function of a scene giving a linear HDR estimate aligned to the reference."""
