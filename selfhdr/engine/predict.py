"""Running a trained backbone on brackets in memory: tensors in, RGB radiance out."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..camera import frame_input
from ..inference import reconstruct

_BGR_IN = [2, 1, 0, 5, 4, 3]


def bracket_tensors(ldrs: Sequence[np.ndarray], times: Sequence[float],
                    device: torch.device = torch.device("cpu")) -> Tuple[torch.Tensor, ...]:
    """Three 1×6×H×W frames ``[LDR**2.2 / t, LDR]`` from float32 RGB frames and exposure times."""
    return tuple(
        torch.from_numpy(np.ascontiguousarray(frame_input(l, float(t)).transpose(2, 0, 1)))[None].to(device)
        for l, t in zip(ldrs, times)
    )


def predict_hdr(model: nn.Module, ldrs: Sequence[np.ndarray], times: Sequence[float], *,
                tile: Optional[int] = None, overlap: Optional[int] = None, bgr: bool = False,
                device: Optional[torch.device] = None, precision: str = "fp32") -> np.ndarray:
    """Reconstruct the reference-aligned HDR image (float32 H×W×3 RGB) of one bracket.

    ``bgr`` feeds the network B, G, R frames and reads its output as B, G, R: the released
    SelfHDR checkpoints were trained that way (the published loader reads frames with
    OpenCV and swaps its labels to BGR too). ``tile``, ``overlap`` and ``precision``
    ('fp32', 'bf16', or 'fp16' on CUDA) are passed to :func:`selfhdr.inference.reconstruct`.
    """
    dev = device or next(model.parameters()).device
    xs = bracket_tensors(ldrs, times, dev)
    if bgr:
        xs = tuple(x[:, _BGR_IN] for x in xs)
    y = reconstruct(model, *xs, tile=tile, overlap=overlap, precision=precision)
    if bgr:
        y = y[:, [2, 1, 0]]
    return y[0].permute(1, 2, 0).float().cpu().numpy()
