"""Checkpoint reading/writing: every accepted layout, refusal of code, clear mismatch errors."""

from __future__ import annotations

import json
import math
import os
import pickle
import zlib
from pathlib import Path
from typing import Callable, Dict, Tuple

import numpy as np
import pytest
import torch

from selfhdr.archs import build_backbone, list_backbones, load_checkpoint, read_state_dict
from selfhdr.archs import save_weights
from selfhdr.errors import CheckpointError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "conformance"
TINY = dict(nf=8, growth=4, n_dense=2, n_rdb=2)


def frames(h: int, w: int, seed: int = 0) -> Tuple[torch.Tensor, ...]:
    """Three random 1×6×H×W frames."""
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(1, 6, h, w, generator=g) for _ in range(3))


def tiny(seed: int) -> torch.nn.Module:
    """A small AHDRNet whose weights depend on ``seed``."""
    torch.manual_seed(seed)
    return build_backbone("AHDRNet", **TINY).eval()


def output(model: torch.nn.Module, size: int = 16) -> torch.Tensor:
    """The model's output on fixed inputs of a size its divisor accepts."""
    side = size * model.size_divisor
    with torch.no_grad():
        return model(*frames(side, side))


def _training_checkpoint(model: torch.nn.Module, path: Path) -> None:
    """What a training run saves: weights plus optimiser, scheduler, step and config."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model(*frames(8, 8)).mean().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=50, gamma=0.5)
    torch.save(
        {
            "state_dict": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "step": 7,
            "config": {"model": {"type": "AHDRNet", **TINY}},
            "backbone": "AHDRNet",
            "channel_order": "BGR",
        },
        path,
    )


WRITERS: Dict[str, Callable[[torch.nn.Module, Path], None]] = {
    "published": lambda m, p: torch.save({"state_dict": m.state_dict()}, p),
    "bare": lambda m, p: torch.save(m.state_dict(), p),
    "module_prefixed": lambda m, p: torch.save(
        {"state_dict": {f"module.{k}": v for k, v in m.state_dict().items()}}, p
    ),
    "training": _training_checkpoint,
    "save_weights_pth": lambda m, p: save_weights(m, p, meta={"step": 7}),
    "save_weights_safetensors": lambda m, p: save_weights(
        m, p.with_suffix(".safetensors"), meta={"step": 7, "backbone": "AHDRNet"}
    ),
}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_round_trip_gives_identical_output(fmt: str, tmp_path: Path) -> None:
    source = tiny(seed=1)
    path = tmp_path / "w.pth"
    WRITERS[fmt](source, path)
    if fmt.endswith("safetensors"):
        path = path.with_suffix(".safetensors")
    expected = output(source)  # after the writer: the training writer takes an optimiser step
    target = tiny(seed=2)
    assert not torch.equal(output(target), expected)
    meta = load_checkpoint(target, path)
    assert torch.equal(output(target), expected)
    if fmt in ("training", "save_weights_pth", "save_weights_safetensors"):
        assert meta["step"] == 7
    if fmt == "training":
        expected = {"optimizer", "scheduler", "config", "step", "backbone", "channel_order"}
        assert set(meta) == expected
        assert meta["config"]["model"]["nf"] == 8 and meta["channel_order"] == "BGR"
    if fmt == "published":
        assert meta == {}


def test_read_state_dict_strips_module_prefix(tmp_path: Path) -> None:
    model = tiny(seed=1)
    path = tmp_path / "ddp.pth"
    WRITERS["module_prefixed"](model, path)
    state, meta = read_state_dict(path)
    assert list(state) == list(model.state_dict()) and meta == {}


def test_safetensors_metadata_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    meta = {"step": 12, "backbone": "FSHDR", "config": {"lr": 1e-4, "betas": [0.9, 0.999]}}
    save_weights(tiny(seed=1).state_dict(), path, meta=meta)
    _, read_meta = read_state_dict(path)
    assert read_meta == meta


def published_tensor(key: str, shape: Tuple[int, ...]) -> torch.Tensor:
    """The value the conformance vectors give parameter ``key`` (rule of test_conformance.py).

    ``tests/fixtures/conformance/<name>_64x64.npz`` holds the published network's output
    with every parameter filled this way, so a file built from the published key list with
    these values must reproduce that output once loaded.
    """
    gen = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    t = torch.randn(shape, generator=gen, dtype=torch.float32)
    if len(shape) >= 2:
        return t / math.sqrt(math.prod(shape) / shape[0])
    return 0.1 * t + (1.0 if key.endswith("weight") else 0.0)


# Every backbone with plain keys; the prefix rule is generic, so one backbone carries it.
@pytest.mark.parametrize("name, prefix", [(n, "") for n in list_backbones()] + [("AHDRNet", "module.")])
def test_published_file_loads_into_each_backbone(name: str, prefix: str, tmp_path: Path) -> None:
    """A file in the published format, built from the published key list alone (not from our
    module): ``torch.save({'state_dict': sd})``, keys as listed (DataParallel adds
    ``module.``), derived buffers included. Loaded, it reproduces the published output."""
    published = json.loads((FIXTURES / "state_dict_keys.json").read_text())[name]
    state = {}
    for key, spec in published.items():
        shape = tuple(spec["shape"])
        # Derived buffers (relative_position_index, attn_mask) are functions of the window
        # size that our modules rebuild; their stored values are not read, zeros will do.
        value = published_tensor(key, shape) if spec["kind"] == "parameter" else torch.zeros(shape)
        state[prefix + key] = value
    path = tmp_path / "SelfHDR_model_150.pth"
    torch.save({"state_dict": state}, path)
    ref = np.load(FIXTURES / f"{name}_64x64.npz")
    xs = [torch.from_numpy(ref[k]) for k in ("x1", "x2", "x3")]
    torch.manual_seed(4)
    target = build_backbone(name).eval()
    with torch.no_grad():
        assert float(np.abs(target(*xs).numpy() - ref["y"]).max()) > 1e-2  # not yet loaded
    assert load_checkpoint(target, path) == {}
    with torch.no_grad():
        y = target(*xs).numpy()
    err = float(np.abs(y - ref["y"]).max())
    assert err <= 1e-4, f"{name}: max |Δ| = {err:.3g}"  # the conformance test's tolerance


@pytest.mark.parametrize("name", list_backbones())
def test_published_derived_buffers_are_accepted(name: str, tmp_path: Path) -> None:
    """Published transformer files carry relative_position_index/attn_mask buffers."""
    published = json.loads((FIXTURES / "state_dict_keys.json").read_text())
    source = build_backbone(name).eval()
    state = dict(source.state_dict())
    # Every derived buffer the published module had, wherever our module lacks it; the
    # CNNs get two transformer-style ones so the rule is exercised for every backbone.
    buffers = {k: v["shape"] for k, v in published[name].items() if v["kind"] != "parameter"}
    buffers = buffers or {"layers.0.blocks.1.attn_mask": [4, 64, 64],
                          "layers.0.blocks.0.attn.relative_position_index": [64, 64]}
    for key, shape in buffers.items():
        state.setdefault(key, torch.zeros(shape, dtype=torch.float32))
    path = tmp_path / "published.pth"
    torch.save({"state_dict": state}, path)
    load_checkpoint(build_backbone(name), path)

    # Any other unexpected key is still an error.
    state["layers.0.blocks.0.attn.extra_table"] = torch.zeros(3)
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError, match="1 unexpected key .*extra_table"):
        load_checkpoint(build_backbone(name), path)


def test_truncated_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "cut.pth"
    save_weights(tiny(seed=1), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pth"):
        load_checkpoint(tiny(seed=2), path)


def test_truncated_safetensors_raises(tmp_path: Path) -> None:
    path = tmp_path / "cut.safetensors"
    save_weights(tiny(seed=1), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointError, match="cut.safetensors"):
        read_state_dict(path)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".bin"])
def test_random_bytes_raise(suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"noise{suffix}"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match=f"noise\\{suffix}: cannot read checkpoint"):
        read_state_dict(path)


@pytest.mark.parametrize("obj", [[1, 2, 3], {"epoch": 3}, {}, {"state_dict": {}}])
def test_non_checkpoint_raises(obj: object, tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="other.pth"):
        read_state_dict(path)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="absent.pth: no such checkpoint file"):
        read_state_dict(tmp_path / "absent.pth")


class WritesAFile:
    """Unpickling this runs ``exec``: a stand-in for a malicious checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


