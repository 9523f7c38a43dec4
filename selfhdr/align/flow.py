"""Optical flow between two exposure-matched single-channel images, behind one registry.

Every estimator has the signature ``(ref, other) -> H×W×2 float32`` on float32 images in
[0, 1] and returns the flow *from* ``ref`` *to* ``other``: ``ref(x) ≈ other(x + flow(x))``,
``flow[..., 0]`` along x (columns), ``flow[..., 1]`` along y. That is the field
:func:`selfhdr.align.warp.backward_warp` needs to pull ``other`` onto ``ref``.

Estimators are built from an :class:`AlignConfig` by name (``FLOW_ESTIMATORS``): OpenCV DIS
(default) and Farneback, and torchvision RAFT when the config gives a local weights file.
Nothing is downloaded, and nothing heavy happens at import time.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Dict, List

import cv2
import numpy as np

from ..errors import ConfigError
from .config import AlignConfig

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(ref, other) -> H×W×2 float32`` flow from ``ref`` to ``other``."""

FLOW_ESTIMATORS: Dict[str, Callable[[AlignConfig], FlowFn]] = {}
"""Name → factory building an estimator from the config."""

_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_RAFT_FILES = {
    "raft_small": "raft_small_C_T_V2-01064c6d.pth",
    "raft_large": "raft_large_C_T_SKHT_V2-ff5fadd5.pth",
}


def register_flow(name: str) -> Callable[[Callable[[AlignConfig], FlowFn]], Callable[[AlignConfig], FlowFn]]:
    """Decorator registering a flow-estimator factory under ``name``."""

    def deco(factory: Callable[[AlignConfig], FlowFn]) -> Callable[[AlignConfig], FlowFn]:
        if name in FLOW_ESTIMATORS:
            raise ValueError(f"flow estimator {name!r} is already registered")
        FLOW_ESTIMATORS[name] = factory
        return factory

    return deco


def flow_names() -> List[str]:
    """Names of the registered flow estimators."""
    return sorted(FLOW_ESTIMATORS)


def build_flow(cfg: AlignConfig) -> FlowFn:
    """The estimator named by ``cfg.flow`` (ConfigError naming ``align.flow`` if unknown)."""
    factory = FLOW_ESTIMATORS.get(cfg.flow)
    if factory is None:
        names = ", ".join(flow_names())
        raise ConfigError(f"align.flow: unknown flow estimator {cfg.flow!r}; choose one of {names}")
    return factory(cfg)


def estimate_flow(ref: np.ndarray, other: np.ndarray, cfg: AlignConfig = AlignConfig(),
                  estimator: FlowFn | None = None) -> np.ndarray:
    """Flow from ``ref`` to ``other`` (H×W single-channel float images in [0, 1]), H×W×2 float32.

    Applies the config's resolution scale and prefilter around the estimator, so
    every estimator sees the same inputs; the flow is returned at full resolution.
    """
    if ref.shape != other.shape or ref.ndim != 2:
        raise ValueError(f"estimate_flow needs two H×W images of one size, got {ref.shape}, {other.shape}")
    fn = estimator if estimator is not None else build_flow(cfg)
    h, w = ref.shape
    a, b = ref, other
    if cfg.flow_scale < 1.0:
        size = (max(8, round(w * cfg.flow_scale)), max(8, round(h * cfg.flow_scale)))
        a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
        b = cv2.resize(b, size, interpolation=cv2.INTER_AREA)
    if cfg.flow_prefilter_sigma > 0:
        a = cv2.GaussianBlur(a, (0, 0), cfg.flow_prefilter_sigma)
        b = cv2.GaussianBlur(b, (0, 0), cfg.flow_prefilter_sigma)
    flow = fn(np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32))
    if flow.shape[:2] != (h, w):
        sy, sx = h / flow.shape[0], w / flow.shape[1]
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= sx
        flow[..., 1] *= sy
    return flow.astype(np.float32, copy=False)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    # Rounds and saturates in one pass (inputs are never negative).
    return cv2.convertScaleAbs(img, alpha=255.0)


