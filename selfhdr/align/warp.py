"""Backward warping with ``cv2.remap``, flagging pixels whose source lies outside the frame."""

from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

INTERPOLATIONS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}


def sample_coords(flow: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Absolute source coordinates ``(x + flow_x, y + flow_y)`` as two float32 maps."""
    h, w = flow.shape[:2]
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    return flow[..., 0] + xs, flow[..., 1] + ys


def outside_mask(map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """True where the sampled position falls outside the frame (by more than half a pixel)."""
    h, w = map_x.shape
    return (map_x < -0.5) | (map_x > w - 0.5) | (map_y < -0.5) | (map_y > h - 0.5)


def backward_warp(img: np.ndarray, flow: np.ndarray, fill: Optional[np.ndarray],
                  interp: str = "linear") -> Tuple[np.ndarray, np.ndarray]:
    """Pull ``img`` onto the reference grid: ``out(x) = img(x + flow(x))``.

    ``interp`` is ``linear``, ``cubic`` or ``lanczos`` (the last two are clipped to [0, 1]).
    Pixels whose source lies outside ``img`` take the value of ``fill`` (same shape as
    ``img``; SelfHDR uses the reference re-exposed to ``img``'s exposure time), or keep the
    nearest edge pixel when ``fill`` is None so the caller can fill them. Returns the warped
    image and the boolean H×W mask of those pixels.
    """
    if img.shape[:2] != flow.shape[:2] or (fill is not None and fill.shape != img.shape):
        got = None if fill is None else fill.shape
        raise ValueError(f"backward_warp: image {img.shape}, flow {flow.shape} and fill {got} disagree")
    if interp not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {interp!r}; choose one of {', '.join(INTERPOLATIONS)}")
    map_x, map_y = sample_coords(flow)
    warped = cv2.remap(img, map_x, map_y, interpolation=INTERPOLATIONS[interp],
                       borderMode=cv2.BORDER_REPLICATE)
    if interp != "linear":
        np.clip(warped, 0.0, 1.0, out=warped)
    outside = outside_mask(map_x, map_y)
    if fill is not None and outside.any():
        warped[outside] = fill[outside]
    return warped, outside
