"""Alignment: optical flow between exposures and the colour component Y_color."""

from .color import AlignResult, ColorResult, align_frames, compute_color, consistency_mask, merge_color
from .config import AlignConfig
from .benchmark import benchmark_color
from .flow import FLOW_ESTIMATORS, build_flow, estimate_flow, flow_names, register_flow
from .prepare import PrepareSummary, align_dir, prepare_color
from .warp import backward_warp

__all__ = [
    "FLOW_ESTIMATORS",
    "AlignConfig",
    "AlignResult",
    "ColorResult",
    "PrepareSummary",
    "align_dir",
    "align_frames",
    "backward_warp",
    "benchmark_color",
    "build_flow",
    "compute_color",
    "consistency_mask",
    "estimate_flow",
    "flow_names",
    "merge_color",
    "prepare_color",
    "register_flow",
]
