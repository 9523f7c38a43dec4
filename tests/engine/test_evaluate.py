"""Evaluation columns: metric selection, HDR-VDP-2's calling convention, and the test step's table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from selfhdr.config import load_config
from selfhdr.data import read_scene
from selfhdr.engine.evaluate import (METRIC_KEYS, HDRVDP2Config, check_metrics, evaluate_predictor,
                                     hdr_vdp2_q, markdown_table, score)
from selfhdr.errors import ConfigError
from selfhdr.metrics import hdr_metrics, hdr_vdp2

NET = "{type: AHDRNet, nf: 4, growth: 4, n_dense: 1, n_rdb: 1}"


def _pair(negative: bool = False) -> tuple:
    rng = np.random.default_rng(0)
    gt = (0.02 + 0.5 * rng.random((32, 48, 3))).astype(np.float32)
    pred = gt * (1 + 0.05 * rng.standard_normal(gt.shape)).astype(np.float32)
    if negative:
        pred[0, 0] = -0.01  # the written .hdr (what eval_HDRv.m reads) clips it to 0
    return pred, gt


def test_hdr_vdp2_follows_eval_hdrv_m(monkeypatch: pytest.MonkeyPatch) -> None:
    """hdrvdp(out * 65535, ref * 65535, 'rgb-bt.709', 30): prediction as test, label as reference."""
    import selfhdr.engine.evaluate as evaluate

    cfg = HDRVDP2Config()
    assert (cfg.scale, cfg.pixels_per_degree, cfg.color_encoding) == (65535.0, 30.0, "rgb-bt.709")
    pred, gt = _pair(negative=True)
    pred64, gt64 = pred.astype(np.float64), gt.astype(np.float64)  # scaled in double precision
    expected = hdr_vdp2(np.maximum(pred64, 0) * 65535.0, gt64 * 65535.0, "rgb-bt.709", 30.0).Q
    assert hdr_vdp2_q(pred, gt) == expected
    seen = []
    monkeypatch.setattr(evaluate, "hdr_vdp2", lambda *a: seen.append(a) or hdr_vdp2(*a))
    hdr_vdp2_q(pred, gt, HDRVDP2Config(scale=100.0, pixels_per_degree=60.0, color_encoding="XYZ"))
    (test, ref, enc, ppd), = seen
    np.testing.assert_array_equal(test, np.maximum(pred64, 0) * 100.0)  # the prediction is the test image
    np.testing.assert_array_equal(ref, gt64 * 100.0)
    assert (enc, ppd) == ("XYZ", 60.0)


def test_score_computes_the_named_metrics() -> None:
    pred, gt = _pair()
    assert score(pred, gt) == hdr_metrics(pred, gt)
    got = score(pred, gt, ["hdr_vdp2", "psnr_mu"])
    assert got == {"psnr_mu": hdr_metrics(pred, gt)["psnr_mu"], "hdr_vdp2": hdr_vdp2_q(pred, gt)}


def test_unknown_metrics_are_refused_with_the_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown metric 'vdp'; valid metrics: psnr_mu, psnr_l, ssim_mu, "
                                         "ssim_l, hdr_vdp2"):
        check_metrics(["psnr_mu", "vdp"])
    with pytest.raises(ValueError, match="twice"):
        check_metrics(["psnr_mu", "psnr_mu"])
    with pytest.raises(ConfigError, match="eval.metrics: unknown metric 'HDR-VDP'"):
        load_config(None, ["eval.metrics=[psnr_mu, HDR-VDP]"])
    with pytest.raises(ConfigError, match="eval.hdr_vdp2: pixels_per_degree must be positive"):
        load_config(None, ["eval.hdr_vdp2.pixels_per_degree=0"])
    cfg = load_config(None, ["eval.metrics=[psnr_mu, hdr_vdp2]", "eval.hdr_vdp2.scale=1000"])
    assert cfg.eval.metrics == ["psnr_mu", "hdr_vdp2"] and cfg.eval.hdr_vdp2.scale == 1000.0
    assert load_config(None).eval.metrics == list(METRIC_KEYS)


def test_evaluate_predictor_adds_the_column(tiny_root: Path, tmp_path: Path) -> None:
    data = tmp_path / "Test"
    shutil.copytree(tiny_root / "Test", data)
    (data / "test_001" / "HDRImg.hdr").unlink()
    calls = []

    def predict(scene):  # type: ignore[no-untyped-def]
        calls.append(scene.name)
        return scene.ldrs[1].astype(np.float32) ** 2.2

    with pytest.raises(ValueError, match="valid metrics"):
        evaluate_predictor(data, predict, tmp_path / "bad", metrics=["psnr_mu", "nope"], progress=False)
    assert calls == [] and not (tmp_path / "bad").exists()  # refused before any work

    out = tmp_path / "out"
    res = evaluate_predictor(data, predict, out, metrics=[*METRIC_KEYS, "hdr_vdp2"], progress=False)
    assert res["unlabelled"] == ["test_001"] and (out / "test_001.hdr").is_file()
    scene = read_scene(data / "test_002")
    m = json.loads((out / "metrics.json").read_text())["scenes"]["test_002"]
    assert m["hdr_vdp2"] == pytest.approx(hdr_vdp2_q(predict(scene), scene.hdr), rel=1e-12)
    assert set(m) == {*METRIC_KEYS, "hdr_vdp2", "seconds"} and res["mean"]["hdr_vdp2"] == m["hdr_vdp2"]
    table = markdown_table({"x": res["mean"], "no vdp": {"psnr_mu": 1.0}}, ["psnr_mu", "hdr_vdp2"])
    assert table.splitlines()[0] == "| method | PSNR-μ | HDR-VDP-2 |"
    assert table.splitlines()[2] == f"| x | {res['mean']['psnr_mu']:.2f} | {m['hdr_vdp2']:.2f} |"
    assert table.splitlines()[3] == "| no vdp | 1.00 | – |"


def test_pipeline_test_step_adds_the_column_on_resume(tiny_root: Path, tmp_path: Path) -> None:
    """eval.metrics reaches the test step and the table; a cached metrics.json without it is redone."""
    from selfhdr.engine.pipeline import run

    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    (root / "synthetic.json").unlink()
    (root / "Test" / "test_001" / "HDRImg.hdr").unlink()
    base = ["name=vdp", f"output_dir={tmp_path / 'runs'}", f"data.root={root}", "data.patch_size=24",
            f"model={NET}", "method=supervised", "train.batch_size=2", "train.epochs=1",
            "train.iters_per_epoch=2", "train.val_every=0", "report.baselines=false"]
    first = run(load_config(None, base))["supervised (AHDRNet)"]
    assert "hdr_vdp2" not in first["mean"]
    extra = ["eval.metrics=[psnr_mu, hdr_vdp2]"]
    row = run(load_config(None, base + extra), resume=True, overrides=extra)["supervised (AHDRNet)"]
    assert row["unlabelled"] == ["test_001"] and list(row["scenes"]) == ["test_002"]
    assert row["mean"]["psnr_mu"] == pytest.approx(first["mean"]["psnr_mu"])
    assert np.isfinite(row["mean"]["hdr_vdp2"])
    table = (tmp_path / "runs" / "vdp" / "results.md").read_text().splitlines()
    assert table[0] == "| method | PSNR-μ | HDR-VDP-2 |"
    assert table[2].startswith("| supervised (AHDRNet) |") and f"{row['mean']['hdr_vdp2']:.2f} |" in table[2]
