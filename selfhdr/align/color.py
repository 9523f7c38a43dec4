"""Flow alignment of a bracket and the colour component Y_color of SelfHDR.

Alignment (what SelfHDR's MATLAB step does, after Kalantari et al. and FSHDR): for each
non-reference frame, the darker image of the pair (reference, frame) is raised to the
brighter one's exposure (:func:`selfhdr.camera.match_exposure`), flow is estimated from the
reference to the frame on those exposure-matched grey images, the frame is backward-warped
onto the reference, and pixels warped from outside the image take the reference re-exposed to
that frame's exposure time.

Y_color: the aligned frames merged in the linear domain with SelfHDR's triangle weights on
the reference LDR value. ``AlignConfig.merge`` chooses how:

- ``published`` (the SelfHDR download's labels): the triangle merge as it is, no rejection;
  pixels warped from outside count with the re-exposed reference that fills them.
- ``robust``: where an aligned frame disagrees with the reference (occlusions, flow failures)
  its weight goes to the reference. The comparison is made in the LDR domain of the brighter
  exposure of the pair, after a light blur, with an allowance for the noise measured at each
  brightness, and one-sided where the reference is clipped (the short frame is only wrong
  there if it is *darker* than the clip level). The resulting per-pixel masks are grown a
  little and feathered so flow errors along motion boundaries are covered too.

Both share the alignment and :func:`merge_color`; only the masks differ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..camera import ldr_to_hdr, match_exposure, triangle_weights
from ..data.scene import N_FRAMES, REFERENCE
from .config import AlignConfig
from .flow import FlowFn, build_flow, estimate_flow
from .global_motion import fuse_with_global
from .warp import backward_warp

_NOISE_BINS = 32
_NOISE_STRIDE = 2
_NOISE_MIN_SAMPLES = 64
_NOISE_QUANT = 1024
_NOISE_DMAX = 0.25


@dataclass
class AlignResult:
    """Frames warped onto the reference, with the flows and the filled-from-outside masks.

    Lists are in bracket order (short, reference, long); the reference's entries are the
    frame itself, a zero flow and an all-False mask.
    """

    aligned: List[np.ndarray]
    flows: List[np.ndarray]
    outside: List[np.ndarray]
    times: np.ndarray
    ref_matched: List[Optional[np.ndarray]]
    """The reference re-exposed to each longer frame's time (computed for flow), else None."""


@dataclass
class ColorResult:
    """Y_color and how it was made (everything H×W or H×W×3 float32, bracket order)."""

    hdr: np.ndarray
    """Y_color: linear RGB radiance aligned to the reference."""
    aligned: List[np.ndarray]
    """The aligned LDR frames (the reference unchanged)."""
    weights: List[np.ndarray]
    """Per-pixel, per-channel merge weights (H×W×3) actually used; they sum to 1."""
    masks: List[np.ndarray]
    """Per-pixel trust in each aligned frame in [0, 1] (H×W): 0 = rejected. Reference: 1;
    everywhere 1 with ``merge: published``."""
    flows: List[np.ndarray]
    outside: List[np.ndarray]
    seconds: float = 0.0


def _check_bracket(ldrs: Sequence[np.ndarray], times: Sequence[float]) -> np.ndarray:
    if len(ldrs) != N_FRAMES or len(times) != N_FRAMES:
        raise ValueError(f"expected {N_FRAMES} frames and exposure times, got {len(ldrs)} and {len(times)}")
    shape = ldrs[0].shape
    if len(shape) != 3 or shape[2] != 3:
        raise ValueError(f"frames must be H×W×3 RGB, got {shape}")
    if any(l.shape != shape for l in ldrs):
        raise ValueError(f"frames differ in size: {[l.shape for l in ldrs]}")
    t = np.asarray(times, dtype=np.float64)
    if not (np.all(np.isfinite(t)) and np.all(t > 0) and np.all(np.diff(t) > 0)):
        raise ValueError(f"exposure times must be positive and increasing, got {t.tolist()}")
    return t


def _grey(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(img, np.float32), cv2.COLOR_RGB2GRAY)


