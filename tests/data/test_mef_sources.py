"""Real fusion pairs from pinned git commits, MEFB kept out of training (selfhdr.data.mef_sources)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest

from selfhdr.cli.fusion_data import main as fusion_data_main
from selfhdr.data import mef_sources as ms
from selfhdr.errors import InputError

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _frame(level: float, seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    img = np.clip(level + 0.03 * g.standard_normal((24, 32, 3)), 0, 1)
    return np.round(img * 255).astype(np.uint8)


def _repo(root: Path, name: str, files: Dict[str, np.ndarray], mat: np.ndarray = None) -> ms.Source:
    """A git repository ``root/<owner>+<name>`` holding ``files`` (path → image) and, given ``mat``,
    MEFB's results file; its Source at HEAD."""
    d = root / f"owner+{name}"
    for rel, img in files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / rel), img)
    if mat is not None:
        from scipy.io import savemat

        (d / ms.MEFB_RESULTS).parent.mkdir(parents=True)
        savemat(str(d / ms.MEFB_RESULTS), {"resultsMetricsAverageImg": mat})
    git = ["git", "-C", str(d), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(d)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "data"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    return ms.Source(name, f"owner/{name}", head, "sets", f"test data {name}")


MAT = np.random.default_rng(0).uniform(0, 0.5, (1, 21, 20))
MAT[0, :, 16] = np.linspace(0.90, 0.97, 21)[::-1]  # MEF-SSIM: the first method best
MAT[0, 2, 16] = 0.99  # ... except FMMEF


@pytest.fixture()
def world(tmp_path: Path) -> Dict:
    root = tmp_path / "repos"
    shared = _frame(0.5, 9)  # one file that is also in MEFB, under another name
    mefb = _repo(root, "mefb", {
        "sets/Plain/Plain_A.png": _frame(0.2, 1), "sets/Plain/Plain_B.png": _frame(0.8, 2),
        "sets/Dup/img1.png": _frame(0.2, 3), "sets/Dup/Dup_a.png": _frame(0.25, 4), "sets/Dup/Dup_B.png": _frame(0.7, 5),
        "sets/UO/x_under.png": _frame(0.1, 6), "sets/UO/x_over.png": _frame(0.9, 7),
        "sets/Two/p.png": _frame(0.3, 8), "sets/Two/q.png": shared}, mat=MAT)
    frames = {  # scene → frames, written in an order that is not their brightness order
        "Hall": [_frame(0.5, 10), _frame(0.02, 11), _frame(0.25, 12), _frame(0.98, 13), _frame(0.75, 14)],
        "Yard": [_frame(0.7, 20), _frame(0.3, 21)],
        "Known": [_frame(0.3, 30), _frame(0.6, 31)],  # listed as an MEFB scene
    }
    files = {f"sets/{s}/f{i}.png": f for s, fs in frames.items() for i, f in enumerate(fs)}
    src = _repo(root, "src", files)
    return {"root": root, "src": src, "mefb": mefb, "shared": shared, "frames": frames}


def _build(world: Dict, out: Path, **kw) -> Dict[str, List[str]]:
    return ms.build_training_pairs(world["root"], out, [world["src"]], world["mefb"],
                                   {"src": ("Known",)}, **kw)


def test_pairs_are_the_usable_extremes_and_mefb_scenes_stay_out(world: Dict, tmp_path: Path) -> None:
    written = _build(world, tmp_path / "out")
    names = written["train"] + written["val"]
    assert sorted(names) == ["src__Hall", "src__Yard"]  # Known: an MEFB scene
    assert not set(written["train"]) & set(written["val"])
    split = {n: ("val" if ms.is_val(n) else "train") for n in names}
    hall = tmp_path / "out" / split["src__Hall"] / "src__Hall"
    a, b = cv2.imread(str(hall / "Hall_A.png")), cv2.imread(str(hall / "Hall_B.png"))
    # The nearly black (0.02) and nearly white (0.98) frames are skipped: 0.25 and 0.75 remain.
    assert np.array_equal(a, world["frames"]["Hall"][2]) and np.array_equal(b, world["frames"]["Hall"][4])
    manifest = json.loads((tmp_path / "out" / "pairs.json").read_text())
    hall_entry = next(m for m in manifest if m["pair"].endswith("src__Hall"))
    assert (hall_entry["under"], hall_entry["over"], hall_entry["commit"]) == ("f2.png", "f4.png", world["src"].commit)


def test_a_copy_of_an_mefb_file_under_another_name_stops_the_build(world: Dict, tmp_path: Path) -> None:
    src = _repo(tmp_path / "more", "leaky", {"sets/Fresh/a.png": _frame(0.2, 40), "sets/Fresh/b.png": world["shared"]})
    shutil.copytree(world["root"] / "owner+mefb", tmp_path / "more" / "owner+mefb")
    with pytest.raises(InputError, match=r"sets/Fresh: \['b.png'\] are MEFB files; add the scene to MEFB_OVERLAP\['leaky'\]"):
        ms.build_training_pairs(tmp_path / "more", tmp_path / "out", [src], world["mefb"], {})


def test_mefb_pairs_copy_the_benchmark_files_unchanged(world: Dict, tmp_path: Path) -> None:
    out = tmp_path / "mefb"
    assert ms.build_mefb(world["root"], out, world["mefb"]) == ["Dup", "Plain", "Two", "UO"]
    repo = world["root"] / "owner+mefb" / "sets"
    expect = {"Dup": ("Dup_a.png", "Dup_B.png"), "Plain": ("Plain_A.png", "Plain_B.png"),
              "Two": ("p.png", "q.png"), "UO": ("x_under.png", "x_over.png")}
    for scene, (a, b) in expect.items():
        assert (out / scene / f"{scene}_A.png").read_bytes() == (repo / scene / a).read_bytes(), scene
        assert (out / scene / f"{scene}_B.png").read_bytes() == (repo / scene / b).read_bytes(), scene


def test_a_missing_repository_names_the_clone_to_make(world: Dict, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    assert fusion_data_main(["--git-root", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    first = ms.SOURCES[0].repo
    assert f"no copy of {first}; run: git clone https://github.com/{first}" in err
    assert not (tmp_path / "o").exists()


def test_the_split_is_by_scene_and_stable() -> None:
    names = [f"src__scene{i}" for i in range(400)]
    val = [n for n in names if ms.is_val(n)]
    assert 25 < len(val) < 75 and val == [n for n in names if ms.is_val(n)]


def test_mefb_published_reads_the_mef_ssim_column(world: Dict, tmp_path: Path) -> None:
    scores = ms.mefb_published(world["root"], world["mefb"])
    assert list(scores)[:3] == ["FMMEF", "DEM", "DSIFT_EF"]
    assert scores["FMMEF"] == pytest.approx(0.99) and scores["U2Fusion"] == pytest.approx(0.90)
    assert len(scores) == 21
