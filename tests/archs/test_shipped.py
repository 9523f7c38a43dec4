"""The shipped weights (pretrained/, issue 14 item 5) and selfhdr-export-weights, which writes them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from selfhdr.archs import build_backbone, read_state_dict, save_weights
from selfhdr.archs import shipped
from selfhdr.archs.shipped import SHIPPED_CARD, SHIPPED_WEIGHTS, shipped_weights
from selfhdr.cli.export_weights import main as export_main
from selfhdr.cli.predict import main as predict_main
from selfhdr.engine.testing import load_for_inference
from selfhdr.errors import CheckpointError
from selfhdr.io import read_hdr

REPO = Path(__file__).resolve().parents[2]
SMALL = {"type": "AHDRNet", "nf": 4, "growth": 4, "n_dense": 1, "n_rdb": 1}


def _bracket(tiny_root: Path) -> list:
    scene = tiny_root / "Test" / "test_002"
    frames = sorted(str(p) for p in scene.glob("*.tif"))
    return ["--images", *frames, "--exposures", *(scene / "exposure.txt").read_text().split()]


def _forward(net: torch.nn.Module, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xs = [torch.rand(1, 6, 32, 48, generator=g) for _ in range(3)]
    with torch.no_grad():
        return net(*xs)


def test_shipped_file_is_the_one_the_card_describes() -> None:
    path = shipped_weights()
    assert path == REPO / "pretrained" / SHIPPED_WEIGHTS  # a checkout / editable install reads pretrained/
    state, meta = read_state_dict(path)
    assert meta["backbone"] == {"type": "AHDRNet", "nf": 16, "growth": 16, "n_dense": 3, "n_rdb": 2}
    assert meta["channel_order"] == "rgb" and meta["method"] == "selfhdr" and meta["stage"] == "stage2"
    assert meta["config"]["name"] == "cpu_long"
    # The recorded digest is the digest of the weights in the file (the exporter's rule).
    from selfhdr.cli.export_weights import weights_digest
    assert weights_digest(state) == meta["weights_sha256"]
    # The card quotes the file's own test table.
    card = (REPO / "pretrained" / SHIPPED_CARD).read_text()
    selfhdr_row = meta["test_results"]["SelfHDR (AHDRNet)"]
    assert f"{selfhdr_row['psnr_mu']:.2f}" in card and f"{selfhdr_row['psnr_l']:.2f}" in card
    assert meta["weights_sha256"][:12] in card


def test_predict_without_checkpoint_uses_the_shipped_weights(tiny_root: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    args = _bracket(tiny_root)
    assert predict_main(args + ["--out", str(tmp_path / "default.exr")]) == 0
    printed = capsys.readouterr().out
    assert f"no --checkpoint: using the shipped weights {shipped_weights()}" in printed
    assert predict_main(args + ["--checkpoint", str(shipped_weights()), "--out", str(tmp_path / "named.exr")]) == 0
    default, named = read_hdr(tmp_path / "default.exr"), read_hdr(tmp_path / "named.exr")
    assert np.array_equal(default, named)
    assert default.std() > 1e-3  # a real reconstruction, not a constant


def test_missing_shipped_weights_say_where_they_were_looked_for(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shipped, "_source_folder", lambda: tmp_path)
    monkeypatch.setattr(shipped, "_PACKAGE", "selfhdr_no_such_package")
    with pytest.raises(CheckpointError, match=f"{SHIPPED_WEIGHTS} are not installed.*{tmp_path}.*--checkpoint"):
        shipped_weights()


def _run_folder(tmp_path: Path) -> Path:
    """A run folder as selfhdr-train leaves it: <run>/stage2/model.pth and results.json."""
    torch.manual_seed(3)
    net = build_backbone("AHDRNet", **{k: v for k, v in SMALL.items() if k != "type"})
    ckpt = tmp_path / "myrun" / "stage2" / "model.pth"
    save_weights(net, ckpt, meta={"backbone": SMALL, "channel_order": "rgb", "method": "selfhdr",
                                  "stage": "stage2", "config": {"name": "myrun"}, "optimizer_note": "dropped"})
    rows = {"SelfHDR (AHDRNet)": {"mean": {"psnr_mu": 31.5, "psnr_l": 30.25}, "scenes": {}},
            "unaligned merge": {"mean": {"psnr_mu": 30.0, "psnr_l": 33.0}}, "curves": {"stage2": "c.png"}}
    (tmp_path / "myrun" / "results.json").write_text(json.dumps(rows))
    return ckpt


def test_export_keeps_the_function_and_the_test_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = _run_folder(tmp_path)
    out = tmp_path / "shared.safetensors"
    assert export_main(["--checkpoint", str(ckpt), "--out", str(out)]) == 0
    assert "test results recorded for rows: SelfHDR (AHDRNet), unaligned merge" in capsys.readouterr().out
    _, meta = read_state_dict(out)
    assert meta["test_results"] == {"SelfHDR (AHDRNet)": {"psnr_mu": 31.5, "psnr_l": 30.25},
                                    "unaligned merge": {"psnr_mu": 30.0, "psnr_l": 33.0}}
    assert meta["source"] == "myrun/stage2/model.pth" and "optimizer_note" not in meta
    a, _, _ = load_for_inference(ckpt)
    b, bgr, _ = load_for_inference(out)
    assert not bgr and torch.equal(_forward(a), _forward(b))


def test_export_refuses_foreign_files_and_wrong_suffixes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ckpt = _run_folder(tmp_path)
    assert export_main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "x.pth")]) == 2
    assert "x.pth: the exported file must end in .safetensors" in capsys.readouterr().err
    bare = tmp_path / "bare.pth"
    torch.save({"state_dict": read_state_dict(ckpt)[0]}, bare)  # the published format: no backbone
    assert export_main(["--checkpoint", str(bare), "--out", str(tmp_path / "y.safetensors")]) == 2
    assert "bare.pth: no backbone recorded" in capsys.readouterr().err
    assert not (tmp_path / "y.safetensors").exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to copy the tracked tree")
def test_a_wheel_carries_the_shipped_weights(tmp_path: Path) -> None:
    """`pip install selfhdr` (not editable) must find the weights too: they travel as selfhdr/_weights/."""
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns("runs", "data", ".git", "*.egg-info", "build",
                                                               "__pycache__", ".pytest_cache"))
    (src / "build").mkdir(exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("selfhdr-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert f"selfhdr/_weights/{SHIPPED_WEIGHTS}" in names and f"selfhdr/_weights/{SHIPPED_CARD}" in names
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                           str(wheel)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = ("import selfhdr, selfhdr.archs.shipped as s; print(selfhdr.__file__); print(s.shipped_weights())")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr[-2000:]
    package, found = done.stdout.split()
    assert Path(package).is_relative_to(site)  # the installed copy, not this checkout
    assert Path(found) == site / "selfhdr" / "_weights" / SHIPPED_WEIGHTS
    assert Path(found).read_bytes() == (REPO / "pretrained" / SHIPPED_WEIGHTS).read_bytes()
