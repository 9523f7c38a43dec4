"""What a SelfHDR run's labels were like: Y_color's score, and how much the masks M1 and M2 keep.

``python -m selfhdr.engine.label_study RUN [RUN ...]`` reads each run folder's resolved
``config.yaml``, its training split's Y_color (``<root>/Training_align``), its Y_stru
(``<run>/stru``) and its test metrics (``<run>/test/selfhdr/metrics.json``), and prints one
row per run: Y_color's PSNR-μ/PSNR-l on the labelled training scenes, the share of training
pixels stage 1's M1 and stage 2's M2 keep (full images, the thresholds of the run's config,
computed as the losses compute them), and Y_color's and stage 2's test PSNR-μ/PSNR-l (the run's own test rows).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from ..config import load_config
from ..data.scene import list_scenes, read_scene
from ..io import read_hdr
from ..methods.selfhdr import stage1_masks, stage2_mask
from ..metrics import psnr_l, psnr_mu
from .pipeline import ALIGN_SUFFIX
from .predict import bracket_tensors


def _chw(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]


def study_run(run: Path) -> Dict[str, float]:
    """The label statistics of one run folder (see the module docstring)."""
    cfg = load_config(run / "config.yaml")
    root = Path(cfg.data.root)
    split = cfg.data.train_split
    s1, s2 = cfg.selfhdr.stage1, cfg.selfhdr.stage2
    kept1, kept2, n, scores = 0.0, 0.0, 0, {"psnr_mu": [], "psnr_l": []}
    for d in list_scenes(root / split):
        scene = read_scene(d)
        color = read_hdr(root / f"{split}{ALIGN_SUFFIX}" / d.name / "HDRImg.hdr")
        stru = read_hdr(run / "stru" / f"{d.name}.hdr")
        if scene.hdr is not None:
            scores["psnr_mu"].append(psnr_mu(color, scene.hdr))
            scores["psnr_l"].append(psnr_l(color, scene.hdr))
        x2 = bracket_tensors(scene.ldrs, scene.times)[1]
        c, s = _chw(color), _chw(stru)
        kept1 += float(stage1_masks(x2, c, s1.mask_threshold)["m1"].sum())
        kept2 += float(stage2_mask(c, s, s2.mask_threshold).sum())
        n += color.shape[0] * color.shape[1]
    out = {"y_color_psnr_mu": float(np.mean(scores["psnr_mu"])) if scores["psnr_mu"] else float("nan"),
           "y_color_psnr_l": float(np.mean(scores["psnr_l"])) if scores["psnr_l"] else float("nan"),
           "m1_kept": kept1 / n, "m2_kept": kept2 / n}
    for row, key in (("Y_color", "test_y_color"), ("selfhdr", "stage2")):
        metrics = run / "test" / row / "metrics.json"
        mean = json.loads(metrics.read_text())["mean"] if metrics.is_file() else {}
        out.update({f"{key}_psnr_mu": mean.get("psnr_mu", float("nan")),
                    f"{key}_psnr_l": mean.get("psnr_l", float("nan"))})
    return out


def markdown(rows: Dict[str, Dict[str, float]]) -> str:
    """One row per run."""
    lines = ["| run | Y_color PSNR-μ / PSNR-l (train) | Y_color PSNR-μ / PSNR-l (test) | M1 keeps | M2 keeps | "
             "stage 2 PSNR-μ / PSNR-l (test) |", "|---|" + "---:|" * 5]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['y_color_psnr_mu']:.2f} / {r['y_color_psnr_l']:.2f} | "
                     f"{r['test_y_color_psnr_mu']:.2f} / {r['test_y_color_psnr_l']:.2f} | {r['m1_kept']:.3%} | "
                     f"{r['m2_kept']:.3%} | {r['stage2_psnr_mu']:.2f} / {r['stage2_psnr_l']:.2f} |")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Print the label table of the given run folders."""
    p = argparse.ArgumentParser(prog="python -m selfhdr.engine.label_study", description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders (runs/<name>)")
    args = p.parse_args(argv)
    missing = [str(r) for r in args.runs if not (r / "config.yaml").is_file()]
    if missing:
        print(f"error: no config.yaml in {', '.join(missing)} (not a run folder)", file=sys.stderr)
        return 2
    print(markdown({r.name: study_run(r) for r in args.runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
