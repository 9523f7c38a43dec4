"""Shared fixtures: a tiny synthetic Kalantari-format dataset, made once per test session."""

from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np
import pytest
import torch

from selfhdr.data.synthetic import SyntheticSpec, write_dataset

torch.set_num_threads(2)

TINY = SyntheticSpec(height=48, width=64, n_train=3, n_test=2, seed=7)


@pytest.fixture(autouse=True)
def _cpu_without_fast_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """``train.amp=auto`` resolves to fp32 in every test, whatever CPU runs the suite: numbers
    compared across runs and tolerances stay machine-independent (tests of the detection fake
    their own flags)."""
    import selfhdr.engine.device as device

    monkeypatch.setattr(device, "_cpu_flags", lambda: frozenset({"fpu", "sse2", "avx2"}))


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-train/2-test synthetic dataset of 48×64 scenes (read-only: copy before mutating)."""
    root = tmp_path_factory.mktemp("synthetic") / "root"
    write_dataset(root, TINY, progress=False)
    return root


def write_camera_brackets(folder: Path, n: int, seed: int = 0, height: int = 48, width: int = 64,
                          flat: bool = False) -> List[Path]:
    """Synthetic dynamic scenes as a camera leaves them: 8-bit JPEGs with EXIF, no HDR anywhere.

    Each bracket's frames get ExposureTime 2**EV / 250 s, ISO 100, f/4, and capture times one
    second apart (brackets a minute apart); file names are shuffled so that name order is not
    exposure order. ``flat`` puts every frame directly in ``folder`` (grouped by capture time).
    """
    from datetime import datetime, timedelta

    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational

    from selfhdr.data.synthetic import make_scene, scene_rng

    spec = SyntheticSpec(height=height, width=width, n_train=n, n_test=0, seed=seed)
    start = datetime(2026, 5, 4, 9, 0, 0)
    written = []
    for i in range(n):
        scene = make_scene(spec, scene_rng(seed, "Training", i))
        sub = folder if flat else folder / f"bracket_{i + 1:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        for k in (1, 2, 0):  # shuffled: IMG names follow this order, not the exposure order
            ex = Image.Exif()
            ex[271], ex[272] = "Selfhdr", "TestCam"
            ifd = ex.get_ifd(0x8769)
            ifd[33434] = IFDRational(int(2 ** scene.stops[k]), 250)
            ifd[34855] = 100
            ifd[33437] = IFDRational(4, 1)
            ifd[36867] = (start + timedelta(minutes=i, seconds=k)).strftime("%Y:%m:%d %H:%M:%S")
            img = (np.clip(scene.ldrs[k], 0, 1) * 255 + 0.5).astype(np.uint8)
            path = sub / f"IMG_{i * 3 + [1, 2, 0].index(k) + 1:04d}.jpg"
            Image.fromarray(img).save(path, quality=92, exif=ex)
            written.append(path)
    return written


def crash_stage2_at(monkeypatch: pytest.MonkeyPatch, call: int):  # type: ignore[no-untyped-def]
    """Make SelfHDR stage 2's ``call``-th training step raise KeyboardInterrupt (a crash);
    returns the real ``training_step`` so the test can restore it for the resume."""
    from selfhdr.methods.selfhdr import SelfHDRStage2

    real = SelfHDRStage2.training_step
    calls = {"n": 0}

    def crash(self, batch):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return real(self, batch)

    monkeypatch.setattr(SelfHDRStage2, "training_step", crash)
    return real
