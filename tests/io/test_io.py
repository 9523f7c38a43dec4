"""Image I/O: formats, scaling, channel order, atomic writes and damaged files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from selfhdr.errors import InputError
from selfhdr.io import (
    read_exposure_stops, read_exposures, read_hdr, read_ldr, tonemap_preview, write_exposures,
    write_hdr, write_ldr, write_preview,
)


def _radiance(h: int = 12, w: int = 17) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.random((h, w, 3)) ** 2 * 8).astype(np.float32)


def test_ldr_16_and_8_bit_scaling(tmp_path: Path) -> None:
    img16 = np.zeros((4, 5, 3), np.uint16)
    img16[..., 0] = 65535  # red channel full (RGB order)
    img16[..., 2] = 32768
    cv2.imwrite(str(tmp_path / "a.tif"), img16[..., ::-1])  # OpenCV writes BGR
    got = read_ldr(tmp_path / "a.tif")
    assert got.dtype == np.float32 and got.shape == (4, 5, 3)
    np.testing.assert_allclose(got[0, 0], [65535 / 65536, 0.0, 0.5])
    img8 = (img16 // 257).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a8.tif"), img8[..., ::-1])
    got8 = read_ldr(tmp_path / "a8.tif")
    np.testing.assert_allclose(got8[0, 0], [1.0, 0.0, 127 / 255], atol=1e-7)
    np.testing.assert_allclose(got8, got, atol=1 / 255)


def test_ldr_grey_png_and_jpeg(tmp_path: Path) -> None:
    grey = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (3, 1))
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    got = read_ldr(tmp_path / "g.png")
    assert got.shape == (3, 25, 3)
    np.testing.assert_allclose(got[..., 1], grey / 255.0, atol=1e-7)
    cv2.imwrite(str(tmp_path / "j.jpg"), np.full((8, 8, 3), 200, np.uint8))
    assert abs(float(read_ldr(tmp_path / "j.jpg").mean()) - 200 / 255) < 0.01


def test_write_ldr_round_trip(tmp_path: Path) -> None:
    img = np.random.default_rng(0).random((6, 7, 3)).astype(np.float32)
    write_ldr(tmp_path / "x.tif", img)
    raw = cv2.imread(str(tmp_path / "x.tif"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw[..., ::-1], np.round(img * 65535).astype(np.uint16))
    np.testing.assert_allclose(read_ldr(tmp_path / "x.tif"), img, atol=3e-5)  # /2**16 on read


@pytest.mark.parametrize("suffix,tol", [(".hdr", 1 / 128), (".exr", 0.0)])
def test_hdr_round_trip(tmp_path: Path, suffix: str, tol: float) -> None:
    img = _radiance()
    write_hdr(tmp_path / f"x{suffix}", img)
    got = read_hdr(tmp_path / f"x{suffix}")
    assert got.dtype == np.float32 and got.shape == img.shape
    # RGBE shares one exponent per pixel: the error scales with the pixel's largest channel.
    bound = tol * img.max(axis=-1, keepdims=True) + 1e-7
    assert (np.abs(got - img) <= bound).all()


def test_hdr_channel_order(tmp_path: Path) -> None:
    img = np.zeros((4, 4, 3), np.float32)
    img[..., 0] = 2.0  # red
    write_hdr(tmp_path / "r.hdr", img)
    raw = cv2.imread(str(tmp_path / "r.hdr"), cv2.IMREAD_UNCHANGED)  # OpenCV: BGR
    assert raw[0, 0, 2] == pytest.approx(2.0) and raw[0, 0, 0] == 0.0
    assert read_hdr(tmp_path / "r.hdr")[0, 0, 0] == pytest.approx(2.0)


@pytest.mark.parametrize("value,match", [(np.nan, "NaN/Inf"), (np.inf, "NaN/Inf"), (-1.0, "negative")])
def test_write_hdr_refuses_bad_values(tmp_path: Path, value: float, match: str) -> None:
    img = _radiance()
    img[2, 3, 1] = value
    with pytest.raises(ValueError, match=match):
        write_hdr(tmp_path / "bad.exr", img)
    assert not (tmp_path / "bad.exr").exists()
    assert list(tmp_path.iterdir()) == []  # no temporary left behind


@pytest.mark.parametrize("value,match", [(np.nan, "NaN/Inf"), (np.inf, "NaN/Inf"), (-0.5, "negative")])
def test_read_hdr_rejects_bad_values(tmp_path: Path, value: float, match: str) -> None:
    import OpenEXR

    img = _radiance()
    img[1, 1, 0] = value
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                      {"RGB": img}) as f:
        f.write(str(tmp_path / "bad.exr"))
    with pytest.raises(InputError, match=match) as info:
        read_hdr(tmp_path / "bad.exr")
    assert "bad.exr" in str(info.value)


@pytest.mark.parametrize("suffix", [".hdr", ".exr", ".tif"])
def test_truncated_and_random_files(tmp_path: Path, suffix: str) -> None:
    good = tmp_path / f"good{suffix}"
    if suffix == ".tif":
        write_ldr(good, np.random.default_rng(0).random((40, 50, 3)).astype(np.float32))
        reader = read_ldr
    else:
        write_hdr(good, _radiance(40, 50))
        reader = read_hdr
    data = good.read_bytes()
    (tmp_path / f"trunc{suffix}").write_bytes(data[: len(data) // 2])
    (tmp_path / f"noise{suffix}").write_bytes(np.random.default_rng(3).bytes(3000))
    (tmp_path / f"empty{suffix}").write_bytes(b"")
    for name in ("trunc", "noise", "empty"):
        with pytest.raises(InputError) as info:
            reader(tmp_path / f"{name}{suffix}")
        assert f"{name}{suffix}" in str(info.value)


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_ldr(tmp_path / "nope.tif")
    (tmp_path / "x.png").write_bytes(b"1234")
    with pytest.raises(InputError, match="unknown HDR format"):
        read_hdr(tmp_path / "x.png")


def test_exposures(tmp_path: Path) -> None:
    p = tmp_path / "exposure.txt"
    write_exposures(p, [0, 2, 4])
    assert p.read_text() == "0\n2\n4\n"
    np.testing.assert_array_equal(read_exposures(p), [1.0, 4.0, 16.0])
    p.write_text("0 3 6")
    np.testing.assert_array_equal(read_exposure_stops(p, count=3), [0, 3, 6])


@pytest.mark.parametrize("text,match", [
    ("0\n2\n", "expected 3 exposure values, found 2"),
    ("0\n2\n4\n6\n", "expected 3 exposure values, found 4"),
    ("0\nnan\n4\n", "finite"),
    ("0\n4\n2\n", "strictly increase"),
    ("0\n2\n2\n", "strictly increase"),
    ("0\ntwo\n4\n", "not a number"),
    ("", "empty"),
    ("\n\n", "no exposure values"),
])
def test_bad_exposure_files(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "exposure.txt"
    p.write_text(text)
    with pytest.raises(InputError, match=match) as info:
        read_exposures(p, count=3)
    assert "exposure.txt" in str(info.value)


def test_previews(tmp_path: Path) -> None:
    img = _radiance()
    for tm in ("mu", "display"):
        write_preview(tmp_path / f"{tm}.png", img, tonemap=tm)
        png = cv2.imread(str(tmp_path / f"{tm}.png"))
        assert png.dtype == np.uint8 and png.shape == img.shape
    mu = tonemap_preview(np.array([[[0.0, 1.0, 1e-3]]], np.float32), "mu")
    expected = np.round(np.log(1 + 5000 * np.array([0.0, 1.0, 1e-3])) / np.log(5001) * 255)
    np.testing.assert_array_equal(mu[0, 0], expected)
    with pytest.raises(ValueError, match="unknown tonemap"):
        tonemap_preview(img, "fancy")
