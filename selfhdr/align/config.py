"""Settings of flow alignment and of the colour component Y_color (``Config.align``).

Defaults are the values measured best on synthetic scenes with ground truth (see
``scripts/evaluate_color.py``); every threshold of the rejection test is a field here, and
``merge`` chooses between the published SelfHDR merge and ours with that test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

DIS_PRESETS = ("ultrafast", "fast", "medium")
MERGES = ("published", "robust")


@dataclass
class AlignConfig:
    """Flow estimation, warping and the merge that makes Y_color."""

    # ------------------------------------------------------------------ flow
    flow: str = "dis"
    """Registered flow estimator: ``dis`` (default), ``farneback``, ``raft_small``, ``raft_large``."""
    flow_scale: float = 1.0
    """Estimate flow on frames resized by this factor (≤ 1) and upsample it: faster, coarser."""
    flow_prefilter_sigma: float = 0.0
    """Gaussian σ (pixels at flow scale) applied to both flow inputs; tames the noise of the
    raised darker frame. 0 disables."""
    dis_preset: Literal["ultrafast", "fast", "medium"] = "fast"
    dis_finest_scale: Optional[int] = 1
    """DIS pyramid level where refinement stops (0 = full resolution); None keeps the preset's."""
    dis_patch_size: Optional[int] = None
    dis_patch_stride: Optional[int] = None
    dis_gd_iterations: Optional[int] = None
    """Gradient-descent iterations per patch; None keeps the preset's."""
    dis_var_iterations: Optional[int] = 10
    """Variational refinement iterations per scale (0 disables it); None keeps the preset's."""
    dis_var_alpha: Optional[float] = 40.0
    """Smoothness weight of the variational refinement; None keeps OpenCV's 20."""
    global_motion: bool = True
    """Fit a homography (camera motion) to the flow and use it wherever the local flow does
    not explain the frame clearly better (see :mod:`selfhdr.align.global_motion`)."""
    global_margin: float = -0.005
    """Blurred grey residual advantage (local over global) at which the local flow's share
    starts to rise from 0; negative gives the local flow a head start, so where neither
    explains the frame better (flat or dark areas) the two are blended."""
    global_ramp: float = 0.01
    """Further advantage over which the local flow's share rises from 0 to 1."""
    global_sigma: float = 3.0
    """Gaussian σ (pixels) of the residual blur in that comparison."""
    farneback_levels: int = 5
    farneback_winsize: int = 21
    farneback_iterations: int = 3
    raft_weights: Optional[str] = None
    """Local ``.pth`` of torchvision RAFT weights (required for ``raft_*``; never downloaded)."""
    raft_iters: int = 12
    """RAFT recurrent refinement steps."""
    warp_interp: Literal["linear", "cubic", "lanczos"] = "cubic"
    """Interpolation of ``cv2.remap`` when warping (cubic keeps more texture, costs a little)."""

    # ------------------------------------------------------------------ merge
    merge: Literal["published", "robust"] = "robust"
    """How the aligned frames make Y_color. ``published``: SelfHDR's labels, the triangle-weight
    merge with no rejection (out-of-image pixels count with their re-exposed-reference fill);
    the rejection settings below are then unused. ``robust``: the same merge after the
    rejection test below hands the weight of frames that disagree with the reference to it."""

    # ------------------------------------------------------------------ rejection test (robust)
    compare_sigma: float = 0.75
    """Gaussian σ (pixels) applied to both images before comparing them, so single noisy
    pixels cannot reject a frame."""
    noise_k: float = 4.0
    """A difference below ``noise_k`` × the estimated noise σ at that brightness never rejects."""
    reject_lo: float = 0.01
    """Difference (brighter exposure's LDR domain, above the noise allowance) where the
    rejection ramp starts: below it the aligned frame is fully trusted."""
    reject_hi: float = 0.05
    """Difference where the aligned frame is fully rejected (the reference is used instead)."""
    short_clip_level: float = 0.97
    """Reference LDR value above which it counts as clipped; there the short frame is only
    rejected when it is darker than the reference (its truth is at least the clip level)."""
    mask_dilate: int = 2
    """Radius (pixels) by which rejected regions grow, covering flow errors at their edges."""
    mask_feather: float = 1.0
    """Gaussian σ (pixels) that softens the mask edges (0 for hard masks)."""

    def validate(self) -> None:
        """Raise ValueError on settings that cannot work."""
        from .flow import FLOW_ESTIMATORS  # late: flow.py imports this module

        if self.flow not in FLOW_ESTIMATORS:
            names = ", ".join(sorted(FLOW_ESTIMATORS))
            raise ValueError(f"flow = {self.flow!r} is not a registered estimator; choose one of {names}")
        if not (0.0 < self.flow_scale <= 1.0):
            raise ValueError(f"flow_scale must be in (0, 1], got {self.flow_scale}")
        if self.flow_prefilter_sigma < 0 or self.compare_sigma < 0 or self.mask_feather < 0:
            raise ValueError("flow_prefilter_sigma, compare_sigma and mask_feather must be ≥ 0")
        if self.global_ramp <= 0 or self.global_sigma <= 0:
            raise ValueError("need global_ramp > 0 and global_sigma > 0")
        if self.merge not in MERGES:
            raise ValueError(f"merge must be one of {MERGES}, got {self.merge!r}")
        if self.dis_preset not in DIS_PRESETS:
            raise ValueError(f"dis_preset must be one of {DIS_PRESETS}, got {self.dis_preset!r}")
        if not (0.0 <= self.reject_lo < self.reject_hi):
            raise ValueError(f"need 0 ≤ reject_lo < reject_hi, got {self.reject_lo}, {self.reject_hi}")
        if self.noise_k < 0:
            raise ValueError(f"noise_k must be ≥ 0, got {self.noise_k}")
        if not (0.0 < self.short_clip_level <= 1.0):
            raise ValueError(f"short_clip_level must be in (0, 1], got {self.short_clip_level}")
        if self.mask_dilate < 0:
            raise ValueError(f"mask_dilate must be ≥ 0, got {self.mask_dilate}")
        if self.raft_iters < 1 or self.farneback_levels < 1 or self.farneback_iterations < 1:
            raise ValueError("raft_iters, farneback_levels and farneback_iterations must be ≥ 1")
        if self.farneback_winsize < 3:
            raise ValueError(f"farneback_winsize must be ≥ 3, got {self.farneback_winsize}")
