"""Benchmark part ``vdp``: HDR-VDP-2 on one HDR pair, the numpy port against the MATLAB code.

The pair is deterministic: the label of a synthetic scene (seed 0) of ``cfg.vdp_size`` as the
reference and the same label with 3 % multiplicative noise (seed 1) as the test, both in the
evaluation's units (× :attr:`HDRVDP2Config.scale`, see :mod:`selfhdr.engine.evaluate`), called
with its colour encoding and pixels per degree. Two measurements, each in its own process:

* ``numpy``: :func:`selfhdr.metrics.hdr_vdp2` (after a warm-up on a 64×64 crop);
* ``octave``: ``hdrvdp.m`` of the toolbox folder ``cfg.hdrvdp_toolbox`` under GNU Octave
  (patched and compiled by :mod:`selfhdr.metrics.hdrvdp.octave`, warmed up on the same crop);
  the ``hdrvdp`` call alone is timed (tic/toc), toolbox set-up and Octave start-up apart.

:func:`finish_vdp` adds |ΔQ| between them, or an Octave record that says why it did not run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

Record = Dict[str, Any]
WARMUP = 64
"""Side of the warm-up crop (HDR-VDP-2 needs at least 15 pixels a side)."""


def make_pair(h: int, w: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(test, reference) of shape h×w×3 in cd/m²: a synthetic label and a slightly noisy copy."""
    from ..data.synthetic import SyntheticSpec, make_scene

    scene = make_scene(SyntheticSpec(height=h, width=w, n_train=0, n_test=1, seed=0), np.random.default_rng(0))
    ref = scene.hdr.astype(np.float64)
    noise = np.random.default_rng(1).standard_normal(ref.shape)
    test = np.maximum(ref * (1.0 + 0.03 * noise), 0.0)
    return test * scale, ref * scale


def _load(spec: Record) -> tuple[np.ndarray, np.ndarray]:
    with np.load(spec["pair"]) as z:
        return z["test"], z["ref"]


def worker_vdp(spec: Record) -> Record:
    """The numpy port on the pair: median seconds of ``spec['repeats']`` calls, Q and P_det."""
    from ..metrics import hdr_vdp2
    from .benchmark import _timed

    test, ref = _load(spec)
    enc, ppd = spec["color_encoding"], spec["pixels_per_degree"]
    hdr_vdp2(test[:WARMUP, :WARMUP], ref[:WARMUP, :WARMUP], enc, ppd)
    res, rec = _timed(lambda: hdr_vdp2(test, ref, enc, ppd), spec["repeats"])
    rec.update(Q=res.Q, P_det=res.P_det, s_per_mp=rec["seconds"] / (test.shape[0] * test.shape[1] / 1e6))
    return rec


def worker_vdp_octave(spec: Record) -> Record:
    """The MATLAB code in Octave on the pair: seconds of the ``hdrvdp`` call, Q and P_det."""
    from ..metrics.hdrvdp.octave import prepare_toolbox, run_cases

    test, ref = _load(spec)
    enc, ppd, octave = spec["color_encoding"], spec["pixels_per_degree"], spec["octave"]
    with tempfile.TemporaryDirectory(prefix="selfhdr-octave-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        tb, shims = prepare_toolbox(Path(spec["toolbox"]), work, octave, nice=False)
        t1 = time.perf_counter()
        cases = {"warmup": (test[:WARMUP, :WARMUP], ref[:WARMUP, :WARMUP], enc, ppd, {}),
                 "pair": (test, ref, enc, ppd, {})}
        out, _ = run_cases(cases, tb, shims, work, octave, nice=False)
        t2 = time.perf_counter()
    r = out["pair"]
    return {"seconds": float(r.seconds), "Q": float(r.Q), "P_det": float(r.P_det),
            "s_per_mp": float(r.seconds) / (test.shape[0] * test.shape[1] / 1e6),
            "setup_seconds": t1 - t0, "octave_wall_seconds": t2 - t1,
            "octave_version": str(out["octave_version"]), "image_pkg_version": str(out["image_pkg_version"])}


def octave_missing(cfg: Any) -> Optional[str]:
    """Why the Octave measurement cannot run (None when it can)."""
    from ..metrics.hdrvdp.octave import find_octave

    if find_octave(cfg.octave) is None:
        return f"Octave not found ({cfg.octave!r} is not on PATH)"
    if not cfg.hdrvdp_toolbox:
        return "no toolbox folder given (--hdrvdp-toolbox DIR)"
    return None


def vdp_specs(cfg: Any, work: Path) -> List[Record]:
    """The numpy measurement, and the Octave one when Octave and the toolbox are there."""
    from ..metrics.hdrvdp.octave import find_octave
    from .evaluate import HDRVDP2Config

    vdp = HDRVDP2Config()
    h, w = cfg.vdp_size
    pair = work / f"vdp_pair_{h}x{w}.npz"
    test, ref = make_pair(h, w, vdp.scale)
    np.savez(pair, test=test, ref=ref)
    base = {"kind": "vdp", "size": f"{h}×{w}", "pair": str(pair), "scale": vdp.scale,
            "color_encoding": vdp.color_encoding, "pixels_per_degree": vdp.pixels_per_degree,
            "threads": cfg.threads}
    specs = [{**base, "mode": "numpy", "repeats": cfg.repeats or 1}]
    if octave_missing(cfg) is None:
        specs.append({**base, "kind": "vdp_octave", "mode": "octave", "octave": find_octave(cfg.octave),
                      "toolbox": str(Path(cfg.hdrvdp_toolbox).resolve())})
    return specs


def finish_vdp(records: List[Record], cfg: Any) -> None:
    """Add |ΔQ| and the time ratio to the Octave record, or an Octave record saying why it is missing."""
    numpy_rec = next((r for r in records if r.get("mode") == "numpy"), {})
    octave_rec = next((r for r in records if r.get("mode") == "octave"), None)
    if octave_rec is None:
        h, w = cfg.vdp_size
        records.append({"kind": "vdp_octave", "mode": "octave", "size": f"{h}×{w}", "skipped": octave_missing(cfg)})
        return
    if "Q" in numpy_rec and "Q" in octave_rec:
        octave_rec["abs_dq_vs_numpy"] = abs(numpy_rec["Q"] - octave_rec["Q"])
        octave_rec["octave_over_numpy"] = octave_rec["seconds"] / numpy_rec["seconds"]


__all__ = ["finish_vdp", "make_pair", "octave_missing", "vdp_specs", "worker_vdp", "worker_vdp_octave"]
