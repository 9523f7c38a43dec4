"""SelfHDR end to end at a tiny size: what each artefact holds, the data flow of both stages,
and resume after a crash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from conftest import crash_stage2_at
from selfhdr.archs import build_from_node, load_checkpoint
from selfhdr.config import load_config
from selfhdr.data import BracketDataset, read_scene
from selfhdr.engine.pipeline import run
from selfhdr.engine.predict import predict_hdr
from selfhdr.errors import ConfigError
from selfhdr.io import read_hdr
from selfhdr.methods.selfhdr import SelfHDRStage1, SelfHDRStage2
from selfhdr.methods.supervised import Supervised
from selfhdr.metrics import hdr_metrics

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


Record = Tuple[Dict[str, Any], Tuple[torch.Tensor, ...]]


def _record(monkeypatch: pytest.MonkeyPatch, cls: type, store: List[Record]) -> None:
    """Keep every training batch of ``cls`` and the frames its network was given."""
    real = cls.training_step

    def step(self, batch):  # type: ignore[no-untyped-def]
        seen: List[Tuple[torch.Tensor, ...]] = []
        hook = self.net.register_forward_pre_hook(
            lambda module, args: seen.append(tuple(a.detach().clone() for a in args)))
        try:
            result = real(self, batch)
        finally:
            hook.remove()
        store.append(({k: v.detach().clone() if torch.is_tensor(v) else v for k, v in batch.items()},
                      seen[0]))
        return result

    monkeypatch.setattr(cls, "training_step", step)


def _chw(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def _frame(ldr: np.ndarray, t: float) -> torch.Tensor:
    """The published network input of one frame, written out: [LDR**2.2 / t, LDR]."""
    return _chw(np.concatenate([ldr**2.2 / (t + 1e-8), ldr], axis=2).astype(np.float32))


def _locate(patch: torch.Tensor, full: np.ndarray) -> Tuple[Tuple[slice, slice], float]:
    """Where the 3×p×p ``patch`` lies in the H×W×3 image ``full``, and the mean error there."""
    p = patch.shape[-1]
    windows = sliding_window_view(full, (p, p), axis=(0, 1))  # (H−p+1)×(W−p+1)×3×p×p
    err = np.abs(windows - patch.numpy()[None, None]).mean(axis=(2, 3, 4))
    y, x = np.unravel_index(int(err.argmin()), err.shape)
    return (slice(y, y + p), slice(x, x + p)), float(err.min())


def _rgbe_close(written: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Per value: within RGBE's truncation (1/128 of the pixel's largest channel) of ``expected``."""
    return np.abs(written - expected) <= expected.max(axis=2, keepdims=True) / 128 + 1e-6


def _check_training_batches(data: Path, rd: Path, stage: str, records: List[Record]) -> bool:
    """Inputs are crops of the *unaligned* Training frames, labels the same crops of
    Training_align / Y_stru / HDRImg.hdr, and stage 2's network gets a noisy reference.
    Returns whether the aligned frames would have looked different in some crop."""
    assert records, f"{stage}: no training step recorded"
    sigma = 0.5 / 255
    aligned_differs = False
    for batch, seen in records:
        for i, name in enumerate(batch["name"]):
            scene = read_scene(data / "Training" / name)
            aligned = read_scene(data / "Training_align" / name, with_hdr=False)
            t = scene.times
            # The reference is the same frame in both folders: it locates the crop exactly.
            crop, err = _locate(batch["x2"][i, 3:6], scene.ldrs[1])
            assert err < 1e-7, (stage, name, err)
            for k in range(3):
                expected = _frame(scene.ldrs[k][crop], float(t[k]))
                torch.testing.assert_close(batch[f"x{k + 1}"][i], expected, rtol=0, atol=1e-6)
                aligned_differs |= not torch.allclose(_frame(aligned.ldrs[k][crop], float(t[k])), expected,
                                                      rtol=0, atol=1e-3)
            labels = {"color": read_hdr(data / "Training_align" / name / "HDRImg.hdr")}
            if stage == "stage2":
                labels["stru"] = read_hdr(rd / "stru" / f"{name}.hdr")
            if stage == "supervised":
                labels = {"gt": scene.hdr}
            for key, img in labels.items():
                assert torch.equal(batch[key][i], _chw(img[crop])), (stage, key, name)
            assert torch.equal(seen[0][i], batch["x1"][i]) and torch.equal(seen[2][i], batch["x3"][i])
            if stage != "stage2":
                assert torch.equal(seen[1][i], batch["x2"][i])
                continue
            # Stage 2's network sees the reference LDR with Gaussian noise of the published σ
            # (clamped to [0, 1]) and its linear channels recomputed from the noisy LDR.
            noisy, clean = seen[1][i, 3:6], batch["x2"][i, 3:6]
            delta = (noisy - clean)[(clean > 0.01) & (clean < 0.99)]
            assert 0.8 * sigma < float(delta.std()) < 1.2 * sigma, (name, float(delta.std()))
            assert abs(float(delta.mean())) < 0.2 * sigma
            torch.testing.assert_close(seen[1][i, 0:3], noisy**2.2 / (float(t[1]) + 1e-8))
    return aligned_differs