@pytest.mark.parametrize("container", ["torch_zip", "raw_pickle"])
def test_pickled_code_is_refused_not_run(container: str, tmp_path: Path) -> None:
    # Control: plain pickle would run the payload, so the test below is meaningful.
    control = tmp_path / "control.txt"
    pickle.loads(pickle.dumps(WritesAFile(control)))
    assert control.exists()

    marker = tmp_path / "marker.txt"
    payload = {"state_dict": tiny(seed=1).state_dict(), "hook": WritesAFile(marker)}
    path = tmp_path / "evil.pth"
    if container == "torch_zip":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(CheckpointError, match="evil.pth: cannot read checkpoint"):
        load_checkpoint(tiny(seed=2), path)
    assert not marker.exists()


def test_mismatch_lists_keys(tmp_path: Path) -> None:
    path = tmp_path / "fshdr.pth"
    save_weights(build_backbone("FSHDR", nf=8), path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tiny(seed=1), path)
    msg = str(info.value)
    assert "fshdr.pth" in msg and "AHDRNet" in msg
    n_ahdr = len(tiny(seed=1).state_dict())
    n_fshdr = len(build_backbone("FSHDR", nf=8).state_dict())
    # Shared names: conv1/conv2/conv3 weight and bias; three of them differ in shape.
    assert "3 mis-shaped keys" in msg
    assert "conv2.weight: file [8, 6, 3, 3] vs model [8, 24, 3, 3]" in msg
    assert f"{n_ahdr - 6} missing keys" in msg and f"{n_fshdr - 6} unexpected keys" in msg
    assert "att11.weight" in msg and "conv4.weight" in msg and ", ..." in msg