@register_flow("dis")
def _dis(cfg: AlignConfig) -> FlowFn:
    """OpenCV's Dense Inverse Search (Kroeger et al. 2016) with the configured preset."""

    def run(ref: np.ndarray, other: np.ndarray) -> np.ndarray:
        dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[cfg.dis_preset])
        if cfg.dis_finest_scale is not None:
            dis.setFinestScale(cfg.dis_finest_scale)
        if cfg.dis_patch_size is not None:
            dis.setPatchSize(cfg.dis_patch_size)
        if cfg.dis_patch_stride is not None:
            dis.setPatchStride(cfg.dis_patch_stride)
        if cfg.dis_gd_iterations is not None:
            dis.setGradientDescentIterations(cfg.dis_gd_iterations)
        if cfg.dis_var_iterations is not None:
            dis.setVariationalRefinementIterations(cfg.dis_var_iterations)
        if cfg.dis_var_alpha is not None:
            dis.setVariationalRefinementAlpha(cfg.dis_var_alpha)
        return dis.calc(_to_uint8(ref), _to_uint8(other), None)

    return run


@register_flow("farneback")
def _farneback(cfg: AlignConfig) -> FlowFn:
    """OpenCV's Farneback polynomial-expansion flow (slower and blurrier than DIS)."""

    def run(ref: np.ndarray, other: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(
            _to_uint8(ref), _to_uint8(other), None, pyr_scale=0.5, levels=cfg.farneback_levels,
            winsize=cfg.farneback_winsize, iterations=cfg.farneback_iterations, poly_n=7,
            poly_sigma=1.5, flags=cv2.OPTFLOW_FARNEBACK_GAUSSIAN,
        )

    return run


def _raft(name: str) -> Callable[[AlignConfig], FlowFn]:
    def factory(cfg: AlignConfig) -> FlowFn:
        model = _load_raft(name, _raft_weights_path(name, cfg))

        def run(ref: np.ndarray, other: np.ndarray) -> np.ndarray:
            return _run_raft(model, ref, other, cfg.raft_iters)

        return run

    factory.__doc__ = f"torchvision {name} loaded from ``align.raft_weights`` (never downloaded)."
    return factory


register_flow("raft_small")(_raft("raft_small"))
register_flow("raft_large")(_raft("raft_large"))


def _raft_weights_path(name: str, cfg: AlignConfig) -> Path:
    if not cfg.raft_weights:
        raise ConfigError(
            f"align.raft_weights: flow {name!r} needs a local weights file and none is set. Download "
            f"torchvision's {_RAFT_FILES[name]} (https://download.pytorch.org/models/{_RAFT_FILES[name]}) "
            f"on a machine with internet, copy it here (e.g. pretrained/{_RAFT_FILES[name]}) and set "
            f"align.raft_weights=pretrained/{_RAFT_FILES[name]}; or use align.flow=dis"
        )
    path = Path(cfg.raft_weights).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"align.raft_weights: {path} is not a file; put torchvision's {_RAFT_FILES[name]} there "
            f"or point align.raft_weights at it"
        )
    return path


@functools.lru_cache(maxsize=2)
def _load_raft(name: str, path: Path) -> "object":
    import torch
    from torchvision.models import optical_flow

    model = getattr(optical_flow, name)(weights=None, progress=False)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        model.load_state_dict(state)
    except Exception as exc:  # torch raises many types for a wrong or damaged file
        raise ConfigError(f"align.raft_weights: {path} is not a {name} state_dict ({exc})") from None
    return model.eval()


def _run_raft(model: "object", ref: np.ndarray, other: np.ndarray, iters: int) -> np.ndarray:
    import torch

    h, w = ref.shape
    # RAFT needs sides divisible by 8 and at least 128 (its correlation pyramid): pad.
    ph, pw = max(128, -(-h // 8) * 8) - h, max(128, -(-w // 8) * 8) - w

    def prep(img: np.ndarray) -> "torch.Tensor":
        padded = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
        x = torch.from_numpy(np.ascontiguousarray(padded, np.float32))
        return (x * 2 - 1)[None, None].expand(1, 3, h + ph, w + pw).contiguous()

    with torch.inference_mode():
        flows = model(prep(ref), prep(other), num_flow_updates=iters)  # type: ignore[operator]
    return flows[-1][0, :, :h, :w].permute(1, 2, 0).numpy().astype(np.float32)
