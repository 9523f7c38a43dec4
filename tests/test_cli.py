"""Console commands: listing, test.py and predict.py on unlabelled data, outputs checked before work."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from selfhdr.archs import build_backbone
from selfhdr.archs.checkpoint import save_weights
from selfhdr.cli import COMMANDS, console_scripts
from selfhdr.cli.predict import main as predict_main
from selfhdr.cli.test import main as evaluate_cli
from selfhdr.io import read_hdr

REPO = Path(__file__).resolve().parents[1]
SMALL = {"type": "AHDRNet", "nf": 4, "growth": 4, "n_dense": 1, "n_rdb": 1}


@pytest.fixture()
def checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    net = build_backbone("AHDRNet", **{k: v for k, v in SMALL.items() if k != "type"})
    path = tmp_path / "model.pth"
    save_weights(net, path, meta={"backbone": SMALL, "channel_order": "rgb"})
    return path


@pytest.fixture()
def unlabelled(tiny_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(tiny_root / "Test", root / "Test")
    (root / "Test" / "test_001" / "HDRImg.hdr").unlink()
    return root


@pytest.fixture()
def immutable(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A folder nobody can write to, root included (chattr +i), or skip where chattr cannot."""
    d = tmp_path / "locked"
    d.mkdir()
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here (needed to make a folder read-only for root)")
    yield d
    subprocess.run(["chattr", "-i", str(d)], check=True)


def test_setup_registers_every_command() -> None:
    text = (REPO / "setup.py").read_text()
    assert "selfhdr.cli" in text and "entry_points" in text
    parsed = re.findall(r'^    "([a-z-]+)": \("([a-z_]+)",', (REPO / "selfhdr" / "cli" / "__init__.py").read_text(), re.M)
    assert [f"selfhdr-{n} = selfhdr.cli.{m}:main" for n, m in parsed] == console_scripts()
    for name, (module, _) in COMMANDS.items():
        assert (REPO / "selfhdr" / "cli" / f"{module}.py").is_file(), name
        wrapper = (REPO / "scripts" / f"{module}.py").read_text()
        assert f"from selfhdr.cli.{module} import main" in wrapper and len(wrapper.splitlines()) < 12
    assert "[build-system]" in (REPO / "pyproject.toml").read_text()