def _check_structure(data: Path, rd: Path, cfg: Any) -> None:
    """Y_stru files are the stage-1 network run on the *aligned* training frames."""
    net = build_from_node(cfg.model)
    load_checkpoint(net, rd / "stage1" / "model.pth")
    net.eval()
    unaligned_fits = []
    for path in sorted((rd / "stru").glob("*.hdr")):
        written = read_hdr(path)
        aligned = read_scene(data / "Training_align" / path.stem, with_hdr=False)
        original = read_scene(data / "Training" / path.stem, with_hdr=False)
        assert _rgbe_close(written, predict_hdr(net, aligned.ldrs, aligned.times)).all(), path.stem
        unaligned = predict_hdr(net, original.ldrs, original.times)
        unaligned_fits.append(bool(_rgbe_close(written, unaligned).all()))
    assert not all(unaligned_fits)  # the unaligned frames give another Y_stru: the check can fail


def _check_test_outputs(data: Path, rd: Path, cfg: Any, results: Dict[str, Dict]) -> None:
    """The stage-2 model reproduces the written test outputs and their metrics; every table
    row is its per-scene metrics' mean, and the baselines' metrics are recomputed here."""
    net = build_from_node(cfg.model)
    load_checkpoint(net, rd / "stage2" / "model.pth")
    net.eval()
    keys = ("psnr_mu", "psnr_l", "ssim_mu", "ssim_l")
    metrics = json.loads((rd / "test" / "selfhdr" / "metrics.json").read_text())
    for name in ("test_001", "test_002"):
        scene = read_scene(data / "Test" / name)
        pred = predict_hdr(net, scene.ldrs, scene.times)
        assert _rgbe_close(read_hdr(rd / "test" / "selfhdr" / f"{name}.hdr"), np.maximum(pred, 0)).all()
        again = hdr_metrics(pred, scene.hdr)
        for k in keys:
            assert metrics["scenes"][name][k] == pytest.approx(again[k], rel=1e-6, abs=1e-9), (name, k)
        # The baselines, written out: the reference frame linearised, and the triangle merge.
        lin = [ldr.astype(np.float64) ** 2.2 / (t + 1e-8) for ldr, t in zip(scene.ldrs, scene.times)]
        r = scene.ldrs[1].astype(np.float64)
        merge = np.where(r < 0.5, 2 * r * lin[1] + (1 - 2 * r) * lin[2],
                         (2 * r - 1) * lin[0] + (2 - 2 * r) * lin[1])
        for row, img in (("reference alone", lin[1]), ("unaligned merge", merge)):
            expected = hdr_metrics(img.astype(np.float32), scene.hdr)
            for k in keys:
                assert results[row]["scenes"][name][k] == pytest.approx(expected[k], rel=1e-5), (row, k)
    table = (rd / "results.md").read_text().splitlines()
    saved = json.loads((rd / "results.json").read_text())
    saved.pop("curves")
    for row, res in saved.items():
        for k in keys:
            assert res["mean"][k] == pytest.approx(np.mean([m[k] for m in res["scenes"].values()]), rel=1e-12)
        m = res["mean"]
        line = f"| {row} | {m['psnr_mu']:.2f} | {m['psnr_l']:.2f} | {m['ssim_mu']:.4f} | {m['ssim_l']:.4f} |"
        assert line in table, (line, table)


def test_full_pipeline_artefacts(tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg(tiny_root, tmp_path)
    records: Dict[str, List[Record]] = {"stage1": [], "stage2": [], "supervised": []}
    for stage, cls in (("stage1", SelfHDRStage1), ("stage2", SelfHDRStage2), ("supervised", Supervised)):
        _record(monkeypatch, cls, records[stage])
    results = run(cfg)
    monkeypatch.undo()
    data = tmp_path / "data"
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
    assert json.loads((rd / "results.json").read_text()).keys() == results.keys() | {"curves"}
    assert "| SelfHDR (AHDRNet) |" in (rd / "results.md").read_text()
    assert any((rd / "tb").iterdir())  # TensorBoard events
    # What the artefacts hold, and what each stage trained on.
    differs = [_check_training_batches(data, rd, stage, recs) for stage, recs in records.items()]
    assert differs[0] and differs[1]  # aligned inputs would have been caught in both stages
    assert [len(r) for r in records.values()] == [3, 3, 3]
    _check_structure(data, rd, cfg)
    _check_test_outputs(data, rd, cfg, results)
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
    real = crash_stage2_at(monkeypatch, 3)
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
    # The learning curves, with the baselines' MEF-SSIM as lines, beside the table.
    assert "![fusion](curves_fusion.png)" in (rd / "results.md").read_text()
    assert report["curves"] == {"fusion": "curves_fusion.png"} and (rd / "curves_fusion.png").stat().st_size > 10_000
