"""Importing camera brackets: layouts, grouping, frame choice, refusals, atomicity, CLI, RAW."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from selfhdr.camera import hdr_to_ldr
from selfhdr.cli.import_brackets import main
from selfhdr.data import brackets, read_scene
from selfhdr.data.brackets import Frame, choose_frames, group_frames, import_brackets, split_names
from selfhdr.io import write_ldr
from selfhdr.io.exif import ExifInfo

H, W = 48, 64
T0 = datetime(2024, 6, 1, 10, 0, 0)


def _radiance(seed: int = 0, h: int = H, w: int = W) -> np.ndarray:
    """A smooth 7-stop gradient with blotchy texture; the 1/64 s frame nearly saturates."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tex = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 2.0)
    stops = -7.0 + 7.0 * (0.6 * xx / w + 0.4 * yy / h) + 6.0 * (tex - tex.mean())
    colour = np.array([1.0, 0.8, 0.55], np.float32) * rng.uniform(0.8, 1.0, 3).astype(np.float32)
    return (2.0 ** stops)[..., None] * colour


def _jpeg(path: Path, rad: np.ndarray, denom: Optional[int], when: Optional[datetime] = None,
          orientation: Optional[int] = None, iso: Optional[int] = 100, seq: Optional[int] = None,
          model: str = "R6", render_denom: Optional[int] = None) -> Path:
    """Write ``rad`` exposed for 1/denom s (relative t = 64/denom) as a JPEG with EXIF."""
    t = 64.0 / (render_denom or denom or 64)
    img = np.round(hdr_to_ldr(rad, t) * 255).astype(np.uint8)
    if orientation == 6:  # store it the way a camera turned 90° clockwise would
        img = np.ascontiguousarray(np.rot90(img, 1))
    ex = Image.Exif()
    ex[271], ex[272] = "Canon", model
    if orientation is not None:
        ex[274] = orientation
    sub = ex.get_ifd(0x8769)
    if denom is not None:
        sub[33434] = IFDRational(1, denom)
    if iso is not None:
        sub[34855] = iso
    if when is not None:
        sub[36867] = when.strftime("%Y:%m:%d %H:%M:%S")
        sub[37521] = f"{when.microsecond // 10000:02d}"
    if seq is not None:
        sub[37393] = seq
    Image.fromarray(img).save(path, quality=95, exif=ex)
    return path


def _bracket(folder: Path, names: Sequence[str], denoms: Sequence[Optional[int]], seed: int = 0, **kw) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rad = _radiance(seed)
    for name, d in zip(names, denoms):
        _jpeg(folder / name, rad, d, **kw)


def _hidden(root: Path) -> list:
    return [p for p in root.rglob(".*")]


def test_shuffled_jpegs_become_a_scene(tmp_path: Path) -> None:
    # File-name order (a, b, c) is mid, long, short: the output must follow exposure order.
    _bracket(tmp_path / "in" / "beach scene!", ["a.jpg", "b.jpg", "c.jpg"], [16, 4, 64])
    out = tmp_path / "out"
    s = import_brackets(tmp_path / "in", out)
    assert (s.written, s.skipped, s.refused) == (["Training/beach_scene"], [], {})
    d = out / "Training" / "beach_scene"
    assert sorted(p.name for p in d.iterdir()) == [
        "1_short.tif", "2_mid.tif", "3_long.tif", "bracket.json", "bracket_preview.png", "exposure.txt"]
    assert (d / "exposure.txt").read_text() == "0\n2\n4\n"
    scene = read_scene(d)
    assert scene.hdr is None and list(scene.times) == [1, 4, 16]
    assert scene.ldrs[0].mean() < scene.ldrs[1].mean() < scene.ldrs[2].mean()
    rad = _radiance(0)
    assert np.abs(scene.ldrs[0] - hdr_to_ldr(rad, 1.0)).mean() < 0.01
    meta = json.loads((d / "bracket.json").read_text())
    assert [f["written_as"] for f in meta["frames"]] == ["1_short.tif", "2_mid.tif", "3_long.tif"]
    assert [f["file"] for f in meta["frames"]] == ["c.jpg", "a.jpg", "b.jpg"]
    assert meta["exposures_from"] == "EXIF" and meta["selection"] == "all 3 frames"
    assert meta["frames"][0]["exif"]["exposure_time"] == pytest.approx(1 / 64)
    assert all(p["ok"] and abs(p["measured_stops"] - 2) < 0.5 for p in meta["exposure_check"]["pairs"])
    assert meta["importer_version"] == brackets.IMPORTER_VERSION
    assert cv2.imread(str(d / "bracket_preview.png")).shape == (H, 3 * W, 3)
    assert not (out / "Test").exists() and not _hidden(out)


