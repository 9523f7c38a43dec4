"""selfhdr-fuse's wins line and contact sheet (selfhdr.engine.fusion_eval)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from selfhdr.cli.fuse import main as fuse_main
from selfhdr.engine.fusion_eval import SHEET_HEIGHT, FusionReport
from selfhdr.io import write_ldr


def _pairs(root: Path, n: int) -> None:
    g = np.random.default_rng(0)
    for i in range(n):
        base = g.uniform(0, 1, (48, 64, 3)).astype(np.float32)
        d = root / f"p{i}"
        write_ldr(d / f"p{i}_A.png", base * 0.3, bits=8)
        write_ldr(d / f"p{i}_B.png", np.clip(base * 1.8, 0, 1), bits=8)


def test_wins_count_strictly_better_pairs() -> None:
    r = FusionReport(names=["a", "b", "c"], scores={"network": [0.9, 0.8, 0.7], "mertens": [0.8, 0.8, 0.9]})
    assert r.wins() == 1
    assert r.table().splitlines()[-1] == "network above mertens on 1 of 3 pairs (mean difference -0.0333)"


def test_fuse_writes_a_contact_sheet_of_inputs_and_fusions(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _pairs(tmp_path / "pairs", 5)
    out = tmp_path / "out"
    assert fuse_main(["--input", str(tmp_path / "pairs"), "--out", str(out), "--sheet", "3"]) == 0
    assert f"contact sheet: {out / 'contact_sheet.png'}" in capsys.readouterr().out
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    # 3 rows (pairs 0, 2, 4) of under, over, mean, mertens; each tile 180 high, 4-pixel gaps.
    assert sheet.shape[0] == 3 * (SHEET_HEIGHT + 4)
    tile_w = round(64 * SHEET_HEIGHT / 48)
    assert sheet.shape[1] == 4 * tile_w
    # The second row's mertens tile is that pair's fused image, scaled (below its label bar).
    fused = cv2.imread(str(out / "mertens" / "p2.png"))
    expect = cv2.resize(fused, (tile_w, SHEET_HEIGHT), interpolation=cv2.INTER_AREA)
    row = sheet[SHEET_HEIGHT + 4: 2 * SHEET_HEIGHT + 4, 3 * tile_w: 4 * tile_w]
    assert np.abs(row[30:].astype(int) - expect[30:].astype(int)).max() <= 1
    # The under tile of the first row is pair 0's under-exposure, not another pair's.
    under = cv2.resize(cv2.imread(str(tmp_path / "pairs/p0/p0_A.png")), (tile_w, SHEET_HEIGHT),
                       interpolation=cv2.INTER_AREA)
    assert np.abs(sheet[30:SHEET_HEIGHT, :tile_w].astype(int) - under[30:].astype(int)).max() <= 1
