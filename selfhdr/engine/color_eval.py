"""How good Y_color is: scores against ground truth next to the classical baselines.

It drives :mod:`selfhdr.engine.evaluate` and the baselines of
:mod:`selfhdr.methods.classical`, so it lives in the engine layer, above ``selfhdr.align``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Dict, Mapping, Optional, Union

import numpy as np

from ..data.scene import Scene
from ..align.color import compute_color
from ..align.config import AlignConfig
from ..align.flow import build_flow
from ..methods.classical import BASELINES
from .evaluate import evaluate_predictor

PathLike = Union[str, "os.PathLike[str]"]

NO_REJECTION = dict(noise_k=0.0, reject_lo=1e3, reject_hi=2e3, mask_dilate=0, mask_feather=0.0)
"""Overrides that turn the rejection test off: the plain flow-aligned triangle merge."""


def plain_merge_config(cfg: AlignConfig) -> AlignConfig:
    """``cfg`` with the rejection test disabled (the ablation 'aligned merge, no rejection')."""
    return dataclasses.replace(cfg, **NO_REJECTION)


def color_predictor(cfg: AlignConfig):  # noqa: ANN201 - a Scene → ndarray callable
    """A predictor for :func:`evaluate_predictor`: Y_color of a scene under ``cfg``."""

    def predict(scene: Scene) -> np.ndarray:
        return compute_color(scene.ldrs, scene.times, cfg).hdr

    return predict


def evaluate_color(split_dir: PathLike, variants: Mapping[str, AlignConfig], baselines: bool = True,
                   out_dir: Optional[PathLike] = None, progress: bool = True) -> Dict[str, Dict]:
    """Score the classical baselines and Y_color under each named config on a test split.

    Returns ``{row name: {"scenes": ..., "mean": ...}}`` (see :func:`evaluate_predictor`);
    with ``out_dir`` each row's predictions and metrics go to ``out_dir/<row>/``.
    """
    for cfg in variants.values():
        build_flow(cfg)  # a misconfigured estimator (RAFT without weights) fails before any work
    rows: Dict[str, Dict] = {}
    jobs = dict(BASELINES) if baselines else {}
    jobs.update({name: color_predictor(cfg) for name, cfg in variants.items()})
    for name, fn in jobs.items():
        sub = None if out_dir is None else Path(out_dir) / _slug(name)
        rows[name] = evaluate_predictor(split_dir, fn, sub, desc=name, progress=progress)
    return rows


def _slug(name: str) -> str:
    keep = [c if c.isalnum() or c in "-_." else "_" for c in name]
    return "".join(keep).strip("_") or "row"
