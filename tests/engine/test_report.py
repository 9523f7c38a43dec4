"""The training report: the scalar history (exact across resume) and the learning-curve PNGs
that every run's results.md embeds."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest

from conftest import crash_stage2_at
from selfhdr.config import load_config
from selfhdr.engine.history import History, read_history, series
from selfhdr.engine.pipeline import run
from selfhdr.engine.plots import compared_curves, learning_curves, val_keys
from selfhdr.methods.selfhdr import SelfHDRStage2

NET = "{type: AHDRNet, nf: 4, growth: 4, n_dense: 1, n_rdb: 1}"
C0, C1, C2 = (31, 119, 180), (255, 127, 14), (44, 160, 44)  # matplotlib's first colours, RGB


def _mask(img: np.ndarray, rgb: tuple) -> np.ndarray:
    # Lines are antialiased: a thin one straddling two pixel rows is paler than its colour.
    return np.abs(img[..., ::-1].astype(int) - np.array(rgb)).max(axis=2) < 60


def _rows_by_column(mask: np.ndarray) -> tuple:
    cols = np.flatnonzero(mask.any(axis=0))
    return cols, np.array([np.flatnonzero(mask[:, c]).mean() for c in cols])


def _records() -> List[dict]:
    recs = [{"tag": "s", "step": t, "values": {"loss": 1.0 - 0.02 * t, "lr": 1e-4}} for t in range(1, 41)]
    recs += [{"tag": "s/val", "step": t, "values": {"psnr_mu": 20.0 + t / 4}} for t in (10, 20, 30, 40)]
    return recs


def test_learning_curves_put_the_data_where_it_belongs(tmp_path: Path) -> None:
    out = learning_curves(_records(), tmp_path / "c.png", refs={"Y_color": 32.0, "unaligned merge": 18.0},
                          title="tiny")
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 200 and img.shape[1] > 600
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file was replaced
    h, w = img.shape[:2]
    left, right = img[:, : w // 2], img[:, w // 2:]
    # The loss falls: its curve goes down the image (rows grow) from left to right.
    cols, rows = _rows_by_column(_mask(left, C0))
    assert cols.size > 150 and np.corrcoef(cols, rows)[0, 1] > 0.9
    # Validation PSNR-μ rises: rows shrink from left to right.
    cols, rows = _rows_by_column(_mask(right, C0))
    assert cols.size > 150 and np.corrcoef(cols, rows)[0, 1] < -0.9
    # Reference lines: horizontal, the higher value above the curve, the lower below it.
    top_rows = Counter(np.nonzero(_mask(right, C1))[0]).most_common(1)[0]
    low_rows = Counter(np.nonzero(_mask(right, C2))[0]).most_common(1)[0]
    assert top_rows[1] > 150 and low_rows[1] > 150  # a long run of pixels on one row
    assert top_rows[0] < rows.min() and low_rows[0] > rows.max()


def test_compared_curves_draw_each_stage_and_the_references(tmp_path: Path) -> None:
    recs = [{"tag": "stage2/val", "step": t, "values": {"psnr_mu": 20.0 + t / 4}} for t in range(10, 410, 10)]
    recs += [{"tag": "supervised/val", "step": t, "values": {"psnr_mu": 18.0 + t / 8}} for t in range(10, 410, 10)]
    img = cv2.imread(str(compared_curves(recs, tmp_path / "c.png", ["stage2", "supervised", "cues"])))
    img = img[:, : img.shape[1] * 3 // 5]  # left of the legend (lower right)
    s2_cols, s2_rows = _rows_by_column(_mask(img, C0))
    sup_cols, sup_rows = _rows_by_column(_mask(img, C1))
    assert s2_cols.size > 250 and np.corrcoef(s2_cols, s2_rows)[0, 1] < -0.9  # rising
    assert sup_cols.size > 250 and np.corrcoef(sup_cols, sup_rows)[0, 1] < -0.9
    # At the right end stage 2 (120 dB) is above the supervised curve (68 dB): a smaller row.
    assert s2_rows[-20:].mean() < sup_rows[-20:].mean() - 50
    # A reference: a horizontal line in the colour after the three stages' (cues drew nothing).
    img = cv2.imread(str(compared_curves(recs, tmp_path / "r.png", ["stage2", "supervised", "cues"],
                                         refs={"merge": 40.0})))
    line_row, count = Counter(np.nonzero(_mask(img, (214, 39, 40)))[0]).most_common(1)[0]
    assert count > 250 and sup_rows.min() < line_row < sup_rows.max()
    with pytest.raises(ValueError, match="no stage of \\['cues'\\] logged validation 'psnr_mu'"):
        compared_curves(recs, tmp_path / "d.png", ["cues"])


def test_val_keys_prefer_the_score_and_the_proxy_without_labels() -> None:
    recs = [{"tag": "a/val", "step": 1, "values": {"proxy_psnr_mu_vs_Y_color": 1.0, "proxy_l1_mu_vs_Y_color": 0.1}},
            {"tag": "b/val", "step": 1, "values": {"psnr_mu": 1.0}},
            {"tag": "c/val", "step": 1, "values": {"other": 1.0}}]
    assert val_keys(recs, "a") == ["proxy_psnr_mu_vs_Y_color"]
    assert val_keys(recs, "b") == ["psnr_mu"] and val_keys(recs, "c") == ["other"]
    assert val_keys(recs, "a", scores=["proxy_l1_mu_vs_Y_color"]) == ["proxy_l1_mu_vs_Y_color"]


def test_history_restart_drops_only_that_stage_after_the_step(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    h = History(path)
    for t in range(1, 6):
        h.append("stage1", t, {"loss": t})
        h.append("stage2", t, {"loss": 10 + t})
    h.append("stage2/val", 4, {"psnr_mu": 30})
    h.append("stage2/val", 5, {"psnr_mu": 31})
    with open(path, "a") as f:
        f.write('{"tag": "stage2", "st')  # a write cut short by a crash
    assert len(read_history(path)) == 12  # the torn line is skipped
    h.restart("stage2", 3)
    recs = read_history(path)
    assert [r["step"] for r in recs if r["tag"] == "stage1"] == [1, 2, 3, 4, 5]
    assert [r["step"] for r in recs if r["tag"].startswith("stage2")] == [1, 2, 3]
    assert path.read_text().endswith("}\n")
    History(path, enabled=False).append("stage1", 9, {"loss": 0})  # another rank: writes nothing
    assert series(read_history(path), "stage1", "loss") == [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]]


def _cfg(tiny_root: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    return load_config(None, [
        "name=report", f"output_dir={tmp_path / 'runs'}", f"data.root={root}", "data.patch_size=24",
        "data.prepare_workers=1", f"model={NET}", "train.batch_size=2", "train.epochs=2",
        "train.iters_per_epoch=3", "train.log_every=1", "train.image_every=0", "train.checkpoint_every=2",
        "selfhdr.stage2.structure_loss=ssim"])


def _lines(path: Path, tag: str) -> List[int]:
    return [r["step"] for r in map(json.loads, path.read_text().splitlines()) if r["tag"] == tag]


def test_report_curves_and_history_across_a_resume(tiny_root: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg(tiny_root, tmp_path)
    real = crash_stage2_at(monkeypatch, 5)  # step 5: step 4 is logged, the last checkpoint is at step 3
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    rd = tmp_path / "runs" / "report"
    history = rd / "history.jsonl"
    assert _lines(history, "stage2") == [1, 2, 3, 4]
    before = series(read_history(history), "stage2", "loss")
    monkeypatch.setattr(SelfHDRStage2, "training_step", real)
    results = run(cfg, resume=True)
    # Every step once per stage: step 4 was dropped at the restart and logged again.
    for stage in ("stage1", "stage2"):
        assert _lines(history, stage) == [1, 2, 3, 4, 5, 6], stage
        assert _lines(history, f"{stage}/val") == [3, 6], stage
    after = series(read_history(history), "stage2", "loss")
    assert after[1][:4] == before[1]  # the resumed run repeats the interrupted one exactly
    assert set(read_history(history)[-1]["values"]) == {"psnr_mu"}
    # results.md: the table, and links to every stage's curves, which are real pictures.
    md = (rd / "results.md").read_text()
    assert "| SelfHDR (AHDRNet) |" in md
    links = re.findall(r"!\[([^]]+)\]\(([^)]+)\)", md)
    assert links == [("stage1", "curves_stage1.png"), ("stage2", "curves_stage2.png"),
                     ("compared", "curves_compared.png")]
    assert json.loads((rd / "results.json").read_text())["curves"] == dict(links)
    assert set(json.loads((rd / "results.json").read_text())) == set(results) | {"curves"}
    for _, name in links:
        img = cv2.imread(str(rd / name))
        assert img is not None and img.shape[0] > 200 and img.shape[1] > 600, name
        assert img.std() > 10 and len(np.unique(img.reshape(-1, 3), axis=0)) > 50, name
        # The baselines' and Y_color's test PSNR-μ are dashed lines (colours after the one score).
        assert _mask(img[:, img.shape[1] // 2:], C1).sum() > 150, name
    assert "Dashed lines" in md