def test_flat_folder_two_brackets_by_capture_time(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    inp.mkdir()
    rad_a, rad_b = _radiance(1), _radiance(2)
    # Camera AEB order (0, −2, +2); bracket B starts 0.8 s after A ends: only the repeated
    # exposure separates them. File names do not follow capture order.
    shots = [(rad_a, 16, 0.0, "IMG_0103.jpg"), (rad_a, 64, 0.3, "IMG_0101.jpg"), (rad_a, 4, 0.6, "IMG_0102.jpg"),
             (rad_b, 16, 1.6, "IMG_0201.jpg"), (rad_b, 64, 1.9, "IMG_0203.jpg"), (rad_b, 4, 2.2, "IMG_0202.jpg")]
    for rad, d, dt, name in shots:
        _jpeg(inp / name, rad, d, when=T0 + timedelta(seconds=dt))
    s = import_brackets(inp, tmp_path / "out")
    assert s.written == ["Training/IMG_0103", "Training/IMG_0201"] and not s.refused
    meta = json.loads((tmp_path / "out" / "Training" / "IMG_0201" / "bracket.json").read_text())
    assert [f["file"] for f in meta["frames"]] == ["IMG_0203.jpg", "IMG_0201.jpg", "IMG_0202.jpg"]


def _f(name: str, dt: float, t: float, seq: Optional[int] = None, model: str = "R6",
       size=(W, H)) -> Frame:
    return Frame(Path(name), ExifInfo(exposure_time=t, capture_time=T0 + timedelta(seconds=dt), model=model,
                                      sequence=seq), size)


def test_grouping_rules() -> None:
    def names(groups):
        return [[f.path.name for f in g] for g in groups]

    # Gap from the *end* of the previous frame: an 8 s exposure does not split its bracket.
    assert names(group_frames([_f("a", 0, 0.5), _f("b", 1, 8.0), _f("c", 10, 2.0), _f("d", 30, 1.0)])) == \
        [["a", "b", "c"], ["d"]]
    assert names(group_frames([_f("a", 0, 0.5), _f("b", 1, 8.0), _f("c", 10, 2.0)], gap_seconds=0.7)) == \
        [["a", "b"], ["c"]]
    # A camera or size change splits; equal capture times fall back to the sequence number.
    assert names(group_frames([_f("a", 0, 1), _f("b", 0, 2, model="X"), _f("c", 0, 4, size=(9, 9))])) == \
        [["a"], ["b"], ["c"]]
    assert names(group_frames([_f("z", 0, 1, seq=1), _f("y", 0, 2, seq=2), _f("x", 0, 4, seq=3)])) == \
        [["z", "y", "x"]]


def test_choose_frames_rule() -> None:
    assert choose_frames([-2, -1, 0, 1, 2]) == (0, 2, 4)
    assert choose_frames([0, 3, 1, 6, 2]) == (0, 1, 3)      # midpoint 3: the EV-3 frame
    assert choose_frames([0, 1, 2, 3]) == (0, 1, 3)         # tie between 1 and 2: the darker
    assert choose_frames([4, 0, 2]) == (1, 2, 0)
    with pytest.raises(brackets.InputError, match="only 3 output frames"):
        choose_frames([0, 1, 2], frames=5)


def test_five_frame_bracket(tmp_path: Path) -> None:
    _bracket(tmp_path / "in" / "five", [f"f{k}.jpg" for k in range(5)], [8, 64, 16, 4, 32])
    s = import_brackets(tmp_path / "in", tmp_path / "out")
    d = tmp_path / "out" / "Training" / "five"
    assert s.written == ["Training/five"]
    assert (d / "exposure.txt").read_text() == "0\n2\n4\n"
    meta = json.loads((d / "bracket.json").read_text())
    chosen = {f["file"]: f["written_as"] for f in meta["frames"]}
    assert chosen == {"f1.jpg": "1_short.tif", "f4.jpg": None, "f2.jpg": "2_mid.tif", "f0.jpg": None,
                      "f3.jpg": "3_long.tif"}
    assert "closest to their midpoint EV 2" in meta["selection"]


def test_tiff16_with_exposures(tmp_path: Path) -> None:
    rad = _radiance(3)
    folder = tmp_path / "in" / "tiffs"
    folder.mkdir(parents=True)
    # --exposures are given in file-name order: 1.tif is the middle exposure here.
    for name, ev in (("1.tif", 2), ("2.tif", 0), ("3.tif", 4)):
        write_ldr(folder / name, hdr_to_ldr(rad, 2.0**ev), bits=16)
    s = import_brackets(tmp_path / "in", tmp_path / "out", exposures=[2, 0, 4])
    assert s.written == ["Training/tiffs"]
    scene = read_scene(tmp_path / "out" / "Training" / "tiffs")
    np.testing.assert_allclose(scene.ldrs[1], hdr_to_ldr(rad, 4.0), atol=1e-4)
    assert json.loads((scene.files.dir / "bracket.json").read_text())["exposures_from"] == "--exposures"
    s = import_brackets(tmp_path / "in", tmp_path / "out2")  # TIFFs without EXIF times
    assert "no EXIF exposure time in 1.tif, 2.tif, 3.tif" in s.refused["tiffs"]


def test_exif_orientation_applied(tmp_path: Path) -> None:
    _bracket(tmp_path / "in" / "turned", ["a.jpg", "b.jpg", "c.jpg"], [64, 16, 4], orientation=6)
    assert Image.open(tmp_path / "in" / "turned" / "a.jpg").size == (H, W)  # stored sideways
    s = import_brackets(tmp_path / "in", tmp_path / "out")
    scene = read_scene(tmp_path / "out" / "Training" / "turned")
    assert s.written and scene.ldrs[0].shape == (H, W, 3)
    assert np.abs(scene.ldrs[0] - hdr_to_ldr(_radiance(0), 1.0)).mean() < 0.01
    meta = json.loads((scene.files.dir / "bracket.json").read_text())
    assert meta["orientation"]["1_short.tif"] == "EXIF orientation 6 applied"


def test_every_refusal_names_its_files(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    _bracket(inp / "good", ["a.jpg", "b.jpg", "c.jpg"], [64, 16, 4])
    _bracket(inp / "two", ["a.jpg", "b.jpg"], [64, 16])
    _bracket(inp / "noexif", ["a.jpg", "b.jpg", "c.jpg"], [None, None, None])
    _bracket(inp / "same", ["a.jpg", "b.jpg", "c.jpg"], [64, 16, 16])
    _bracket(inp / "mixedturn", ["a.jpg", "b.jpg"], [64, 16])
    _jpeg(inp / "mixedturn" / "c.jpg", _radiance(0), 4, orientation=6)
    _bracket(inp / "mixedsize", ["a.jpg", "b.jpg"], [64, 16])
    _jpeg(inp / "mixedsize" / "c.jpg", _radiance(0, h=40), 4)
    # Rendered at 1/64, 1/16, 1/4 s but labelled 1/64, 1/4, 1/16: mid and long are swapped.
    for name, d, real in (("a.jpg", 64, 64), ("b.jpg", 4, 16), ("c.jpg", 16, 4)):
        (inp / "swapped").mkdir(exist_ok=True)
        _jpeg(inp / "swapped" / name, _radiance(0), d, render_denom=real)
    s = import_brackets(inp, tmp_path / "out")
    assert s.written == ["Training/good"] and not s.skipped
    why = s.refused
    assert set(why) == {"two", "noexif", "same", "mixedturn", "mixedsize", "swapped"}
    assert "needs at least 3 frames, found 2 (a.jpg, b.jpg)" in why["two"]
    assert "no EXIF exposure time in a.jpg, b.jpg, c.jpg; give the EV stops with --exposures" in why["noexif"]
    assert "b.jpg and c.jpg have the same exposure (EV 2.00" in why["same"]
    assert "different EXIF orientations (a.jpg: 1, b.jpg: 1, c.jpg: 6)" in why["mixedturn"]
    assert "different sizes: a.jpg 64×48, b.jpg 64×48, c.jpg 64×40" in why["mixedsize"]
    assert "brightness contradicts the declared exposures" in why["swapped"]
    assert "b.jpg is declared +2.00 stops from c.jpg but measures -" in why["swapped"]
    assert all(str(inp / name) in why[name] for name in why)  # each names its folder
    assert not _hidden(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out" / "Training").iterdir()) == ["good"]
    s = import_brackets(inp, tmp_path / "out", allow_mismatch=True)
    assert s.written == ["Training/swapped"] and s.skipped == ["Training/good"]
    meta = json.loads((tmp_path / "out" / "Training" / "swapped" / "bracket.json").read_text())
    assert meta["exposure_check"]["skipped"] and not all(p["ok"] for p in meta["exposure_check"]["pairs"])


def test_unreadable_frame_and_flat_folder_without_times(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    folder = inp / "broken"
    folder.mkdir(parents=True)
    for name, ev in (("a.tif", 0), ("b.tif", 2)):
        write_ldr(folder / name, hdr_to_ldr(_radiance(0), 2.0**ev), bits=16)
    (folder / "c.tif").write_bytes(b"II*\x00 certainly not a TIFF")
    for k, d in enumerate([64, 16, 4, 64]):
        _jpeg(inp / f"flat_{k}.jpg", _radiance(0), d)  # EXIF exposure, but no capture time
    s = import_brackets(inp, tmp_path / "out", exposures=[0, 2, 4])
    assert "c.tif: cannot decode image" in s.refused["broken"]
    assert "4 of 4 images in the flat folder have no EXIF capture time" in s.refused["flat_folder"]
    assert "--frames-per-bracket N" in s.refused["flat_folder"]
    s = import_brackets(inp, tmp_path / "out", frames_per_bracket=3)
    assert s.written == ["Training/flat_0"]
    assert "1 frame(s) left over after grouping by --frames-per-bracket 3: flat_3.jpg" in s.refused["flat_3"]
    assert not _hidden(tmp_path / "out")


def test_rerun_skips_and_split(tmp_path: Path) -> None:
    inp = tmp_path / "in"
    for k in range(4):
        _bracket(inp / f"s{k}", ["a.jpg", "b.jpg", "c.jpg"], [64, 16, 4], seed=k)
    out = tmp_path / "out"
    s = import_brackets(inp, out, test_fraction=0.25)
    assert s.written == ["Test/s2", "Training/s0", "Training/s1", "Training/s3"]
    stamp = (out / "Test" / "s2" / "1_short.tif").stat().st_mtime_ns
    s = import_brackets(inp, out, test_fraction=0.25)
    assert s.written == [] and len(s.skipped) == 4 and not s.refused
    assert (out / "Test" / "s2" / "1_short.tif").stat().st_mtime_ns == stamp
    assert not list(out.rglob("HDRImg*"))
    (out / "Training" / "s0" / "bracket.json").unlink()  # damaged, or someone else's folder
    s = import_brackets(inp, out, test_fraction=0.25)
    assert "exists but has no bracket.json" in s.refused["s0"]


def test_split_rule() -> None:
    assert split_names(["b", "a"], 0.0) == {"a": "Training", "b": "Training"}
    assert split_names(["b", "a"], 0.1) == {"a": "Training", "b": "Test"}
    assert split_names(["a"], 0.5) == {"a": "Training"}
    ten = split_names([f"s{k}" for k in range(10)], 0.2)
    assert sorted(n for n, v in ten.items() if v == "Test") == ["s2", "s7"]
    assert list(split_names(["a", "b", "c"], 0.9).values()).count("Training") == 1
    with pytest.raises(brackets.InputError, match=r"\[0, 1\)"):
        split_names(["a"], 1.0)


@pytest.mark.parametrize("error", [OSError("disk full"), RuntimeError("bug")])
def test_nothing_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    _bracket(tmp_path / "in" / "s", ["a.jpg", "b.jpg", "c.jpg"], [64, 16, 4])
    calls = []

    def failing(path, img, bits=16):
        calls.append(path)
        if len(calls) == 2:
            raise error
        return write_ldr(path, img, bits)

    monkeypatch.setattr(brackets, "write_ldr", failing)
    out = tmp_path / "out"
    if isinstance(error, OSError):
        s = import_brackets(tmp_path / "in", out)
        assert s.refused == {"s": "disk full"} and not s.written
    else:
        with pytest.raises(RuntimeError, match="bug"):
            import_brackets(tmp_path / "in", out)
    assert len(calls) == 2 and calls[0].parent.name == ".s.importing"
    assert not _hidden(out) and not (out / "Training" / "s").exists()


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    for k in range(2):
        _bracket(inp / f"s{k}", ["a.jpg", "b.jpg", "c.jpg"], [64, 16, 4], seed=k)
    _bracket(inp / "short", ["a.jpg"], [64])
    assert main(["--input", str(inp), "--out", str(out), "--test-fraction", "0.5", "--workers", "2"]) == 0
    text = capsys.readouterr().out
    assert f"{out}: 2 scene(s) written, 0 skipped (already complete), 1 refused" in text
    assert "  written  Test/s1" in text and "  written  Training/s0" in text
    assert "  refused  short: " in text and "found 1 (a.jpg)" in text
    assert f"next: selfhdr-train --config configs/own_photos.yaml --set data.root={out}" in text
    assert main(["--input", str(inp), "--out", str(out)]) == 0
    assert "0 scene(s) written, 2 skipped" in capsys.readouterr().out
    assert main(["--input", str(inp / "short"), "--out", str(tmp_path / "o2")]) == 2  # all refused
    assert "no bracket could be imported" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    for argv in (["--input", str(tmp_path / "missing")], ["--input", str(tmp_path / "empty")],
                 ["--input", str(inp), "--frames", "5"], ["--input", str(inp), "--test-fraction", "1"]):
        assert main(argv + ["--out", str(tmp_path / "o3")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    for phrase in ("one sub-folder per bracket", "--gap-seconds", "closest to the midpoint",
                   "pip install -e '.[raw]'", "OUT/Training/<scene>/", "--frames-per-bracket N"):
        assert phrase in help_text


def _dng(path: Path, rad: np.ndarray, denom: int) -> None:
    """A minimal linear DNG (RGGB, 12 bits, identity colour matrix) with EXIF tags in IFD0."""
    import tifffile

    lin = np.clip(rad * (64.0 / denom), 0, 1)
    cfa = np.empty(rad.shape[:2], np.float32)
    cfa[0::2, 0::2], cfa[0::2, 1::2] = lin[0::2, 0::2, 0], lin[0::2, 1::2, 1]
    cfa[1::2, 0::2], cfa[1::2, 1::2] = lin[1::2, 0::2, 1], lin[1::2, 1::2, 2]
    one = (1, 1)
    tags = [(50706, "B", 4, (1, 4, 0, 0), True), (50708, "s", 0, "Test", True),
            (33421, "H", 2, (2, 2), True), (33422, "B", 4, (0, 1, 1, 2), True),
            (50714, "H", 1, 0, True), (50717, "H", 1, 4095, True),
            (50721, "2i", 9, (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1), True),
            (50778, "H", 1, 21, True), (50728, "2I", 3, one * 3, True), (271, "s", 0, "Test", True),
            (33434, "2I", 1, (1, denom), True), (34855, "H", 1, 100, True)]
    tifffile.imwrite(path, np.round(cfa * 4095).astype(np.uint16), photometric=32803, extratags=tags)


def test_raw_bracket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("rawpy", reason="RAW import needs the optional raw extra (pip install -e '.[raw]')")
    pytest.importorskip("tifffile", reason="the test writes its DNGs with tifffile")
    folder = tmp_path / "in" / "raw"
    folder.mkdir(parents=True)
    rad = _radiance(4) * 0.5
    for name, d in (("a.dng", 16), ("b.dng", 64), ("c.dng", 4)):
        _dng(folder / name, rad, d)
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(folder / "a.jpg")  # RAW+JPEG: the RAW wins
    s = import_brackets(tmp_path / "in", tmp_path / "out")
    assert s.written == ["Training/raw"], s.refused
    scene = read_scene(tmp_path / "out" / "Training" / "raw")
    assert list(scene.times) == [1, 4, 16] and scene.ldrs[0].shape == (H, W, 3)
    meta = json.loads((scene.files.dir / "bracket.json").read_text())
    assert [f["file"] for f in meta["frames"]] == ["b.dng", "a.dng", "c.dng"]
    assert meta["orientation"]["1_short.tif"].startswith("LibRaw demosaic")
    (folder / "a.jpg").unlink()
    monkeypatch.setitem(sys.modules, "rawpy", None)  # as if the extra were not installed
    s = import_brackets(tmp_path / "in", tmp_path / "out2")
    assert "install the raw extra: pip install -e '.[raw]'" in s.refused["raw"]
