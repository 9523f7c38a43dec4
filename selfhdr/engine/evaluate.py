"""Evaluation over a test split: per-scene metrics, means, JSON and Markdown tables.

The metrics are named as in ``metrics.json``: the four of the published SelfHDR evaluation
(:data:`METRIC_KEYS`, the default) and ``hdr_vdp2``, HDR-VDP-2's Q called as in the public
deghosting evaluation script ``Metrics/eval_HDRv.m`` of mtntruong/LRT-HDR: prediction as
test, label as reference, both multiplied by 65535, ``'rgb-bt.709'``, 30 pixels per degree
(:class:`HDRVDP2Config`). SelfHDR's paper does not state its call.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Literal, Mapping, Optional, Sequence, Union

import numpy as np
from tqdm import tqdm

from ..data.dataset import exposure_fallback
from ..data.scene import Scene, find_scene_files, list_scenes, read_scene
from ..io import atomic_write_text, check_hdr_output, check_output_dir, write_hdr_with_preview
from ..metrics import hdr_vdp2, psnr_l, psnr_mu, ssim_l, ssim_mu

PathLike = Union[str, "os.PathLike[str]"]
METRIC_KEYS = ("psnr_mu", "psnr_l", "ssim_mu", "ssim_l")
"""The default columns: the published SelfHDR evaluation's four metrics (fast)."""
METRICS = (*METRIC_KEYS, "hdr_vdp2")
"""Every metric :func:`score` computes (``hdr_vdp2`` takes seconds per megapixel)."""
_ORDER = ("psnr_l", "psnr_mu", "ssim_l", "ssim_mu", "hdr_vdp2")  # key order in metrics.json
Result = Dict[str, Dict]


