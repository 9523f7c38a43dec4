"""Scene folders: both public packagings, the 6-channel inputs, crops, and every bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from selfhdr.data import BracketDataset, list_scenes, read_scene
from selfhdr.errors import InputError
from selfhdr.io import write_hdr


@pytest.fixture()
def scene(tiny_root: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "scene"
    shutil.copytree(tiny_root / "Training" / "train_001", dst)
    return dst


def test_read_scene(scene: Path) -> None:
    s = read_scene(scene)
    assert s.name == "scene" and len(s.ldrs) == 3
    assert all(l.shape == (48, 64, 3) and l.dtype == np.float32 for l in s.ldrs)
    assert s.hdr is not None and s.hdr.shape == (48, 64, 3)
    assert s.times[0] == 1.0 and list(s.times) in ([1, 4, 16], [1, 8, 64])
    # Longer exposures are brighter where nothing saturates.
    assert s.ldrs[0].mean() < s.ldrs[1].mean() < s.ldrs[2].mean()


def test_alternative_packaging(scene: Path, tmp_path: Path) -> None:
    alt = tmp_path / "alt"
    alt.mkdir()
    for i, src in enumerate(sorted(scene.glob("*.tif")), 1):
        shutil.copy(src, alt / f"input_{i}_aligned.tif")
        shutil.copy(src, alt / f"ref_{i}_aligned.tif")  # must be ignored
    shutil.copy(scene / "exposure.txt", alt / "input_exp.txt")
    shutil.copy(scene / "HDRImg.hdr", alt / "ref_hdr_aligned.hdr")
    a, b = read_scene(alt), read_scene(scene)
    np.testing.assert_array_equal(a.times, b.times)
    for x, y in zip(a.ldrs, b.ldrs):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.hdr, b.hdr)


def test_nested_test_groups(tiny_root: Path, tmp_path: Path) -> None:
    split = tmp_path / "Test"
    shutil.copytree(tiny_root / "Test" / "test_001", split / "EXTRA" / "001")
    shutil.copytree(tiny_root / "Test" / "test_002", split / "PAPER" / "BarbequeDay")
    (split / "__MACOSX").mkdir()
    assert [p.name for p in list_scenes(split)] == ["001", "BarbequeDay"]


def test_dataset_items_and_crops(tiny_root: Path) -> None:
    ds = BracketDataset(tiny_root / "Training", labels={"gt": "gt"}, patch_size=32, length=7, seed=1)
    assert len(ds) == 7
    item = ds[4]
    assert item["x1"].shape == (6, 32, 32) and item["gt"].shape == (3, 32, 32)
    t = item["t"]
    # Linear channels are LDR**2.2 / t (published convention, linear first).
    np.testing.assert_allclose(item["x2"][:3].numpy(), item["x2"][3:].numpy() ** 2.2 / (float(t[1]) + 1e-8), rtol=1e-5)
    again = ds[4]
    assert all(np.array_equal(item[k], again[k]) for k in ("x1", "x2", "x3", "gt"))  # deterministic
    ds.set_epoch(1)
    assert not np.array_equal(ds[4]["x1"], item["x1"])  # a new epoch draws new crops
    full = BracketDataset(tiny_root / "Test", labels={"gt": "gt"})
    assert len(full) == 2 and full[0]["x2"].shape == (6, 48, 64)
    top = BracketDataset(tiny_root / "Test", labels={"gt": "gt"}, crop_top_left=32)
    assert top[1]["gt"].shape == (3, 32, 32)
    np.testing.assert_array_equal(top[1]["gt"], full[1]["gt"][:, :32, :32])


def test_patch_larger_than_image(tiny_root: Path) -> None:
    with pytest.raises(InputError, match="smaller than the 64 patch size"):
        BracketDataset(tiny_root / "Training", patch_size=64)


def test_missing_and_extra_frames(scene: Path) -> None:
    extra = scene / "frame_9.tif"
    shutil.copy(scene / "frame_1.tif", extra)
    with pytest.raises(InputError, match="expected 3 .tif frames, found 4"):
        read_scene(scene)
    extra.unlink()
    (scene / "frame_3.tif").unlink()
    with pytest.raises(InputError, match="expected 3 .tif frames, found 2") as info:
        read_scene(scene)
    assert "scene" in str(info.value)


def test_unreadable_frame(scene: Path) -> None:
    (scene / "frame_2.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(InputError, match="frame_2.tif: cannot decode"):
        read_scene(scene)


def test_mismatched_sizes(scene: Path) -> None:
    img = cv2.imread(str(scene / "frame_3.tif"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(scene / "frame_3.tif"), img[:40])
    with pytest.raises(InputError, match="frame_3.tif: size 64×40 differs"):
        read_scene(scene)


def test_8_bit_frame_is_scaled(scene: Path) -> None:
    before = read_scene(scene).ldrs[0]
    img = cv2.imread(str(scene / "frame_1.tif"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(scene / "frame_1.tif"), np.round(img / 257.0).astype(np.uint8))
    after = read_scene(scene).ldrs[0]
    np.testing.assert_allclose(after, before, atol=1 / 255)


def test_missing_or_bad_exposure(scene: Path) -> None:
    (scene / "exposure.txt").write_text("0\n2\n")
    with pytest.raises(InputError, match="exposure.txt: expected 3 exposure values, found 2"):
        read_scene(scene)
    (scene / "exposure.txt").unlink()
    with pytest.raises(InputError, match="no exposure file"):
        read_scene(scene)


def test_bad_hdr_label(scene: Path) -> None:
    img = read_scene(scene).hdr
    assert img is not None
    bad = img.copy()
    bad[0, 0, 0] = np.inf
    import OpenEXR

    (scene / "HDRImg.hdr").unlink()
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                      {"RGB": bad}) as f:
        f.write(str(scene / "HDRImg.exr"))
    with pytest.raises(InputError, match="HDRImg.exr: radiance map contains 1 NaN/Inf"):
        read_scene(scene)
    (scene / "HDRImg.exr").unlink()
    write_hdr(scene / "HDRImg.hdr", img[:20])
    with pytest.raises(InputError, match="HDRImg.hdr: size 64×20 differs"):
        read_scene(scene)
    data = (scene / "HDRImg.hdr").read_bytes()
    (scene / "HDRImg.hdr").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="HDRImg.hdr: cannot decode"):
        read_scene(scene)


def test_empty_split(tmp_path: Path) -> None:
    (tmp_path / "Test").mkdir()
    with pytest.raises(InputError, match="no scene folders"):
        list_scenes(tmp_path / "Test")
    with pytest.raises(InputError, match="split folder not found"):
        list_scenes(tmp_path / "Nope")


def test_exposures_contradicting_the_frames_are_refused(tiny_root: Path, tmp_path: Path) -> None:
    import json

    scene = tmp_path / "s"
    shutil.copytree(tiny_root / "Training" / "train_001", scene)
    assert (scene / "exposure.txt").read_text().split() == ["0", "3", "6"]
    (scene / "exposure.txt").write_text("0\n0.5\n1\n")  # frames 3 stops apart declared half a stop
    with pytest.raises(InputError, match=r"exposure.txt: brightness contradicts the declared exposures: "
                                         r"frame_2.tif is declared .* from frame_1.tif .*fix exposure.txt"):
        read_scene(scene)
    assert read_scene(scene, check_exposures=False).times[2] == 2.0
    # A scene imported with --allow-mismatch records it, and loads.
    (scene / "bracket.json").write_text(json.dumps({"exposure_check": {"skipped": True}}))
    assert read_scene(scene).times[2] == 2.0
    (scene / "bracket.json").write_text(json.dumps({"exposure_check": {"skipped": False}}))
    with pytest.raises(InputError, match="brightness contradicts"):
        read_scene(scene)
