"""Hostile inputs (property-based): readers raise InputError, never hang, crash or return garbage."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfhdr.data import BracketDataset, read_scene
from selfhdr.errors import InputError
from selfhdr.io import read_exposures, read_hdr, read_ldr, write_hdr, write_ldr

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _valid_files(d: Path) -> dict:
    rng = np.random.default_rng(0)
    write_hdr(d / "ok.hdr", (rng.random((24, 40, 3)) * 4).astype(np.float32))
    write_hdr(d / "ok.exr", (rng.random((24, 40, 3)) * 4).astype(np.float32))
    write_ldr(d / "ok.tif", rng.random((24, 40, 3)).astype(np.float32))
    return {s: (d / f"ok{s}").read_bytes() for s in (".hdr", ".exr", ".tif")}


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _valid_files(tmp_path_factory.mktemp("valid"))


def _reader(suffix: str):  # type: ignore[no-untyped-def]
    return read_ldr if suffix == ".tif" else read_hdr


@FAST
@given(text=st.text(max_size=60))
def test_exposure_text(tmp_path: Path, text: str) -> None:
    p = tmp_path / "exposure.txt"
    p.write_text(text, encoding="utf-8")
    try:
        t = read_exposures(p, count=3)
    except InputError as exc:
        assert "exposure.txt" in str(exc)
        return
    assert t.shape == (3,) and np.isfinite(t).all() and (np.diff(t) > 0).all()


@FAST
@given(data=st.binary(max_size=200))
def test_exposure_bytes(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "exposure.txt"
    p.write_bytes(data)
    try:
        t = read_exposures(p, count=3)
    except InputError:
        return
    assert np.isfinite(t).all() and (np.diff(t) > 0).all()


@FAST
@given(suffix=st.sampled_from([".hdr", ".exr", ".tif"]), data=st.binary(min_size=0, max_size=4000))
def test_random_bytes(tmp_path: Path, suffix: str, data: bytes) -> None:
    p = tmp_path / f"x{suffix}"
    p.write_bytes(data)
    with pytest.raises(InputError) as info:
        _reader(suffix)(p)
    assert p.name in str(info.value)


@FAST
@given(suffix=st.sampled_from([".hdr", ".exr", ".tif"]), frac=st.floats(0.0, 0.97))
def test_truncated_files(tmp_path: Path, valid: dict, suffix: str, frac: float) -> None:
    data = valid[suffix]
    p = tmp_path / f"t{suffix}"
    p.write_bytes(data[: int(len(data) * frac)])
    with pytest.raises(InputError):
        _reader(suffix)(p)


@FAST
@given(suffix=st.sampled_from([".hdr", ".exr", ".tif"]), pos=st.integers(0, 10**6), byte=st.integers(0, 255))
def test_flipped_byte_never_gives_garbage(tmp_path: Path, valid: dict, suffix: str, pos: int, byte: int) -> None:
    data = bytearray(valid[suffix])
    data[pos % len(data)] = byte
    p = tmp_path / f"f{suffix}"
    p.write_bytes(bytes(data))
    try:
        img = _reader(suffix)(p)
    except InputError:
        return
    # A corrupted pixel may still decode to a plausible value; the result must be sane.
    assert img.dtype == np.float32 and img.ndim == 3 and img.shape[2] == 3 and np.isfinite(img).all()
    assert img.min() >= 0 and (suffix != ".tif" or img.max() <= 1.0)


def test_absurd_sizes(tmp_path: Path) -> None:
    hdr = tmp_path / "big.hdr"
    hdr.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 200000 +X 300000\n" + b"\x00" * 100)
    with pytest.raises(InputError, match="exceeds the limit"):
        read_hdr(hdr)
    lie = tmp_path / "lie.hdr"
    lie.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 4000 +X 6000\n" + b"\x02\x02" * 50)
    with pytest.raises(InputError, match="truncated"):
        read_hdr(lie)
    zero = tmp_path / "zero.hdr"
    zero.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 0 +X 10\n")
    with pytest.raises(InputError):
        read_hdr(zero)
    # A PNG whose header claims 100000 × 100000 pixels.
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    png = tmp_path / "big.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + b"\x00" * 64)
    with pytest.raises(InputError, match="limit|decode"):
        read_ldr(png)


@FAST
@given(where=st.tuples(st.integers(0, 47), st.integers(0, 63), st.integers(0, 2)),
       value=st.sampled_from([np.nan, np.inf, -np.inf, -1e-3]))
def test_nan_labels_stop_the_dataset(tiny_root: Path, tmp_path: Path, where: tuple, value: float) -> None:
    import OpenEXR

    split = tmp_path / "Training"
    if split.exists():
        shutil.rmtree(split)
    shutil.copytree(tiny_root / "Training" / "train_001", split / "s")
    hdr = read_scene(split / "s").hdr
    assert hdr is not None
    hdr[where] = value
    (split / "s" / "HDRImg.hdr").unlink()
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                      {"RGB": hdr}) as f:
        f.write(str(split / "s" / "HDRImg.exr"))
    with pytest.raises(InputError, match="HDRImg.exr"):
        BracketDataset(split, labels={"gt": "gt"})
