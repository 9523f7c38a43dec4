"""prepare_color / scripts/prepare_color.py: layout, idempotence, atomicity, errors, dataset round trip."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from align_helpers import bracket, texture

from selfhdr.align import prepare_color
from selfhdr.data import read_scene
from selfhdr.data.dataset import BracketDataset, label_path
from selfhdr.errors import InputError
from selfhdr.io import read_hdr, write_exposures, write_hdr, write_ldr
from selfhdr.methods.classical import unaligned_merge
from selfhdr.metrics import psnr_mu

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
    assert sorted(p.name for p in out.iterdir()) == ["align.json", "train_001", "train_002", "train_003"]
    src = root / "Training" / "train_002"
    files = sorted(p.name for p in (out / "train_002").iterdir())
    assert files == ["HDRImg.hdr", "HDRImg_preview.png", "exposure.txt",
                     "frame_1.tif", "frame_2.tif", "frame_3.tif"]
    dst = out / "train_002"
    assert (dst / "frame_2.tif").read_bytes() == (src / "frame_2.tif").read_bytes()  # reference as is
    assert (dst / "exposure.txt").read_text().split() == (src / "exposure.txt").read_text().split()
    scene = read_scene(src)
    label = read_hdr(label_path(out, "train_002"))
    assert label_path(out, "train_002") == out / "train_002" / "HDRImg.hdr"
    aligned = read_scene(out / "train_002", with_hdr=False)
    np.testing.assert_allclose(aligned.times, scene.times)
    ds = BracketDataset(out, labels={"color": out}, original_split=root / "Training")
    item = ds[1]
    assert item["name"] == "train_002" and tuple(item["color"].shape) == (3, 48, 64)
    np.testing.assert_allclose(item["color"].numpy().transpose(1, 2, 0), label, rtol=1e-6)


def _triangle_merge(ldrs: list, times: np.ndarray) -> np.ndarray:
    """SelfHDR's triangle merge, written out: weights on the reference LDR value r
    (r < 0.5: reference 2r, long 1 − 2r; else short 2r − 1, reference 2 − 2r) of the
    linear frames LDR**2.2 / t."""
    lin = [ldr.astype(np.float64) ** 2.2 / t for ldr, t in zip(ldrs, times)]
    r = ldrs[1].astype(np.float64)
    return np.where(r < 0.5, 2 * r * lin[1] + (1 - 2 * r) * lin[2],
                    (2 * r - 1) * lin[0] + (2 - 2 * r) * lin[1])


def test_static_scene_label_is_the_triangle_merge(tmp_path: Path) -> None:
    """No motion, no noise: alignment must leave the frames alone and Y_color must be the
    plain triangle merge of the source frames (an expectation computed here, not by us)."""
    root = tmp_path / "static"
    for i, gain in enumerate((0.6, 1.5)):  # 24% and 84% of the reference clipped
        radiance = texture(48, 64, seed=i + 1) ** 2 * gain
        ldrs, _ = bracket([radiance] * 3)
        d = root / "Training" / f"static_{i + 1}"
        d.mkdir(parents=True)
        for k, ldr in enumerate(ldrs):
            write_ldr(d / f"frame_{k + 1}.tif", ldr)
        write_exposures(d / "exposure.txt", [0, 2, 4])
        write_hdr(d / "HDRImg.hdr", np.clip(radiance, 0, 1))
    prepare_color(root, "Training", workers=1, progress=False)
    for d in sorted((root / "Training").iterdir()):
        src = read_scene(d, with_hdr=False)
        out = read_scene(root / "Training_align" / d.name)
        np.testing.assert_allclose(out.times, src.times)
        for k in (0, 2):
            # Measured ≤ 4e-4: the flow is a small fraction of a pixel off zero.
            np.testing.assert_allclose(out.ldrs[k], src.ldrs[k], rtol=0, atol=1e-3)
        expected = _triangle_merge(src.ldrs, src.times)
        # RGBE stores a shared 8-bit exponent: every channel is truncated by up to 1/128 of
        # the pixel's largest channel (measured 0.78%); 5e-4 covers the sub-pixel flow.
        bound = expected.max(axis=2, keepdims=True) / 128 + 5e-4
        assert np.all(np.abs(out.hdr - expected) <= bound), float(np.abs(out.hdr - expected).max())


def _expose(ldr: np.ndarray, t_from: float, t_to: float) -> np.ndarray:
    """An LDR frame re-rendered at another exposure time (gamma 2.2, clipped), blurred a
    little so sensor noise does not swamp misregistration in comparisons."""
    img = np.clip(ldr.astype(np.float64) ** 2.2 / t_from * t_to, 0, 1) ** (1 / 2.2)
    return cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.5)


def test_dynamic_labels_and_frames_are_aligned(root: Path) -> None:
    """On the synthetic dynamic scenes, Y_color is close to the true radiance and far better
    than merging the unaligned frames, and the written frames match the reference better
    than the originals do (what alignment is for)."""
    prepare_color(root, "Training", workers=1, progress=False)
    for d in sorted((root / "Training").iterdir()):
        scene = read_scene(d)
        label = read_hdr(label_path(root / "Training_align", d.name))
        ours, plain = psnr_mu(label, scene.hdr), psnr_mu(unaligned_merge(scene), scene.hdr)
        # Measured: 39.1–41.6 dB against 25.9–29.1 dB for the unaligned merge.
        assert ours > 36.0 and ours > plain + 6.0, (d.name, ours, plain)
        aligned = read_scene(root / "Training_align" / d.name, with_hdr=False)
        t = scene.times
        for k in (0, 2):
            # Compared at the brighter exposure, where both are well exposed.
            tb = max(t[k], t[1])
            ref = _expose(scene.ldrs[1], t[1], tb)
            ok = (ref > 0.05) & (ref < 0.95)
            err_aligned = np.abs(_expose(aligned.ldrs[k], t[k], tb) - ref)[ok].mean()
            err_original = np.abs(_expose(scene.ldrs[k], t[k], tb) - ref)[ok].mean()
            # Measured ratios 0.25–0.70.
            assert err_aligned < 0.85 * err_original, (d.name, k, err_aligned, err_original)


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
