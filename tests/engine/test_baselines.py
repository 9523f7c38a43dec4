"""The classical baselines and the evaluation runner on the tiny synthetic split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from selfhdr.camera import ldr_to_hdr
from selfhdr.data import read_scene
from selfhdr.engine.evaluate import markdown_table
from selfhdr.engine.pipeline import evaluate_baselines
from selfhdr.methods.classical import reference_alone, unaligned_merge


def test_baselines_by_hand(tiny_root: Path) -> None:
    s = read_scene(tiny_root / "Test" / "test_001")
    ref = s.ldrs[1]
    np.testing.assert_allclose(reference_alone(s), ref**2.2 / (s.times[1] + 1e-8), rtol=1e-6)
    lin = [ldr_to_hdr(l, t) for l, t in zip(s.ldrs, s.times)]
    r = ref[5, 7, 0]
    w = (0.0, 2 * r, 1 - 2 * r) if r < 0.5 else (2 * r - 1, 2 - 2 * r, 0.0)
    expected = sum(wi * li[5, 7, 0] for wi, li in zip(w, lin))
    assert unaligned_merge(s)[5, 7, 0] == pytest.approx(expected, rel=1e-5)


def test_evaluate_baselines_writes_everything(tiny_root: Path, tmp_path: Path) -> None:
    res = evaluate_baselines(tiny_root, "Test", tmp_path)
    assert set(res) == {"reference alone", "unaligned merge"}
    for name, r in res.items():
        assert set(r["scenes"]) == {"test_001", "test_002"}
        assert set(r["mean"]) >= {"psnr_l", "psnr_mu", "ssim_l", "ssim_mu", "seconds"}
        sub = tmp_path / name.replace(" ", "_")
        on_disk = json.loads((sub / "metrics.json").read_text())
        assert on_disk["mean"]["psnr_mu"] == pytest.approx(r["mean"]["psnr_mu"])
        assert (sub / "test_001.hdr").is_file() and (sub / "test_001.png").is_file()
    # Merging the exposures recovers the saturated highlights the reference alone loses.
    assert res["unaligned merge"]["mean"]["psnr_l"] > res["reference alone"]["mean"]["psnr_l"]
    table = markdown_table({k: v["mean"] for k, v in res.items()})
    assert "| reference alone |" in table and "PSNR-μ" in table
