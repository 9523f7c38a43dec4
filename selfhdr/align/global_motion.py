"""A global (camera) motion prior for dense flow: fit a homography, keep local flow only where it wins.

Dense flow is noisy where the image is dark, flat or clipped, exactly where the camera's own
motion (a homography for a distant scene or a rotating camera) is known precisely from the
rest of the frame. So a homography is fitted robustly (RANSAC) to the flow at textured,
well-exposed grid points; each pixel then takes the local flow only where it explains the
frame clearly better than the homography does (smaller blurred photometric residual), and
the homography elsewhere, with a soft transition.
"""

from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from .config import AlignConfig
from .warp import sample_coords

_GRID_POINTS = 80
"""Grid points along the longer side used for the fit."""
_MIN_POINTS = 20
_MIN_INLIERS = 0.3


def fit_homography(flow: np.ndarray, ref: np.ndarray, threshold: float = 1.0) -> Optional[np.ndarray]:
    """A 3×3 homography mapping reference pixels to ``x + flow(x)``, or None if none fits.

    Fitted with RANSAC (``threshold`` pixels) to grid points where ``ref`` (grey, [0, 1])
    is textured and neither dark nor clipped; None when too few points or inliers remain.
    """
    h, w = ref.shape
    step = max(4, max(h, w) // _GRID_POINTS)
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    smooth = cv2.GaussianBlur(ref, (0, 0), 1.0)
    grad = np.hypot(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1))[ys, xs]
    level = ref[ys, xs]
    keep = (level > 0.02) & (level < 0.95)
    if keep.sum() < _MIN_POINTS:
        return None
    keep &= grad >= np.percentile(grad[keep], 30)
    if keep.sum() < _MIN_POINTS:
        return None
    src = np.stack([xs[keep], ys[keep]], axis=-1).astype(np.float32)
    dst = src + flow[ys[keep], xs[keep]]
    hom, inliers = cv2.findHomography(src, dst, cv2.RANSAC, threshold, maxIters=2000, confidence=0.995)
    if hom is None or inliers is None or inliers.mean() < _MIN_INLIERS:
        return None
    return hom


def homography_flow(hom: np.ndarray, h: int, w: int) -> np.ndarray:
    """The H×W×2 flow field ``hom(x) − x`` of a homography."""
    m = [[float(v) for v in row] for row in hom]
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    inv_den = 1.0 / (m[2][0] * xs + (m[2][1] * ys + m[2][2]))
    flow = np.empty((h, w, 2), np.float32)
    flow[..., 0] = (m[0][0] * xs + (m[0][1] * ys + m[0][2])) * inv_den - xs
    flow[..., 1] = (m[1][0] * xs + (m[1][1] * ys + m[1][2])) * inv_den - ys
    return flow


def _residual(ref: np.ndarray, other: np.ndarray, flow: np.ndarray, sigma: float) -> np.ndarray:
    map_x, map_y = sample_coords(flow)
    warped = cv2.remap(other, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.GaussianBlur(cv2.absdiff(warped, ref), (0, 0), sigma)


def fuse_with_global(flow: np.ndarray, ref: np.ndarray, other: np.ndarray,
                     cfg: AlignConfig = AlignConfig()) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Blend ``flow`` (ref → other, on exposure-matched grey images) with a fitted homography.

    The local flow's share is ``clip((r_global − r_local − global_margin) / global_ramp)``
    from blurred photometric residuals. Returns the fused flow and that share (None, and the
    flow unchanged, when no homography fits).
    """
    h, w = ref.shape
    hom = fit_homography(flow, ref)
    if hom is None:
        return flow, None
    glob = homography_flow(hom, h, w)
    gain = _residual(ref, other, glob, cfg.global_sigma) - _residual(ref, other, flow, cfg.global_sigma)
    share = np.clip((gain - cfg.global_margin) / cfg.global_ramp, 0.0, 1.0).astype(np.float32)
    fused = glob + share[..., None] * (flow - glob)
    return fused, share