def _as_f32(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(img, dtype=np.float32)


def align_frames(ldrs: Sequence[np.ndarray], times: Sequence[float], cfg: AlignConfig = AlignConfig(),
                 estimator: Optional[FlowFn] = None) -> AlignResult:
    """Warp the non-reference frames onto the reference (frame 2) with optical flow.

    ``ldrs``: three float32 H×W×3 RGB frames in [0, 1], shortest exposure first (as
    :func:`selfhdr.data.read_scene` gives them); ``times``: their exposure times.
    """
    t = _check_bracket(ldrs, times)
    fn = estimator if estimator is not None else build_flow(cfg)
    ref = _as_f32(ldrs[REFERENCE])
    tr = float(t[REFERENCE])
    h, w = ref.shape[:2]
    aligned: List[np.ndarray] = []
    flows: List[np.ndarray] = []
    outside: List[np.ndarray] = []
    ref_matched: List[Optional[np.ndarray]] = []
    ref_grey = _grey(ref)
    for k in range(N_FRAMES):
        if k == REFERENCE:
            aligned.append(ref)
            flows.append(np.zeros((h, w, 2), np.float32))
            outside.append(np.zeros((h, w), bool))
            ref_matched.append(None)
            continue
        frame, tk = _as_f32(ldrs[k]), float(t[k])
        # Both flow inputs live at the brighter exposure: the darker image is raised, per
        # channel (so that channels clip exactly as the brighter frame's own do).
        up = None
        if tk < tr:
            pair = (ref_grey, _grey(match_exposure(frame, tk, tr)))
        else:
            up = _as_f32(match_exposure(ref, tr, tk))
            pair = (_grey(up), _grey(frame))
        flow = estimate_flow(pair[0], pair[1], cfg, estimator=fn)
        if cfg.global_motion:
            flow = fuse_with_global(flow, pair[0], pair[1], cfg)[0]
        warped, out = backward_warp(frame, flow, None, cfg.warp_interp)
        if out.any():
            # Warped from outside: the reference re-exposed to this frame's exposure time.
            warped[out] = up[out] if up is not None else match_exposure(ref[out], tr, tk)
        aligned.append(warped)
        flows.append(flow)
        outside.append(out)
        ref_matched.append(up)
    return AlignResult(aligned, flows, outside, t, ref_matched)


def noise_profile(diff: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Robust σ of ``diff`` as a function of ``level`` ∈ [0, 1]: a 256-entry lookup table.

    Estimated from a pixel subsample as 1.4826 × the median absolute difference in brightness
    bins (moving objects are a minority of each bin, so they barely move the median); bins
    with too few samples are interpolated from their neighbours. Medians come from a 2-D
    histogram, so the cost is one ``bincount``.
    """
    s = _NOISE_STRIDE
    d = np.abs(diff[::s, ::s]).reshape(-1)
    lv = level[::s, ::s].reshape(-1)
    idx = np.clip((lv * _NOISE_BINS).astype(np.int32), 0, _NOISE_BINS - 1)
    q = np.minimum((d * (_NOISE_QUANT / _NOISE_DMAX)).astype(np.int32), _NOISE_QUANT - 1)
    hist = np.bincount(idx * _NOISE_QUANT + q, minlength=_NOISE_BINS * _NOISE_QUANT)
    hist = hist.reshape(_NOISE_BINS, _NOISE_QUANT)
    counts = hist.sum(axis=1)
    ok = counts >= _NOISE_MIN_SAMPLES
    if not ok.any():
        return np.zeros(256, np.float32)
    cum = np.cumsum(hist[ok], axis=1)
    med_q = (cum < (counts[ok] / 2.0)[:, None]).sum(axis=1)
    sigma = 1.4826 * (med_q + 0.5) * (_NOISE_DMAX / _NOISE_QUANT)
    centres = (np.arange(_NOISE_BINS) + 0.5) / _NOISE_BINS
    return np.interp((np.arange(256) + 0.5) / 256, centres[ok], sigma).astype(np.float32)


def _lookup(lut: np.ndarray, level: np.ndarray) -> np.ndarray:
    # convertScaleAbs rounds and saturates to uint8 in one pass; level is never negative.
    return cv2.LUT(cv2.convertScaleAbs(level, alpha=255.0), lut.reshape(1, 256))


def _max_channel(img: np.ndarray) -> np.ndarray:
    """Per-pixel maximum over the channels of an H×W×3 float32 image (H×W)."""
    h, w = img.shape[:2]
    return cv2.reduce(img.reshape(h * w, 3), 1, cv2.REDUCE_MAX).reshape(h, w)


def consistency_mask(aligned: np.ndarray, t_frame: float, ref: np.ndarray, t_ref: float,
                     cfg: AlignConfig = AlignConfig(), outside: Optional[np.ndarray] = None,
                     ref_matched: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-pixel trust in [0, 1] of an aligned frame against the reference (H×W float32).

    Both are compared in the LDR domain of the brighter exposure (the darker one raised and
    clipped, as for flow), blurred by ``compare_sigma``; the excess of the largest channel
    difference over ``noise_k`` × the noise σ measured at that brightness maps to a ramp from
    ``reject_lo`` (trusted) to ``reject_hi`` (rejected). Where the reference is clipped
    (≥ ``short_clip_level``) a shorter frame is only penalised for being darker than it.
    ``ref_matched`` may pass the reference already re-exposed to a longer frame's time.
    """
    tb = max(t_frame, t_ref)
    a = _as_f32(aligned if t_frame == tb else match_exposure(aligned, t_frame, tb))
    if t_ref == tb:
        b = ref
    else:
        b = _as_f32(ref_matched if ref_matched is not None else match_exposure(ref, t_ref, tb))
    if cfg.compare_sigma > 0:
        a = cv2.GaussianBlur(a, (0, 0), cfg.compare_sigma)
        b = cv2.GaussianBlur(b, (0, 0), cfg.compare_sigma)
    diff = cv2.subtract(a, b)
    err = cv2.absdiff(a, b)
    clipped = None
    if t_frame < t_ref:
        clipped_ch = ref >= cfg.short_clip_level
        np.maximum(-diff, 0.0, out=err, where=clipped_ch)
        clipped = _max_channel(ref) >= cfg.short_clip_level
    if cfg.noise_k > 0:
        err = cv2.scaleAdd(_lookup(noise_profile(diff, b), b), -cfg.noise_k, err)
    excess = _max_channel(err)
    scale = 1.0 / (cfg.reject_hi - cfg.reject_lo)
    raw = 1.0 - np.clip((excess - cfg.reject_lo) * scale, 0.0, 1.0, dtype=np.float32)
    # Rejections grow and soften to cover flow errors along their edges, but not into
    # pixels where the reference is clipped: there only the short frame knows the truth, so
    # it is dropped only where it is itself darker than the clip level.
    trust = raw if clipped is None else np.where(clipped, np.float32(1.0), raw)
    r = cfg.mask_dilate
    if r > 0:
        trust = cv2.erode(trust, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    if cfg.mask_feather > 0:
        trust = cv2.GaussianBlur(trust, (0, 0), cfg.mask_feather)
    if clipped is not None:
        trust = np.where(clipped, raw, trust)
    if outside is not None:
        trust[outside] = 0.0
    return trust


def merge_color(aligned: Sequence[np.ndarray], times: Sequence[float],
                masks: Optional[Sequence[np.ndarray]] = None,
                clip_level: Optional[float] = None) -> Tuple[np.ndarray, List[np.ndarray]]:
    """Triangle-weight merge of aligned frames; with ``masks``, rejected weight goes to the reference.

    Without ``masks`` the weights are the triangle weights themselves (SelfHDR's published
    merge). With ``clip_level``, channels where the reference is clipped (≥ ``clip_level``)
    are raised to at least the reference's own linear value: the truth there is at least that.
    Returns the linear HDR and the three per-channel weight maps actually used.
    """
    ref = aligned[REFERENCE]
    weights = list(triangle_weights(ref))
    if masks is not None:
        rest = np.ones_like(ref)
        for k in range(N_FRAMES):
            if k != REFERENCE:
                weights[k] = cv2.multiply(weights[k], cv2.merge([masks[k]] * 3))
                rest -= weights[k]
        weights[REFERENCE] = rest
    hdr = np.zeros_like(ref)
    for k in range(N_FRAMES):
        if k != REFERENCE:
            hdr += weights[k] * _linear(aligned[k], times[k])
    ref_linear = _linear(ref, times[REFERENCE])
    hdr += weights[REFERENCE] * ref_linear
    if clip_level is not None:
        np.maximum(hdr, ref_linear, out=hdr, where=ref >= clip_level)
    return hdr, weights


def _linear(ldr: np.ndarray, t: float) -> np.ndarray:
    return _as_f32(ldr_to_hdr(ldr, float(t)))


def compute_color(ldrs: Sequence[np.ndarray], times: Sequence[float], cfg: AlignConfig = AlignConfig(),
                  estimator: Optional[FlowFn] = None) -> ColorResult:
    """Y_color of a bracket: flow-align, reject inconsistent pixels (``robust``), triangle-merge."""
    start = time.perf_counter()
    al = align_frames(ldrs, times, cfg, estimator)
    ref, tr = al.aligned[REFERENCE], float(al.times[REFERENCE])
    ones = np.ones(ref.shape[:2], np.float32)
    if cfg.merge == "published":
        hdr, weights = merge_color(al.aligned, al.times)
        masks = [ones] * N_FRAMES
    else:
        masks = [ones if k == REFERENCE else
                 consistency_mask(al.aligned[k], float(al.times[k]), ref, tr, cfg, al.outside[k], al.ref_matched[k])
                 for k in range(N_FRAMES)]
        hdr, weights = merge_color(al.aligned, al.times, masks, cfg.short_clip_level)
    return ColorResult(hdr, al.aligned, weights, masks, al.flows, al.outside, time.perf_counter() - start)
