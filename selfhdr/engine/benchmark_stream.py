"""Benchmark parts beyond single forwards: the arithmetic floor and streaming over a split.

* ``floor``: this machine's sustained fp32 GEMM rate (:func:`selfhdr.engine.floor.gemm_gflops`),
  measured once per run in its own process; each inference row's MACs over it is that row's
  floor, and the report gives s/MP and × floor.
* ``stream``: ``selfhdr-test`` (the command, in-process in a fresh worker) over a split of
  ``n`` synthetic scenes, for two values of ``n``: its peak RSS must not grow with ``n``,
  because scenes are read, predicted, scored and written one at a time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List

Record = Dict[str, Any]


def worker_floor(spec: Record) -> Record:
    """Sustained fp32 GFLOP/s of a large matrix product with the run's threads, and the
    Winograd probe: whether F(2×2, 3×3) gets below the direct-MAC floor from Python."""
    from .floor import gemm_gflops, winograd_probe

    return {"gflops": gemm_gflops(spec.get("threads")), "winograd": winograd_probe(threads=spec.get("threads"))}


def worker_stream(spec: Record) -> Record:
    """``selfhdr-test`` over ``spec['split']`` with a checkpoint of the spec's backbone."""
    import torch

    from ..archs import build_backbone, save_weights
    from ..cli.test import main as test_main

    torch.manual_seed(0)
    net = build_backbone(spec["backbone"], **spec.get("kwargs", {}))
    work = Path(spec["work"])
    ckpt = work / f"stream_{spec['backbone']}.pth"
    save_weights(net, ckpt, meta={"backbone": {"type": spec["backbone"], **spec.get("kwargs", {})},
                                  "channel_order": "rgb"})
    out = work / f"stream_out_{spec['scenes']}"
    t0 = time.perf_counter()
    rc = test_main(["--checkpoint", str(ckpt), "--data-root", spec["root"], "--split", spec["split"],
                    "--out", str(out)])
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"selfhdr-test exited with {rc}")
    return {"seconds": seconds, "seconds_per_scene": seconds / spec["scenes"]}


def stream_specs(cfg: Any, work: Path) -> List[Record]:
    """One spec per scene count, each a split of that many scenes of ``cfg.stream_size``."""
    from ..data.synthetic import SyntheticSpec, write_dataset

    h, w = cfg.stream_size
    specs = []
    for n in cfg.stream_scenes:
        root = work / f"stream_{h}x{w}_{n}"
        write_dataset(root, SyntheticSpec(height=h, width=w, n_train=0, n_test=n, seed=0), progress=False)
        specs.append({"kind": "stream", "backbone": cfg.stream_backbone,
                      "kwargs": cfg.stream_kwargs, "scenes": n, "size": f"{h}×{w}", "root": str(root),
                      "split": "Test", "work": str(work), "threads": cfg.threads})
    return specs


def finish_floor(inference: List[Record], gflops: float) -> None:
    """Add each inference row's floor (its MACs at ``gflops``) and its time over that floor."""
    from .floor import floor_seconds

    for r in inference:
        if r.get("macs") and r.get("seconds") and gflops:
            r["floor_seconds"] = floor_seconds(r["macs"], gflops)
            r["x_floor"] = r["seconds"] / r["floor_seconds"]
