"""SelfHDR with no ground truth anywhere: no HDRImg.hdr in either split, no Test split, mixed splits."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import List

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from selfhdr.archs import build_from_node, load_checkpoint
from selfhdr.config import load_config
from selfhdr.engine.pipeline import run
from selfhdr.engine.splits import hold_out, resolve_splits
from selfhdr.cli.train import main as train_main
from selfhdr.data.synthetic import SyntheticSpec, write_dataset
from selfhdr.errors import ConfigError, InputError
from selfhdr.io import read_hdr

TINY = SyntheticSpec(height=48, width=64, n_train=3, n_test=2, seed=7)

NET = "{type: AHDRNet, nf: 4, growth: 4, n_dense: 1, n_rdb: 1}"


def _unlabelled_copy(tiny_root: Path, tmp_path: Path, keep_test: bool = True, keep_labels: List[str] = ()) -> Path:
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    (root / "synthetic.json").unlink()
    if not keep_test:
        shutil.rmtree(root / "Test")
    for label in root.glob("*/*/HDRImg.hdr"):
        if label.parent.name not in keep_labels:
            label.unlink()
    return root


def _cfg(root: Path, tmp_path: Path, *extra: str):  # type: ignore[no-untyped-def]
    return load_config(None, [
        "name=nolabels", f"output_dir={tmp_path / 'runs'}", f"data.root={root}", "data.patch_size=24",
        "data.prepare_workers=1", f"model={NET}", "train.batch_size=2", "train.epochs=1",
        "train.iters_per_epoch=3", "train.log_every=1", "selfhdr.stage2.structure_loss=ssim",
        "report.supervised=true", *extra])


def _tags(tb: Path) -> List[str]:
    tags: List[str] = []
    for f in tb.glob("events.*"):
        acc = EventAccumulator(str(f))
        acc.Reload()
        tags += acc.Tags()["scalars"] + acc.Tags()["images"]
    return tags


def _check_outputs(folder: Path, names: List[str]) -> None:
    for n in names:
        hdr = read_hdr(folder / f"{n}.hdr")
        assert hdr.shape == (48, 64, 3) and np.isfinite(hdr).all() and hdr.max() > 0
        assert (folder / f"{n}.png").is_file()


def test_no_labels_in_either_split(tiny_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                   capsys: pytest.CaptureFixture) -> None:
    root = _unlabelled_copy(tiny_root, tmp_path)
    assert not list(root.rglob("HDRImg.hdr"))
    with caplog.at_level(logging.INFO):
        results = run(_cfg(root, tmp_path))
    rd = tmp_path / "runs" / "nolabels"
    # Nothing needed a label: SelfHDR trained both stages and tested; label rows were skipped.
    assert list(results) == ["SelfHDR (AHDRNet)"]
    assert results["SelfHDR (AHDRNet)"]["mean"] == {}
    assert results["SelfHDR (AHDRNet)"]["unlabelled"] == ["test_001", "test_002"]
    _check_outputs(rd / "test" / "selfhdr", ["test_001", "test_002"])
    for stage in ("stage1", "stage2"):
        load_checkpoint(build_from_node(load_config(rd / "config.yaml").model), rd / stage / "model.pth")
    skips = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skips) == 3 and any(s.startswith("baselines") for s in skips) \
        and any(s.startswith("Y_color score") for s in skips) and any(s.startswith("supervised row") for s in skips)
    # Validation used the label-free proxy on the (unlabelled) Test split, made Test_align for it,
    # and logged it under a name that says so, with a preview image.
    tags = _tags(rd / "tb")
    assert "stage1/val/proxy_psnr_mu_vs_Y_color" in tags and "stage2/val/proxy_l1_mu_vs_Y_color" in tags
    assert not any(t.endswith("val/psnr_mu") for t in tags)
    assert "stage2/val/output" in tags and "stage2/val/Y_color" in tags
    assert (root / "Test_align" / "test_001" / "HDRImg.hdr").is_file()
    out = capsys.readouterr().out
    phases = [line for line in out.splitlines() if line.startswith("[")]
    assert phases == ["[1/7] data", "[2/7] Y_color", "[3/7] stage 1", "[4/7] Y_stru", "[5/7] stage 2",
                      "[6/7] test SelfHDR", "[7/7] report"]
    assert out.count("stage1 epoch 1/1:") == 1  # each validation printed once
    assert "2 of 2 test scenes have no label" in out
    assert "test_001" not in (rd / "results.md").read_text() and "outputs only" in (rd / "results.md").read_text()
    # The report's curves draw the proxy (no baselines to draw as lines: no labelled test scenes).
    assert "![stage2](curves_stage2.png)" in (rd / "results.md").read_text() and (rd / "curves_stage2.png").is_file()
    assert "proxy_psnr_mu_vs_Y_color" in (rd / "history.jsonl").read_text()
    assert json.loads((rd / "test" / "selfhdr" / "metrics.json").read_text())["unlabelled"] == ["test_001", "test_002"]


def test_no_test_split_holds_out_training_scenes(tiny_root: Path, tmp_path: Path) -> None:
    root = _unlabelled_copy(tiny_root, tmp_path, keep_test=False)
    splits = resolve_splits(root, "Training", "Test", None, seed=0)
    assert splits.held_out == hold_out(["train_001", "train_002", "train_003"], 0.1, 0) and len(splits.held_out) == 1
    assert splits.test == splits.val and splits.test.names == splits.held_out
    assert splits.held_out[0] not in splits.train.names and len(splits.train.names) == 2
    results = run(_cfg(root, tmp_path))
    rd = tmp_path / "runs" / "nolabels"
    assert results["SelfHDR (AHDRNet)"]["unlabelled"] == splits.held_out
    _check_outputs(rd / "test" / "selfhdr", splits.held_out)
    # The held-out scene never trained: Y_stru exists only for the training scenes.
    assert sorted(p.stem for p in (rd / "stru").glob("*.hdr")) == splits.train.names


def test_no_test_split_and_no_hold_out_skips_the_test(tiny_root: Path, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    root = _unlabelled_copy(tiny_root, tmp_path, keep_test=False)
    with caplog.at_level(logging.INFO):
        results = run(_cfg(root, tmp_path, "data.val_fraction=0", "train.val_every=0"))
    assert results == {}
    assert (tmp_path / "runs" / "nolabels" / "stage2" / "model.pth").is_file()
    assert any(r.getMessage().startswith("test: skipped") for r in caplog.records)
    assert "No test scenes" in (tmp_path / "runs" / "nolabels" / "results.md").read_text()


def test_mixed_test_split_scores_the_labelled_scenes(tiny_root: Path, tmp_path: Path) -> None:
    root = _unlabelled_copy(tiny_root, tmp_path, keep_labels=["test_002"])
    results = run(_cfg(root, tmp_path, "train.val_every=0"))
    row = results["SelfHDR (AHDRNet)"]
    assert list(row["scenes"]) == ["test_002"] and row["unlabelled"] == ["test_001"]
    assert set(row["mean"]) >= {"psnr_mu", "psnr_l", "ssim_mu", "ssim_l"}
    # Baselines and Y_color's score cover exactly the labelled scene.
    assert list(results["reference alone"]["scenes"]) == ["test_002"]
    assert list(results["Y_color (aligned merge)"]["scenes"]) == ["test_002"]
    assert "supervised (AHDRNet)" not in results
    _check_outputs(tmp_path / "runs" / "nolabels" / "test" / "selfhdr", ["test_001", "test_002"])


def test_supervised_method_without_labels_fails_early(tiny_root: Path, tmp_path: Path) -> None:
    root = _unlabelled_copy(tiny_root, tmp_path)
    with pytest.raises(InputError, match="method: supervised needs HDRImg.hdr in every training scene; 3 of 3"):
        run(_cfg(root, tmp_path, "method=supervised"))
    assert not (tmp_path / "runs" / "nolabels" / "supervised").exists()


def test_synthetic_config_never_writes_into_real_data(tiny_root: Path, tmp_path: Path) -> None:
    root = _unlabelled_copy(tiny_root, tmp_path)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    cfg = load_config(None, [f"output_dir={tmp_path / 'runs'}", f"data.root={root}",
                             "data.synthetic={height: 48, width: 64, n_train: 3, n_test: 2, seed: 7}",
                             "data.prepare_workers=1", "selfhdr.stage2.structure_loss=ssim", "train.batch_size=2"])
    cfg.train.epochs, cfg.train.iters_per_epoch, cfg.data.patch_size = 1, 1, 24
    cfg.model = {"type": "AHDRNet", "nf": 4, "growth": 4, "n_dense": 1, "n_rdb": 1}
    run(cfg)  # trains on the real data as it is
    added = {p.relative_to(root).parts[:2] for p in root.rglob("*")} - {p.parts[:2] for p in before}
    assert all(part[0].endswith("_align") for part in added), added  # only Y_color was made
    with pytest.raises(ValueError, match="not synthetic .*--set data.synthetic=null"):
        write_dataset(root, TINY, progress=False)
    # A synthetic root whose labels were deleted keeps its scenes as they are.
    write_dataset(root.parent / "synth", TINY, progress=False)
    (root.parent / "synth" / "Test" / "test_001" / "HDRImg.hdr").unlink()
    write_dataset(root.parent / "synth", TINY, progress=False)
    assert not (root.parent / "synth" / "Test" / "test_001" / "HDRImg.hdr").exists()


def test_misspelt_data_root_is_not_generated(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
    rc = train_main(["--config", str(config), "--set", f"data.root={tmp_path / 'data' / 'synthtic'}",
                     "--set", f"output_dir={tmp_path / 'runs'}"])
    err = capsys.readouterr().err
    assert rc == 2 and "synthtic: no dataset there" in err and "--make-data" in err
    assert "Traceback" not in err and not (tmp_path / "data").exists()
    assert not (tmp_path / "runs" / "demo" / "config.yaml").exists()


def test_missing_vgg_weights_fail_before_training(tiny_root: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # an empty cache
    root = _unlabelled_copy(tiny_root, tmp_path)
    with pytest.raises(ConfigError, match="VGG19 weights file .*nowhere.pth not found"):
        run(_cfg(root, tmp_path, "selfhdr.stage2.structure_loss=vgg", "selfhdr.stage2.vgg_weights=nowhere.pth"))
    assert not (tmp_path / "runs" / "nolabels" / "stage1").exists()
    assert not (root / "Training_align").exists()
