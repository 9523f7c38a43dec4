"""Timing of :func:`compute_color` on a synthetic scene (for ``scripts/benchmark.py``)."""

from __future__ import annotations

import os
import statistics
import time
from typing import Dict

import numpy as np

from ..data.synthetic import SyntheticSpec, make_scene
from .color import compute_color
from .config import AlignConfig


def benchmark_color(height: int = 1000, width: int = 1500, cfg: AlignConfig = AlignConfig(),
                    repeats: int = 5, seed: int = 0) -> Dict[str, float]:
    """Wall time of :func:`compute_color` (no file I/O) on a synthetic scene of the given size.

    One warm-up call, then ``repeats`` timed calls; returns median, min and max wall seconds
    and the median CPU seconds of this process (all threads), which a busy machine inflates
    less than wall time.
    """
    spec = SyntheticSpec(height=height, width=width, n_train=0, n_test=1, seed=seed)
    scene = make_scene(spec, np.random.default_rng(seed))
    times = np.power(2.0, scene.stops)
    compute_color(scene.ldrs, times, cfg)
    runs, cpu = [], []
    for _ in range(max(1, repeats)):
        start, start_cpu = time.perf_counter(), time.process_time()
        compute_color(scene.ldrs, times, cfg)
        runs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"height": float(height), "width": float(width), "median_s": statistics.median(runs),
            "min_s": min(runs), "max_s": max(runs), "cpu_s": statistics.median(cpu),
            "repeats": float(len(runs)), "cpu_count": float(os.cpu_count() or 1)}
