"""Benchmark part ``fusion``: time and memory of fusing one under/over pair, per megapixel.

For each size of ``cfg.fusion_sizes`` one deterministic pair (the shortest and longest frames
of a static synthetic bracket) is fused, each method in its own process so its peak RSS is its
own:

* ``network``: :func:`selfhdr.archs.fusion_net.fuse_pair` with a FusionNet of the default
  widths (16-32-64-128; random weights: the time does not depend on them), fp32, whole image;
* ``network-wide``: the same at ``configs/fusion_real.yaml``'s widths (32-64-128-256);
* ``mertens``: OpenCV's Mertens exposure fusion, the baseline the network is scored against.

Each is warmed up on a 64×64 crop, then timed (median of the repeats).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import numpy as np

Record = Dict[str, Any]
FUSION_METHODS = ("network", "network-wide", "mertens")
WIDTHS = {"network": (16, 32, 64, 128), "network-wide": (32, 64, 128, 256)}
WARMUP = 64


def make_pair(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(under, over) H×W×3 RGB in [0, 1]: the extreme frames of a static synthetic bracket."""
    from ..data.synthetic import SyntheticSpec, make_scene

    spec = SyntheticSpec(height=h, width=w, n_train=0, n_test=1, seed=0, motion_px=(0.0, 0.0), shake_px=0.0,
                         shake_deg=0.0)
    ldrs = make_scene(spec, np.random.default_rng(0)).ldrs
    return ldrs[0].astype(np.float32), ldrs[-1].astype(np.float32)


def fusion_specs(cfg: Any, work: Path) -> List[Record]:
    """One spec per size × method; the pairs are written once under ``work``."""
    from .benchmark import _repeats, _size_name

    specs = []
    for h, w in cfg.fusion_sizes:
        path = work / f"fusion_{h}x{w}.npz"
        if not path.exists():
            under, over = make_pair(h, w)
            np.savez(path, under=under, over=over)
        for method in FUSION_METHODS:
            specs.append({"kind": "fusion", "method": method, "pair": str(path), "size": _size_name(h, w),
                          "repeats": _repeats(cfg, h * w), "threads": cfg.threads})
    return specs


def worker_fusion(spec: Record) -> Record:
    """Fuse the pair with ``spec['method']``: median seconds, seconds per megapixel."""
    import torch

    from ..archs.fusion_net import FusionNet, fuse_pair
    from .benchmark import _timed
    from .fusion_eval import fuse_mertens

    with np.load(spec["pair"]) as z:
        under, over = z["under"], z["over"]
    if spec["method"] in WIDTHS:
        torch.manual_seed(0)
        net = FusionNet(WIDTHS[spec["method"]]).eval()

        def run(u: np.ndarray, o: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return fuse_pair(net, u, o)
    else:
        run = fuse_mertens
    run(under[:WARMUP, :WARMUP], over[:WARMUP, :WARMUP])
    fused, rec = _timed(lambda: run(under, over), spec["repeats"])
    assert fused.shape == under.shape and np.isfinite(fused).all()
    rec["s_per_mp"] = rec["seconds"] / (under.shape[0] * under.shape[1] / 1e6)
    return rec


def fusion_rows(records: List[Record]) -> List[List[str]]:
    """Rows of the measurement table: seconds and peak memory per megapixel."""
    rows = []
    for r in records:
        widths = "-".join(map(str, WIDTHS.get(r["method"], ())))
        label = f"two-exposure fusion of one {r['size']} pair, " + \
                (f"FusionNet (widths {widths}, fp32)" if widths else "OpenCV Mertens")
        if "error" in r:
            rows.append([label, "failed: " + r["error"][:60]])
            continue
        mp = r["seconds"] / r["s_per_mp"]
        rows.append([label, f"{r['seconds']:.2f} s ({r['s_per_mp']:.2f} s/MP), peak "
                            f"{r['peak_rss_mb'] / 1024:.2f} GiB ({r['peak_rss_mb'] / 1024 / mp:.2f} GiB/MP)"])
    return rows
