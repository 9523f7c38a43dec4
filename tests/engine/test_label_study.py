"""selfhdr.engine.label_study: M1/M2 coverage as the losses compute them, from a run's own files."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from selfhdr.camera import ldr_to_hdr
from selfhdr.config import load_config, save_config
from selfhdr.data.scene import list_scenes, read_scene
from selfhdr.engine.label_study import main, study_run
from selfhdr.io import write_hdr


def _run(tiny_root: Path, tmp: Path, color_of, stru_of) -> Path:
    root, run = tmp / "data", tmp / "run"
    shutil.copytree(tiny_root, root)
    cfg = load_config(None, [f"data.root={root}"])
    run.mkdir()
    save_config(cfg, run / "config.yaml")
    for d in list_scenes(root / "Training"):
        scene = read_scene(d)
        color = color_of(scene)
        (root / "Training_align" / d.name).mkdir(parents=True)
        write_hdr(root / "Training_align" / d.name / "HDRImg.hdr", color)
        (run / "stru").mkdir(exist_ok=True)
        write_hdr(run / "stru" / f"{d.name}.hdr", stru_of(color))
    return run


def reference(scene):  # the reference frame's own linear values: M1 keeps every pixel
    return ldr_to_hdr(scene.ldrs[1], scene.times[1]).astype(np.float32)


def test_masks_keep_everything_where_labels_agree(tiny_root: Path, tmp_path: Path) -> None:
    r = study_run(_run(tiny_root, tmp_path, reference, lambda c: c))
    assert r["m1_kept"] == pytest.approx(1.0, abs=1e-6) and r["m2_kept"] == pytest.approx(1.0, abs=1e-6)
    assert 20 < r["y_color_psnr_mu"] < 60  # the reference alone, scored against the ground truth


def test_masks_drop_what_disagrees(tiny_root: Path, tmp_path: Path) -> None:
    bright = lambda s: np.clip(reference(s) * 4.0, 0, 1)  # noqa: E731 - two stops off the reference
    r = study_run(_run(tiny_root, tmp_path, bright, lambda c: c * 0.25))
    assert r["m1_kept"] < 0.7 and r["m2_kept"] < 0.7


def test_not_a_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(tmp_path)]) == 2
    assert "no config.yaml" in capsys.readouterr().err
