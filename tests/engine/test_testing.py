"""Loading checkpoints for inference (published BGR weights, ours) and user brackets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from selfhdr.archs import build_backbone
from selfhdr.archs.checkpoint import save_weights
from selfhdr.data import read_scene
from selfhdr.engine.predict import bracket_tensors, predict_hdr
from selfhdr.engine.testing import detect_backbone, load_for_inference, read_bracket
from selfhdr.errors import CheckpointError, InputError
from selfhdr.io import write_ldr

SMALL = {"type": "AHDRNet", "nf": 4, "growth": 4, "n_dense": 1, "n_rdb": 1}


def test_published_file_is_detected_and_fed_bgr(tiny_root: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_backbone("FSHDR").eval()
    path = tmp_path / "SelfHDR_model_150.pth"
    torch.save({"state_dict": net.state_dict()}, path)
    loaded, bgr, meta = load_for_inference(path)
    assert type(loaded).__name__ == "FSHDR" and bgr and meta == {}
    scene = read_scene(tiny_root / "Test" / "test_001")
    got = predict_hdr(loaded, scene.ldrs, scene.times, bgr=True)
    # By hand: the published pipeline feeds B, G, R frames and its output is B, G, R.
    xs = [x[:, [2, 1, 0, 5, 4, 3]] for x in bracket_tensors(scene.ldrs, scene.times)]
    with torch.no_grad():
        ref = net(*xs)[0, [2, 1, 0]].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_our_checkpoint_records_backbone_and_rgb(tmp_path: Path) -> None:
    net = build_backbone("AHDRNet", **{k: v for k, v in SMALL.items() if k != "type"})
    path = tmp_path / "model.pth"
    save_weights(net, path, meta={"backbone": SMALL, "channel_order": "rgb"})
    loaded, bgr, meta = load_for_inference(path)
    assert not bgr and meta["backbone"] == SMALL
    assert loaded.conv1.out_channels == 4
    _, bgr2, _ = load_for_inference(path, channel_order="bgr")
    assert bgr2


def test_unknown_weights_are_refused() -> None:
    with pytest.raises(CheckpointError, match="cannot tell which backbone"):
        detect_backbone({"conv.weight": torch.zeros(3, 3, 3, 3)})


def _bracket(tmp_path: Path) -> list:
    """Three 8-bit frames of one textured radiance map at EV -1, 1, 3 (gamma 2.2), named out of order."""
    rng = np.random.default_rng(0)
    radiance = 0.02 + 0.1 * rng.random((32, 32, 1)) * np.ones(3)
    paths = []
    for name, ev in (("mid", 1), ("long", 3), ("short", -1)):
        ldr = np.clip(radiance * 2.0 ** ev, 0, 1) ** (1 / 2.2)
        write_ldr(tmp_path / f"{name}.png", ldr, bits=8)
        paths.append(tmp_path / f"{name}.png")
    return paths


def test_read_bracket_sorts_by_exposure(tmp_path: Path) -> None:
    paths = _bracket(tmp_path)
    ldrs, times, order = read_bracket(paths, exposures=[1, 3, -1])
    assert [p.stem for p in order] == ["short", "mid", "long"]
    np.testing.assert_allclose(times, [1.0, 4.0, 16.0])
    assert ldrs[0].mean() < ldrs[1].mean() < ldrs[2].mean()
    with pytest.raises(InputError, match="no EXIF exposure time"):
        read_bracket(paths)
    with pytest.raises(InputError, match="mid.png and short.png have the same exposure|same exposure"):
        read_bracket(paths, exposures=[0, 2, 0])


def test_read_bracket_refuses_exposures_that_contradict_the_frames(tmp_path: Path) -> None:
    paths = _bracket(tmp_path)
    # Stops given to the wrong images (mid and long swapped): once silently reordered, now refused.
    with pytest.raises(InputError, match=r"brightness contradicts the declared exposures: long.png is declared "
                                         r"\+2.00 stops from short.png but measures \+4.00 .*mid.png is declared "
                                         r"\+2.00 stops from long.png but measures -2.00"):
        read_bracket(paths, exposures=[3, 1, -1])
    ldrs, times, order = read_bracket(paths, exposures=[3, 1, -1], allow_mismatch=True)
    assert [p.stem for p in order] == ["short", "long", "mid"]
