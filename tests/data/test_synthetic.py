"""The synthetic generator: determinism, layout, dynamic range, camera model, motion."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from selfhdr.camera import ldr_to_hdr
from selfhdr.data import read_scene
from selfhdr.data.synthetic import (
    SyntheticSpec, dynamic_range_stops, make_scene, scene_rng, write_dataset,
)

SPEC = SyntheticSpec(height=64, width=96, n_train=2, n_test=1, seed=3)


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_layout_and_determinism(tmp_path: Path) -> None:
    a = write_dataset(tmp_path / "a", SPEC, progress=False)
    b = write_dataset(tmp_path / "b", SPEC, progress=False)
    assert _digest(a) == _digest(b)
    assert sorted(p.name for p in (a / "Training").iterdir()) == ["train_001", "train_002"]
    scene = a / "Test" / "test_001"
    assert sorted(p.name for p in scene.iterdir()) == [
        "HDRImg.hdr", "HDRImg_preview.png", "exposure.txt", "frame_1.tif", "frame_2.tif", "frame_3.tif"]
    assert (scene / "exposure.txt").read_text() in ("0\n2\n4\n", "0\n3\n6\n")
    c = write_dataset(tmp_path / "c", SyntheticSpec(**{**SPEC.__dict__, "seed": 4}), progress=False)
    assert _digest(a) != _digest(c)


def test_idempotent_and_refuses_other_spec(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "r", SPEC, progress=False)
    first = _digest(root)
    shutil.rmtree(root / "Training" / "train_002")  # a missing scene is made again, identical
    write_dataset(root, SPEC, progress=False)
    assert _digest(root) == first
    assert json.loads((root / "synthetic.json").read_text())["seed"] == 3
    with pytest.raises(ValueError, match="different settings"):
        write_dataset(root, SyntheticSpec(height=64, width=96, n_train=2, n_test=1, seed=9), progress=False)


def test_scene_model() -> None:
    spec = SyntheticSpec(height=128, width=192)
    scene = make_scene(spec, scene_rng(0, "Training", 0))
    ref_rad = scene.radiance[1]
    assert dynamic_range_stops(ref_rad) >= 12.0
    assert ref_rad.max() > 4.0  # light sources far above saturation
    np.testing.assert_array_equal(scene.hdr, np.clip(ref_rad, 0, 1))
    # 16-bit quantisation and the shortest exposure saturating at 1.
    for ldr in scene.ldrs:
        q = ldr * 65535
        np.testing.assert_allclose(q, np.round(q), atol=2e-3)
    sat = scene.radiance[0].min(axis=-1) > 1.2
    assert sat.any() and (scene.ldrs[0][sat] == 1.0).all()
    # The linearised reference agrees with the label where well exposed (noise only).
    t = 2.0 ** scene.stops[1]
    lin = ldr_to_hdr(scene.ldrs[1], t)
    ok = (scene.ldrs[1] > 0.2) & (scene.ldrs[1] < 0.9)
    rel = np.abs(lin[ok] - scene.hdr[ok]) / scene.hdr[ok]
    assert 0.001 < np.median(rel) < 0.05  # noisy, but not wildly
    # Objects move: their masks differ between frames.
    assert scene.object_masks[1].sum() > 0
    assert np.abs(scene.object_masks[0] - scene.object_masks[1]).sum() > 20


def test_written_scene_reads_back(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "r", SPEC, progress=False)
    s = read_scene(root / "Training" / "train_001")
    direct = make_scene(SPEC, scene_rng(SPEC.seed, "Training", 0))
    np.testing.assert_allclose(s.ldrs[1], direct.ldrs[1], atol=3e-5)
    assert s.hdr is not None  # RGBE: error bounded by the pixel's largest channel / 128
    assert (np.abs(s.hdr - direct.hdr) <= direct.hdr.max(axis=-1, keepdims=True) / 128 + 1e-7).all()
