"""Learning-curve figures from a run's scalar history (matplotlib, Agg, no display needed).

Each stage gets one row of two panels: the training loss against optimiser steps, and the
validation score(s) against steps, with optional horizontal reference lines (``name → value``,
e.g. the test-set PSNR-μ of Y_color or of the classical baselines).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Mapping, Optional, Sequence, Union

# The object-oriented API with the Agg canvas: no pyplot, so no global backend switch and no
# display, in the training process or a test.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..io.atomic import atomic_path
from .history import Record, read_history, series, stages as stages_of

PathLike = Union[str, "os.PathLike[str]"]
SCORES = ("psnr_mu", "proxy_psnr_mu_vs_Y_color", "mef_ssim")
"""Validation keys drawn by default, in this order, where logged (else every key)."""
LABELS = {"psnr_mu": "PSNR-μ", "proxy_psnr_mu_vs_Y_color": "proxy PSNR-μ vs Y_color (no labels)",
          "proxy_l1_mu_vs_Y_color": "proxy μ-law L1 vs Y_color", "mef_ssim": "MEF-SSIM", "loss": "loss"}
SMOOTH_FROM = 100
"""With at least this many loss points, a running mean is drawn over the raw (faded) curve."""


def val_keys(records: Sequence[Record], stage: str, scores: Optional[Sequence[str]] = None) -> List[str]:
    """The validation keys to draw for ``stage``: ``scores`` if given, else :data:`SCORES` present, else all."""
    logged = list(dict.fromkeys(k for r in records if r["tag"] == f"{stage}/val" for k in r["values"]))
    if scores is not None:
        return [k for k in scores if k in logged]
    return [k for k in SCORES if k in logged] or logged


def _running_mean(values: List[float], window: int) -> List[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def learning_curves(history: Union[PathLike, Sequence[Record]], out_png: PathLike,
                    stages: Optional[Sequence[str]] = None, refs: Optional[Mapping[str, float]] = None,
                    scores: Optional[Sequence[str]] = None, title: Optional[str] = None,
                    dpi: int = 100) -> Path:
    """Draw training loss and validation score(s) against steps, one row per stage; write a PNG.

    ``history`` is a ``history.jsonl`` path or its records; ``stages`` defaults to every stage
    in it; ``refs`` are horizontal lines on the validation panels; ``scores`` picks the
    validation keys (default: see :func:`val_keys`). The PNG is written atomically.
    """
    records = read_history(history) if isinstance(history, (str, os.PathLike)) else list(history)
    names = list(stages) if stages is not None else stages_of(records)
    if not names:
        raise ValueError("learning_curves: no stage to draw (empty history)")
    fig = Figure(figsize=(11, 3.6 * len(names)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(names), 2, squeeze=False)
    for (ax_loss, ax_val), stage in zip(axes, names):
        steps, loss = series(records, stage, "loss")
        if len(loss) >= SMOOTH_FROM:
            ax_loss.plot(steps, loss, color="C0", alpha=0.3, linewidth=0.8, label="loss")
            ax_loss.plot(steps, _running_mean(loss, max(1, len(loss) // 50)), color="C0",
                         linewidth=1.6, label="loss (running mean)")
        elif loss:
            ax_loss.plot(steps, loss, color="C0", linewidth=1.6, marker="." if len(loss) < 30 else None,
                         label="loss")
        else:
            ax_loss.text(0.5, 0.5, "no training loss logged", ha="center", va="center", transform=ax_loss.transAxes)
        ax_loss.set(title=f"{stage}: training loss", xlabel="step", ylabel="training loss")
        keys = val_keys(records, stage, scores)
        for i, key in enumerate(keys):
            vs, vv = series(records, f"{stage}/val", key)
            ax_val.plot(vs, vv, color=f"C{i}", marker="o", linewidth=1.6, label=f"{LABELS.get(key, key)} (val)")
        for j, (name, value) in enumerate((refs or {}).items()):
            ax_val.axhline(value, color=f"C{len(keys) + j}", linestyle="--", linewidth=1.2,
                           label=f"{name}: {value:.2f}" if abs(value) >= 2 else f"{name}: {value:.4f}")
        if not keys:
            ax_val.text(0.5, 0.5, "no validation scores logged", ha="center", va="center",
                        transform=ax_val.transAxes)
        unit = " (dB)" if keys and all("psnr" in k for k in keys) else ""
        ylabel = LABELS.get(keys[0], keys[0]) + unit if len(keys) == 1 else "validation score" + unit
        ax_val.set(title=f"{stage}: validation", xlabel="step", ylabel=ylabel)
        for ax in (ax_loss, ax_val):
            ax.grid(True, alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small", loc="best")
    if title:
        fig.suptitle(title)
    out = Path(out_png)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return out


def compared_curves(history: Union[PathLike, Sequence[Record]], out_png: PathLike, stages: Sequence[str],
                    key: str = "psnr_mu", refs: Optional[Mapping[str, float]] = None,
                    title: Optional[str] = None, dpi: int = 100) -> Path:
    """One panel: validation ``key`` of several stages against steps, with ``refs`` as dashed lines.

    The comparison a long run is for (SelfHDR's stage 2 against the supervised network of the
    same budget, and both against the rows without a network). Each stage's best value is
    marked and named in the legend. The PNG is written atomically.
    """
    records = read_history(history) if isinstance(history, (str, os.PathLike)) else list(history)
    fig = Figure(figsize=(9, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    drawn = 0
    for i, stage in enumerate(stages):
        steps, values = series(records, f"{stage}/val", key)
        if not values:
            continue
        best = max(range(len(values)), key=values.__getitem__)
        ax.plot(steps, values, color=f"C{i}", marker="o", markersize=3, linewidth=1.6,
                label=f"{stage}: last {values[-1]:.2f}, best {values[best]:.2f} at step {int(steps[best])}")
        drawn += 1
    if not drawn:
        raise ValueError(f"compared_curves: no stage of {list(stages)} logged validation {key!r}")
    for j, (name, value) in enumerate((refs or {}).items()):
        ax.axhline(value, color=f"C{len(stages) + j}", linestyle="--", linewidth=1.2, label=f"{name}: {value:.2f}")
    unit = " (dB)" if "psnr" in key else ""
    ax.set(xlabel="optimiser step of the stage", ylabel=f"validation {LABELS.get(key, key)}{unit}",
           title=title or f"validation {LABELS.get(key, key)} against steps")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    out = Path(out_png)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return out


__all__ = ["LABELS", "SCORES", "compared_curves", "learning_curves", "val_keys"]
