"""prepare_color / scripts/prepare_color.py: layout, idempotence, atomicity, errors, dataset round trip."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from selfhdr.align import AlignConfig, compute_color, prepare_color
from selfhdr.data import read_scene
from selfhdr.data.dataset import BracketDataset, label_path
from selfhdr.errors import InputError
from selfhdr.io import read_hdr

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def root(tiny_root: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "root"
    shutil.copytree(tiny_root, dst)
    return dst


def test_writes_the_selfhdr_layout_and_reads_back(root: Path) -> None:
    summary = prepare_color(root, "Training", workers=1, progress=False)
    assert (summary.written, summary.skipped) == (3, 0)
    out = root / "Training_align"
    assert sorted(p.name for p in out.iterdir()) == ["train_001", "train_002", "train_003"]
    src = root / "Training" / "train_002"
    files = sorted(p.name for p in (out / "train_002").iterdir())
    assert files == ["HDRImg.hdr", "HDRImg_preview.png", "exposure.txt",
                     "frame_1.tif", "frame_2.tif", "frame_3.tif"]
    dst = out / "train_002"
    assert (dst / "frame_2.tif").read_bytes() == (src / "frame_2.tif").read_bytes()  # reference as is
    assert (dst / "exposure.txt").read_text().split() == (src / "exposure.txt").read_text().split()
    # The label is Y_color of the source scene (RGBE keeps ~1% precision).
    scene = read_scene(src)
    expected = compute_color(scene.ldrs, scene.times, AlignConfig()).hdr
    label = read_hdr(label_path(out, "train_002"))
    assert label_path(out, "train_002") == out / "train_002" / "HDRImg.hdr"
    np.testing.assert_allclose(label, expected, rtol=0.02, atol=1e-4)
    aligned = read_scene(out / "train_002", with_hdr=False)
    np.testing.assert_allclose(aligned.times, scene.times)
    ds = BracketDataset(out, labels={"color": out}, original_split=root / "Training")
    item = ds[1]
    assert item["name"] == "train_002" and tuple(item["color"].shape) == (3, 48, 64)
    np.testing.assert_allclose(item["color"].numpy().transpose(1, 2, 0), label, rtol=1e-6)


def test_idempotent_and_force(root: Path) -> None:
    prepare_color(root, "Test", workers=1, progress=False)
    label = root / "Test_align" / "test_001" / "HDRImg.hdr"
    before = label.stat().st_mtime_ns
    again = prepare_color(root, "Test", workers=1, progress=False)
    assert (again.written, again.skipped) == (0, 2)
    assert label.stat().st_mtime_ns == before
    # An incomplete scene (a frame lost) is redone; the others are kept.
    (root / "Test_align" / "test_002" / "frame_3.tif").unlink()
    partial = prepare_color(root, "Test", workers=1, progress=False)
    assert (partial.written, partial.skipped) == (1, 1)
    forced = prepare_color(root, "Test", workers=1, force=True, progress=False)
    assert (forced.written, forced.skipped) == (2, 0)
    assert label.stat().st_mtime_ns != before
    assert not [p for p in (root / "Test_align").iterdir() if p.name.startswith(".")]


def test_bad_scenes_fail_naming_the_scene(root: Path) -> None:
    (root / "Test" / "test_002" / "exposure.txt").write_text("0 2\n")
    with pytest.raises(InputError, match=r"test_002.*expected 3 exposure values"):
        prepare_color(root, "Test", workers=2, progress=False)  # raised in a worker process
    # The good scene was finished (or never started); no temporary folders are left behind.
    assert not (root / "Test_align" / "test_002").exists()
    assert not [p for p in (root / "Test_align").iterdir() if p.name.startswith(".")]
    (root / "Test" / "test_001" / "frame_1.tif").unlink()
    with pytest.raises(InputError, match=r"test_001.*expected 3 \.tif frames, found 2"):
        prepare_color(root, "Test", workers=1, progress=False)


def test_script_exits_2_with_a_clear_message(root: Path) -> None:
    (root / "Training" / "train_003" / "frame_2.tif").write_bytes(b"not a tiff")
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "prepare_color.py"), "--data-root", str(root),
         "--workers", "1"], capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "train_003" in proc.stderr and "frame_2.tif" in proc.stderr and "cannot decode" in proc.stderr
    assert "Traceback" not in proc.stderr
