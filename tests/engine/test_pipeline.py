"""SelfHDR end to end at a tiny size: every artefact exists and loads; resume after a crash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from selfhdr.archs import build_from_node, load_checkpoint
from selfhdr.config import load_config
from selfhdr.data import BracketDataset, read_scene
from selfhdr.engine.pipeline import run
from selfhdr.errors import ConfigError
from selfhdr.io import read_hdr
from selfhdr.methods.selfhdr import SelfHDRStage2

NET = "{type: AHDRNet, nf: 4, growth: 4, n_dense: 1, n_rdb: 1}"


def _cfg(tiny_root: Path, tmp_path: Path, name: str = "e2e", **extra: str):  # type: ignore[no-untyped-def]
    root = tmp_path / "data"
    if not root.exists():
        shutil.copytree(tiny_root, root)
    overrides = [
        f"name={name}", f"output_dir={tmp_path / 'runs'}", f"data.root={root}", "data.patch_size=24",
        "data.prepare_workers=1", f"model={NET}", "train.batch_size=2", "train.epochs=1",
        "train.iters_per_epoch=3", "train.log_every=1", "train.image_every=2",
        "selfhdr.stage2.structure_loss=ssim", "report.supervised=true",
        *(f"{k}={v}" for k, v in extra.items()),
    ]
    return load_config(None, overrides)


def test_full_pipeline_artefacts(tiny_root: Path, tmp_path: Path) -> None:
    cfg = _cfg(tiny_root, tmp_path)
    results = run(cfg)
    rd = tmp_path / "runs" / "e2e"
    assert set(results) == {"reference alone", "unaligned merge", "Y_color (aligned merge)",
                            "SelfHDR (AHDRNet)", "supervised (AHDRNet)"}
    assert load_config(rd / "config.yaml") == cfg
    # Y_color in the published download's layout, readable as labels and as inputs.
    align = tmp_path / "data" / "Training_align"
    ds = BracketDataset(align, labels={"gt": "gt"}, original_split=tmp_path / "data" / "Training")
    assert len(ds) == 3 and ds[0]["gt"].shape == (3, 48, 64)
    for stage in ("stage1", "stage2", "supervised"):
        net = build_from_node(cfg.model)
        meta = load_checkpoint(net, rd / stage / "model.pth")
        assert meta["channel_order"] == "rgb" and meta["backbone"]["type"] == "AHDRNet"
        # The published loader reads it: {'state_dict': ...} with plain keys.
        raw = torch.load(rd / stage / "model.pth", map_location="cpu", weights_only=True)
        assert set(raw["state_dict"]) == set(net.state_dict())
    stru = sorted((rd / "stru").glob("*.hdr"))
    assert [p.stem for p in stru] == ["train_001", "train_002", "train_003"]
    assert read_hdr(stru[0]).shape == (48, 64, 3) and (rd / "stru" / "train_001.png").is_file()
    metrics = json.loads((rd / "test" / "selfhdr" / "metrics.json").read_text())
    assert set(metrics["scenes"]) == {"test_001", "test_002"}
    assert set(metrics["mean"]) == {"psnr_l", "psnr_mu", "ssim_l", "ssim_mu", "seconds"}
    pred = read_hdr(rd / "test" / "selfhdr" / "test_001.hdr")
    gt = read_scene(tmp_path / "data" / "Test" / "test_001").hdr
    assert pred.shape == gt.shape and (rd / "test" / "selfhdr" / "test_001.png").is_file()
    assert json.loads((rd / "results.json").read_text()).keys() == results.keys()
    assert "| SelfHDR (AHDRNet) |" in (rd / "results.md").read_text()
    assert any((rd / "tb").iterdir())  # TensorBoard events
    # Running the same config again reuses every finished stage.
    stamp = (rd / "stage2" / "model.pth").stat().st_mtime_ns
    again = run(cfg)
    assert (rd / "stage2" / "model.pth").stat().st_mtime_ns == stamp
    assert again["SelfHDR (AHDRNet)"]["mean"] == results["SelfHDR (AHDRNet)"]["mean"]
    # Asking for other comparison rows reuses the finished stages.
    fewer = run(_cfg(tiny_root, tmp_path, **{"report.supervised": "false", "report.baselines": "false"}))
    assert set(fewer) == {"Y_color (aligned merge)", "SelfHDR (AHDRNet)"}
    assert (rd / "stage2" / "model.pth").stat().st_mtime_ns == stamp
    assert load_config(rd / "config.yaml").report.supervised is False
    # A different config under the same name is refused, naming the difference.
    with pytest.raises(ConfigError, match=r"train\.epochs: 1 → 2"):
        run(_cfg(tiny_root, tmp_path, **{"train.epochs": "2"}))


def test_resume_after_a_crash_in_stage2(tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg(tiny_root, tmp_path, name="crash", **{"report.supervised": "false", "train.checkpoint_every": "1"})
    real = SelfHDRStage2.training_step
    calls = {"n": 0}

    def crash(self, batch):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, batch)

    monkeypatch.setattr(SelfHDRStage2, "training_step", crash)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    rd = tmp_path / "runs" / "crash"
    assert (rd / "stage1" / "model.pth").exists() and not (rd / "stage2" / "model.pth").exists()
    assert (rd / "stage2" / "checkpoint.pth").exists()
    stamp = (rd / "stage1" / "model.pth").stat().st_mtime_ns
    monkeypatch.setattr(SelfHDRStage2, "training_step", real)
    with pytest.raises(ConfigError, match="no run to resume"):
        run(_cfg(tiny_root, tmp_path, name="never"), resume=True)
    results = run(cfg, resume=True)
    assert (rd / "stage1" / "model.pth").stat().st_mtime_ns == stamp  # stage 1 not redone
    assert (rd / "stage2" / "model.pth").exists()
    assert np.isfinite(results["SelfHDR (AHDRNet)"]["mean"]["psnr_mu"])


def test_fusion_method_end_to_end(tmp_path: Path) -> None:
    cfg = load_config(None, [
        "name=fusion", f"output_dir={tmp_path / 'runs'}", f"data.root={tmp_path / 'static'}",
        "data.synthetic={height: 48, width: 64, n_train: 2, n_test: 2, seed: 3, motion_px: [0.0, 0.0], "
        "shake_px: 0.0, shake_deg: 0.0}",
        "data.patch_size=32", "method=fusion", "fusion.net={widths: [4, 8], convs_per_stage: 1}",
        "train.batch_size=2", "train.epochs=1", "train.iters_per_epoch=2", "train.image_every=0",
    ])
    results = run(cfg)
    rd = tmp_path / "runs" / "fusion"
    assert set(results) == {"fusion network", "mean", "mertens"}
    assert all(0.0 < r["mean"]["mef_ssim"] <= 1.0 for r in results.values())
    report = json.loads((rd / "results.json").read_text())
    assert set(report["pairs"]) == {"test_001", "test_002"}
    assert (rd / "test" / "fusion" / "network" / "test_001.png").is_file()
    # The HDR baselines (reference alone, unaligned merge) have no place in a fusion run.
    assert sorted(p.name for p in (rd / "test").iterdir()) == ["fusion"]
    assert "| fusion network |" in (rd / "results.md").read_text()