def test_python_m_selfhdr_lists_and_runs_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "selfhdr"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0
    for name in COMMANDS:
        assert f"selfhdr-{name} " in out.stdout
    help_ = subprocess.run([sys.executable, "-m", "selfhdr", "import", "--help"], capture_output=True, text=True,
                           cwd=REPO)
    assert help_.returncode == 0 and "usage: selfhdr-import" in help_.stdout
    bad = subprocess.run([sys.executable, "-m", "selfhdr", "trian"], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "unknown command 'trian'" in bad.stderr


def test_test_py_on_unlabelled_scenes(unlabelled: Path, checkpoint: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    rc = evaluate_cli(["--checkpoint", str(checkpoint), "--data-root", str(unlabelled), "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "note: 1 of 2 scenes have no label (HDRImg.hdr), so there are no metrics for test_001" in printed
    assert "test_001" in printed and "wrote 2 outputs" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["scenes"]) == ["test_002"] and metrics["unlabelled"] == ["test_001"]
    for name in ("test_001", "test_002"):
        assert read_hdr(out / f"{name}.hdr").shape == (48, 64, 3) and (out / f"{name}.png").is_file()
    (unlabelled / "Test" / "test_002" / "HDRImg.hdr").unlink()
    rc = evaluate_cli(["--checkpoint", str(checkpoint), "--data-root", str(unlabelled), "--out", str(tmp_path / "o2")])
    assert rc == 0 and "note: no scene has a label" in capsys.readouterr().out


def test_test_py_hdr_vdp2_column(unlabelled: Path, checkpoint: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    rc = evaluate_cli(["--checkpoint", str(checkpoint), "--data-root", str(unlabelled), "--out", str(out),
                       "--metrics", "psnr_mu,psnr_l,ssim_mu,ssim_l,hdr_vdp2"])
    printed = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert "| method | PSNR-μ | PSNR-l | SSIM-μ | SSIM-l | HDR-VDP-2 |" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["scenes"]["test_002"]["hdr_vdp2"]) and metrics["unlabelled"] == ["test_001"]
    row = next(line for line in printed if line.startswith("| test_002 |"))
    assert row.endswith(f" {metrics['scenes']['test_002']['hdr_vdp2']:.2f} |")
    # A misspelt metric fails at once, before the (here missing) checkpoint is even opened.
    with pytest.raises(SystemExit) as exc:
        evaluate_cli(["--checkpoint", "missing.pth", "--data-root", str(unlabelled),
                      "--out", str(tmp_path / "o2"), "--metrics", "psnr_mu,hdrvdp"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "unknown metric 'hdrvdp'; valid metrics: psnr_mu, psnr_l, ssim_mu, ssim_l, " \
        "hdr_vdp2" in err and not (tmp_path / "o2").exists()


def _assert_clean_failure(capsys: pytest.CaptureFixture, rc: int, *needles: str) -> None:
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], lines[0]


def test_test_py_blocked_outputs_fail_before_work(unlabelled: Path, checkpoint: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture, immutable: Path) -> None:
    args = ["--checkpoint", str(checkpoint), "--data-root", str(unlabelled), "--out"]
    # A file where the output folder must go.
    (tmp_path / "afile").write_text("x")
    _assert_clean_failure(capsys, evaluate_cli(args + [str(tmp_path / "afile" / "out")]), "afile", "is a file, not a folder")
    # A folder squatting on one scene's output name: nothing is written for any scene.
    out = tmp_path / "out"
    (out / "test_002.hdr").mkdir(parents=True)
    _assert_clean_failure(capsys, evaluate_cli(args + [str(out)]), "test_002.hdr", "is a folder")
    assert sorted(p.name for p in out.iterdir()) == ["test_002.hdr"]
    # A read-only folder.
    _assert_clean_failure(capsys, evaluate_cli(args + [str(immutable / "out")]), "locked", "not writable")


def test_predict_folder_of_an_import_root(unlabelled: Path, checkpoint: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    shutil.copytree(unlabelled / "Test", unlabelled / "Training")  # an import root has both splits
    for scene in (unlabelled / "Training").iterdir():
        scene.rename(scene.with_name(scene.name.replace("test", "train")))
    shutil.copytree(unlabelled / "Test", unlabelled / "Test_align")  # never predicted: aligned copies
    out = tmp_path / "pred"
    rc = predict_main(["--checkpoint", str(checkpoint), "--input", str(unlabelled), "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0 and "4 brackets predicted, 0 refused" in printed
    assert sorted(p.name for p in out.glob("*.hdr")) == ["test_001.hdr", "test_002.hdr", "train_001.hdr",
                                                          "train_002.hdr"]
    assert all(p.with_suffix(".png").is_file() for p in out.glob("*.hdr"))


def test_predict_folder_refuses_a_bad_bracket_and_goes_on(unlabelled: Path, checkpoint: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    (unlabelled / "Test" / "test_001" / "exposure.txt").write_text("0\n4\n2\n")  # not increasing
    (unlabelled / "Test" / "test_002" / "exposure.txt").write_text("0\n1\n9\n")  # contradicts the frames
    rc = predict_main(["--checkpoint", str(checkpoint), "--input", str(unlabelled / "Test"),
                       "--out", str(tmp_path / "p")])
    printed = capsys.readouterr().out
    assert rc == 2 and "0 brackets predicted, 2 refused" in printed
    assert "refused test_001:" in printed and "must strictly increase" in printed
    assert "refused test_002:" in printed and "brightness contradicts the declared exposures" in printed
    rc = predict_main(["--checkpoint", str(checkpoint), "--input", str(unlabelled / "Test"),
                       "--out", str(tmp_path / "p"), "--allow-mismatch"])
    assert rc == 0 and "1 brackets predicted, 1 refused" in capsys.readouterr().out


def test_predict_single_bracket_blocked_output(unlabelled: Path, checkpoint: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    frames = sorted(str(p) for p in (unlabelled / "Test" / "test_002").glob("*.tif"))
    base = ["--checkpoint", str(checkpoint), "--images", *frames, "--exposures"]
    stops = (unlabelled / "Test" / "test_002" / "exposure.txt").read_text().split()
    (tmp_path / "r.png").mkdir()  # the preview's place is taken
    _assert_clean_failure(capsys, predict_main(base + stops + ["--out", str(tmp_path / "r.exr")]), "r.png", "is a folder")
    assert not (tmp_path / "r.exr").exists()
    _assert_clean_failure(capsys, predict_main(base + stops + ["--out", str(tmp_path / "r.jpg")]), "r.jpg",
                          "unsupported output suffix")
    assert predict_main(base + stops + ["--out", str(tmp_path / "ok.exr")]) == 0
    hdr = read_hdr(tmp_path / "ok.exr")
    assert hdr.shape == (48, 64, 3) and np.isfinite(hdr).all() and (tmp_path / "ok.png").is_file()


def test_hdr_and_preview_appear_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from selfhdr.io import outputs, write_hdr_with_preview

    def broken(*_a, **_k):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    monkeypatch.setattr(outputs, "encode_preview", broken)
    with pytest.raises(OSError, match="disk full"):
        write_hdr_with_preview(tmp_path / "x.hdr", np.ones((4, 4, 3), np.float32))
    assert list(tmp_path.iterdir()) == []  # neither file, no temporaries


def test_train_into_a_read_only_folder_fails_before_any_work(tmp_path: Path, immutable: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    from selfhdr.cli.train import main as train_cli

    data = tmp_path / "synthetic"
    rc = train_cli(["--set", f"output_dir={immutable}", "--set", f"data.root={data}", "--make-data"])
    _assert_clean_failure(capsys, rc, "locked", "not writable")
    assert not data.exists()