@dataclass
class HDRVDP2Config:
    """How labels and predictions become HDR-VDP-2 inputs (defaults: LRT-HDR's eval_HDRv.m)."""

    scale: float = 65535.0
    """cd/m² per unit of the normalised labels (eval_HDRv.m multiplies both images by 65535)."""
    pixels_per_degree: float = 30.0
    """Angular resolution of the assumed viewing set-up (eval_HDRv.m: ``ppd = 30``)."""
    color_encoding: Literal["rgb-bt.709", "XYZ"] = "rgb-bt.709"
    """Colour space of the (linear, absolute) inputs, as hdrvdp.m names it."""

    def validate(self) -> None:
        """Reject impossible values."""
        for name in ("scale", "pixels_per_degree"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


def check_metrics(names: Sequence[str]) -> List[str]:
    """``names`` as a list, or ValueError naming the unknown ones and listing the valid ones."""
    names = list(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        what = f"unknown metric {', '.join(map(repr, unknown))}" if unknown else "no metric given"
        raise ValueError(f"{what}; valid metrics: {', '.join(METRICS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"metrics listed twice: {', '.join(names)}")
    return names


def hdr_vdp2_q(pred: np.ndarray, gt: np.ndarray, cfg: Optional[HDRVDP2Config] = None) -> float:
    """HDR-VDP-2's Q of a prediction against its label, both in normalised units (see module doc)."""
    cfg = cfg or HDRVDP2Config()
    # Negative values are clipped as the written .hdr (which eval_HDRv.m reads) clips them.
    test = np.maximum(np.asarray(pred, np.float64), 0.0) * cfg.scale
    ref = np.asarray(gt, np.float64) * cfg.scale
    return hdr_vdp2(test, ref, cfg.color_encoding, cfg.pixels_per_degree).Q


_FNS: Dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "psnr_l": psnr_l, "psnr_mu": psnr_mu, "ssim_l": ssim_l, "ssim_mu": ssim_mu}


def score(pred: np.ndarray, gt: np.ndarray, metrics: Sequence[str] = METRIC_KEYS,
          vdp: Optional[HDRVDP2Config] = None) -> Dict[str, float]:
    """The named metrics (see :data:`METRICS`) of a prediction against its label."""
    wanted = set(check_metrics(metrics))
    return {k: hdr_vdp2_q(pred, gt, vdp) if k == "hdr_vdp2" else _FNS[k](pred, gt)
            for k in _ORDER if k in wanted}


def summarise(scenes: Mapping[str, Mapping[str, float]], unlabelled: Sequence[str] = ()) -> Result:
    """``{"scenes": {name: metrics}, "mean": {...}, "unlabelled": [...]}``; means over scenes of every key."""
    keys = sorted({k for m in scenes.values() for k in m})
    mean = {k: float(np.mean([m[k] for m in scenes.values() if k in m])) for k in keys}
    return {"scenes": {n: dict(m) for n, m in scenes.items()}, "mean": mean, "unlabelled": list(unlabelled)}


def labelled_scenes(split_dir: PathLike) -> List[str]:
    """Names of the scenes of a split that have an HDR label."""
    return [d.name for d in list_scenes(split_dir) if find_scene_files(d).hdr_path is not None]


def evaluate_predictor(
    split_dir: PathLike,
    predict: Callable[[Scene], np.ndarray],
    out_dir: Optional[PathLike] = None,
    desc: str = "evaluating",
    progress: bool = True,
    inputs_dir: Optional[PathLike] = None,
    scenes: Optional[Sequence[str]] = None,
    labelled_only: bool = False,
    metrics: Sequence[str] = METRIC_KEYS,
    vdp: Optional[HDRVDP2Config] = None,
) -> Result:
    """Run ``predict`` on every scene of a split; score it where the scene has a label.

    With ``out_dir`` (checked to be writable before the first scene), each prediction is
    saved as ``<scene>.hdr`` with a μ-law ``<scene>.png`` preview beside it (both or
    neither), and the result as ``metrics.json``; scenes without ``HDRImg.hdr`` get outputs
    but no metrics and are listed under ``"unlabelled"``. Scenes are read, predicted and
    written one at a time, so memory does not grow with the split. ``scenes`` restricts the
    run to those names; ``labelled_only`` skips unlabelled scenes entirely (a baseline whose
    output nobody needs). With ``inputs_dir`` (e.g. ``Test_align``) the brackets come from
    there while the labels stay those of ``split_dir``. ``metrics`` names the scores (checked
    first; see :func:`score`), ``vdp`` how ``hdr_vdp2`` is called.
    """
    metrics = check_metrics(metrics)
    dirs = list_scenes(split_dir)
    if scenes is not None:
        wanted = set(scenes)
        dirs = [d for d in dirs if d.name in wanted]
    if out_dir is not None:
        check_output_dir(out_dir)
        for d in dirs:  # a folder squatting on an output name fails now, not after hours
            check_hdr_output(Path(out_dir) / f"{d.name}.hdr")
    per_scene: Dict[str, Dict[str, float]] = {}
    unlabelled: List[str] = []
    for d in tqdm(dirs, desc=desc, disable=not progress):
        if labelled_only and find_scene_files(d).hdr_path is None:
            continue
        scene = read_scene(d)
        if inputs_dir is not None:
            alt = Path(inputs_dir) / d.name
            inputs = read_scene(alt, exposure_fallback(alt, Path(split_dir)), with_hdr=False)
            scene = Scene(scene.name, inputs.ldrs, inputs.times, scene.hdr, inputs.files)
        start = time.perf_counter()
        pred = predict(scene)
        seconds = time.perf_counter() - start
        if scene.hdr is None:
            unlabelled.append(scene.name)
        else:
            per_scene[scene.name] = {**score(pred, scene.hdr, metrics, vdp), "seconds": seconds}
        if out_dir is not None:
            write_hdr_with_preview(Path(out_dir) / f"{scene.name}.hdr", np.maximum(pred, 0))
    result = summarise(per_scene, unlabelled)
    if out_dir is not None:
        save_json(Path(out_dir) / "metrics.json", result)
    return result


def save_json(path: PathLike, obj: object) -> None:
    """Write JSON atomically (indent 1, keys in insertion order)."""
    atomic_write_text(Path(path), json.dumps(obj, indent=1) + "\n")


def markdown_table(rows: Mapping[str, Mapping[str, float]], keys: Sequence[str] = METRIC_KEYS) -> str:
    """A Markdown table: one row per method, PSNR in dB and HDR-VDP-2 Q with 2 decimals, SSIM with 4."""
    head = "| method | " + " | ".join(_label(k) for k in keys) + " |"
    sep = "|---|" + "---:|" * len(keys)
    body = [
        f"| {name} | " + " | ".join(_fmt(k, m.get(k)) for k in keys) + " |" for name, m in rows.items()
    ]
    return "\n".join([head, sep, *body])


def _label(key: str) -> str:
    return {"psnr_mu": "PSNR-μ", "psnr_l": "PSNR-l", "ssim_mu": "SSIM-μ", "ssim_l": "SSIM-l",
            "mef_ssim": "MEF-SSIM", "hdr_vdp2": "HDR-VDP-2"}.get(key, key)


def _fmt(key: str, v: Optional[float]) -> str:
    if v is None:
        return "–"
    return f"{v:.4f}" if "ssim" in key else f"{v:.2f}"
