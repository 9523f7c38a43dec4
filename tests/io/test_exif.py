"""EXIF reading (JPEG, PNG, TIFF directories), exposure arithmetic and EXIF orientation."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from PIL.TiffImagePlugin import IFDRational

from selfhdr.engine import testing
from selfhdr.errors import InputError
from selfhdr.io.exif import (
    ExifInfo, apply_orientation, bracket_exposures, exif_exposure, oriented_size, read_exif,
)


def _exif(time=(1, 60), iso=200, fnum=(28, 10), when="2024:05:01 12:00:03", subsec="25",
          orientation=6, seq=17) -> Image.Exif:
    ex = Image.Exif()
    ex[271], ex[272] = "Canon", "EOS R6"
    if orientation is not None:
        ex[274] = orientation
    sub = ex.get_ifd(0x8769)
    if time is not None:
        sub[33434] = IFDRational(*time)
    if iso is not None:
        sub[34855] = iso
    if fnum is not None:
        sub[33437] = IFDRational(*fnum)
    if when is not None:
        sub[36867] = when
    if subsec is not None:
        sub[37521] = subsec
    if seq is not None:
        sub[37393] = seq
    return ex


def _image() -> Image.Image:
    return Image.fromarray(np.full((8, 12, 3), 128, np.uint8))


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_read_exif(tmp_path: Path, suffix: str) -> None:
    p = tmp_path / f"a{suffix}"
    _image().save(p, exif=_exif())
    info = read_exif(p)
    assert info == ExifInfo(1 / 60, 200.0, 2.8, datetime(2024, 5, 1, 12, 0, 3, 250000), 6, "Canon", "EOS R6", 17)
    assert info.camera == "Canon EOS R6"
    assert info.to_json()["capture_time"] == "2024-05-01T12:00:03.250000"
    assert exif_exposure(p) == pytest.approx(1 / 60 * 2.0 / 2.8**2)
    assert testing.exif_exposure is exif_exposure  # one EXIF reader in the package


def test_missing_and_odd_values(tmp_path: Path) -> None:
    plain = tmp_path / "plain.jpg"
    _image().save(plain)
    assert read_exif(plain) == ExifInfo()
    assert exif_exposure(plain) is None
    assert read_exif(tmp_path / "nope.jpg") == ExifInfo()  # unreadable: nothing known
    odd = tmp_path / "odd.jpg"
    # A camera without a clock, a zero exposure time, and an out-of-range orientation.
    _image().save(odd, exif=_exif(time=(0, 1), when="0000:00:00 00:00:00", orientation=9, subsec=None))
    info = read_exif(odd)
    assert info.exposure_time is None and info.capture_time is None and info.orientation is None
    apex = tmp_path / "apex.jpg"
    ex = _exif(time=None, fnum=None)
    ex.get_ifd(0x8769)[37377] = IFDRational(6, 1)   # ShutterSpeedValue: 2**-6 s
    ex.get_ifd(0x8769)[37378] = IFDRational(3, 1)   # ApertureValue: f/2**1.5
    _image().save(apex, exif=ex)
    info = read_exif(apex)
    assert info.exposure_time == pytest.approx(1 / 64) and info.f_number == pytest.approx(2**1.5)


def test_tiff_directories_without_pillow_decoding(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile", reason="tifffile writes the CFA TIFF Pillow cannot open")
    p = tmp_path / "cfa.dng"
    tags = [(271, "s", 0, "Make", True), (274, "H", 1, 8, True), (33434, "2I", 1, (1, 250), True),
            (34855, "H", 1, 400, True), (36867, "s", 0, "2023:01:02 03:04:05", True)]
    tifffile.imwrite(p, np.zeros((8, 8), np.uint16), photometric=32803, extratags=tags)
    with pytest.raises(Exception):
        Image.open(p)
    info = read_exif(p)
    assert (info.make, info.orientation, info.iso) == ("Make", 8, 400.0)
    assert info.exposure_time == pytest.approx(1 / 250)
    assert info.capture_time == datetime(2023, 1, 2, 3, 4, 5)


def test_bracket_exposures_default_rule() -> None:
    a, b = ExifInfo(exposure_time=0.01), ExifInfo(exposure_time=0.04)
    assert bracket_exposures([a, b], ["a.jpg", "b.jpg"]) == pytest.approx([0.01, 0.04])
    iso = [ExifInfo(exposure_time=0.01, iso=100, f_number=4), ExifInfo(exposure_time=0.01, iso=400, f_number=4)]
    assert bracket_exposures(iso, ["a", "b"]) == pytest.approx([0.01 / 16, 0.04 / 16])
    with pytest.raises(InputError, match=r"ISO is recorded in some frames but not in b\.jpg"):
        bracket_exposures([ExifInfo(exposure_time=0.01, iso=100), b], ["a.jpg", "b.jpg"])
    with pytest.raises(InputError, match=r"f-number .* not in a\.jpg"):
        bracket_exposures([a, ExifInfo(exposure_time=0.01, f_number=2)], ["a.jpg", "b.jpg"])
    with pytest.raises(InputError, match=r"no EXIF exposure time in b\.jpg; give the EV stops with --exposures"):
        bracket_exposures([a, ExifInfo()], ["a.jpg", "b.jpg"])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    stored = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    p = tmp_path / "o.png"
    Image.fromarray(stored).save(p, exif=_exif(orientation=orientation))
    with Image.open(p) as im:
        want = np.asarray(ImageOps.exif_transpose(im))
    got = apply_orientation(stored, orientation)
    np.testing.assert_array_equal(got, want)
    assert oriented_size(7, 5, orientation) == (got.shape[1], got.shape[0])
    # 16-bit arrays (what OpenCV returns for 16-bit TIFFs) turn the same way.
    deep = stored.astype(np.uint16) * 257
    np.testing.assert_array_equal(apply_orientation(deep, orientation), want.astype(np.uint16) * 257)
    assert apply_orientation(deep, orientation).flags["C_CONTIGUOUS"]


def test_orientation_rejects_unknown_values() -> None:
    img = np.zeros((2, 3, 3))
    assert apply_orientation(img, None) is img
    with pytest.raises(ValueError, match="1–8"):
        apply_orientation(img, 9)