def test_wrong_width_is_mis_shaped_even_when_not_strict(tmp_path: Path) -> None:
    path = tmp_path / "wide.pth"
    save_weights(build_backbone("AHDRNet", **{**TINY, "nf": 12}), path)
    expected = "mis-shaped keys .*conv1.weight: file \\[12, 6, 3, 3\\]"
    with pytest.raises(CheckpointError, match=expected):
        load_checkpoint(tiny(seed=1), path, strict=False)


def test_non_strict_tolerates_missing_and_unexpected(tmp_path: Path) -> None:
    source = tiny(seed=1)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("RDB2.")}
    state["extra.weight"] = torch.zeros(2)
    path = tmp_path / "partial.pth"
    torch.save({"state_dict": state}, path)
    target = tiny(seed=2)
    with pytest.raises(CheckpointError, match="missing keys .*RDB2"):
        load_checkpoint(target, path)
    load_checkpoint(target, path, strict=False)
    assert torch.equal(target.conv1.weight, source.conv1.weight)
    assert not torch.equal(target.RDB2.conv_1x1.weight, source.RDB2.conv_1x1.weight)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_weights(tiny(seed=1), path, meta={"step": 1})
    before = path.read_bytes()
    # A failing save (metadata a safetensors header cannot hold) leaves the old file intact.
    with pytest.raises(CheckpointError, match="optimizer"):
        save_weights(tiny(seed=2), path, meta={"optimizer": torch.zeros(1)})
    assert path.read_bytes() == before
    save_weights(tiny(seed=2), tmp_path / "w.pth", meta={"step": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pth", "w.safetensors"]


def test_save_refuses_meta_the_safe_loader_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    with pytest.raises(CheckpointError, match="w.pth: not written"):
        save_weights(tiny(seed=1), path, meta={"hook": WritesAFile(tmp_path / "m.txt")})
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_reserved_meta_key(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="state_dict"):
        save_weights(tiny(seed=1), tmp_path / "w.pth", meta={"state_dict": {}})
    assert not (tmp_path / "w.pth").exists()
