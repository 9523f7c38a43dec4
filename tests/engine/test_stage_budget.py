"""Stage budgets: stage 1's own length, stage 2 warm-started from stage 1, and the supervised
row trained for as many steps as the SelfHDR network it is compared with."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict, List

import pytest
import torch

from selfhdr.archs import build_from_node, load_checkpoint
from selfhdr.config import load_config
from selfhdr.engine.pipeline import run, supervised_epochs
from selfhdr.engine.state import read_training_state
from selfhdr.errors import ConfigError
from selfhdr.methods.selfhdr import SelfHDRStage2

NET = "{type: AHDRNet, nf: 4, growth: 4, n_dense: 1, n_rdb: 1}"
ITERS = 3


def _cfg(tiny_root: Path, tmp_path: Path, *extra: str):  # type: ignore[no-untyped-def]
    root = tmp_path / "data"
    if not root.exists():
        shutil.copytree(tiny_root, root)
    return load_config(None, [
        "name=budget", f"output_dir={tmp_path / 'runs'}", f"data.root={root}", "data.patch_size=24",
        "data.prepare_workers=1", f"model={NET}", "train.batch_size=2", "train.epochs=1",
        f"train.iters_per_epoch={ITERS}", "train.val_every=0", "train.image_every=0",
        "selfhdr.stage2.structure_loss=ssim", "report.supervised=true", "report.baselines=false",
        "report.color=false", *extra])


def test_supervised_budget_follows_the_selfhdr_network() -> None:
    base = ["train.epochs=3", "selfhdr.stage1.epochs=2"]
    assert supervised_epochs(load_config(None, base)) is None  # from scratch: train.epochs
    assert supervised_epochs(load_config(None, base + ["selfhdr.stage2.warm_start=true"])) == 5
    assert supervised_epochs(load_config(None, ["train.epochs=3", "selfhdr.stage2.warm_start=true"])) == 6
    assert supervised_epochs(load_config(None, base + ["selfhdr.stage2.warm_start=true",
                                                       "method=supervised"])) is None
    with pytest.raises(ConfigError, match="epochs must be ≥ 1"):
        load_config(None, ["selfhdr.stage1.epochs=0"])


def test_warm_start_and_stage_lengths_end_to_end(tiny_root: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg(tiny_root, tmp_path, "selfhdr.stage1.epochs=2", "selfhdr.stage2.warm_start=true")
    first: List[Dict[str, torch.Tensor]] = []
    real = SelfHDRStage2.training_step

    def step(self, batch):  # type: ignore[no-untyped-def]
        if not first:  # the weights stage 2 starts from, before its first update
            first.append({k: v.detach().clone() for k, v in self.net.state_dict().items()})
        return real(self, batch)

    monkeypatch.setattr(SelfHDRStage2, "training_step", step)
    run(cfg)
    rd = tmp_path / "runs" / "budget"
    steps = {s: read_training_state(rd / s / "checkpoint.pth")["step"] for s in ("stage1", "stage2", "supervised")}
    assert steps == {"stage1": 2 * ITERS, "stage2": ITERS, "supervised": 3 * ITERS}
    stage1 = build_from_node(cfg.model)
    load_checkpoint(stage1, rd / "stage1" / "model.pth")
    start = first[0]
    assert set(start) == set(stage1.state_dict())
    assert all(torch.equal(start[k], v) for k, v in stage1.state_dict().items())
    # ... and stage 2 trained on from there: its final weights moved away.
    stage2 = build_from_node(cfg.model)
    load_checkpoint(stage2, rd / "stage2" / "model.pth")
    assert not all(torch.equal(stage2.state_dict()[k], v) for k, v in start.items())


def test_stage2_starts_from_scratch_by_default(tiny_root: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg(tiny_root, tmp_path, "report.supervised=false")
    assert cfg.selfhdr.stage2.warm_start is False and cfg.selfhdr.stage1.epochs is None  # published
    first: List[Dict[str, torch.Tensor]] = []
    real = SelfHDRStage2.training_step

    def step(self, batch):  # type: ignore[no-untyped-def]
        if not first:
            first.append({k: v.detach().clone() for k, v in self.net.state_dict().items()})
        return real(self, batch)

    monkeypatch.setattr(SelfHDRStage2, "training_step", step)
    run(cfg)
    rd = tmp_path / "runs" / "budget"
    assert read_training_state(rd / "stage1" / "checkpoint.pth")["step"] == ITERS
    stage1 = build_from_node(cfg.model)
    load_checkpoint(stage1, rd / "stage1" / "model.pth")
    assert not any(torch.equal(first[0][k], v) for k, v in stage1.state_dict().items() if v.numel() > 1)


def test_a_collapsed_stage1_stops_before_stage2(tiny_root: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A stage 1 whose sigmoid saturated everywhere (seen at lr 4e-3 without warm-up) is an error."""
    import selfhdr.engine.pipeline as pipeline
    from selfhdr.engine.trainer import TrainingDiverged

    real = pipeline.load_trained

    def collapsed(run_, path):  # type: ignore[no-untyped-def]
        net = real(run_, path)
        with torch.no_grad():  # the output layer of the collapsed demo run: one value everywhere
            net.conv3.weight.zero_()
            net.conv3.bias.fill_(30.0)
        return net

    monkeypatch.setattr(pipeline, "load_trained", collapsed)
    cfg = _cfg(tiny_root, tmp_path, "report.supervised=false")
    with pytest.raises(TrainingDiverged, match=r"stage 1 .* collapsed: .* constant value on every training scene"):
        run(cfg)
    rd = tmp_path / "runs" / "budget"
    assert not list((rd / "stru").glob("*.hdr")) and not (rd / "stru" / "done.json").exists()
    assert not (rd / "stage2").exists()  # stage 2 never started


def test_stage2_learning_rate_and_warm_up_are_its_own(tiny_root: Path, tmp_path: Path) -> None:
    """selfhdr.stage2.lr / warmup_iters set stage 2's schedule only; stage 1 and the supervised
    row keep train.lr and train.warmup_iters (published default: None, the shared ones)."""
    published = load_config(None, [])
    assert published.selfhdr.stage2.lr is None and published.selfhdr.stage2.warmup_iters is None
    cfg = _cfg(tiny_root, tmp_path, "train.lr=1e-3", "train.warmup_iters=10",
               "selfhdr.stage2.warm_start=true", "selfhdr.stage2.lr=2.5e-4", "selfhdr.stage2.warmup_iters=0")
    run(cfg)
    rd = tmp_path / "runs" / "budget"
    base = {}
    for stage in ("stage1", "stage2", "supervised"):
        state = torch.load(rd / stage / "checkpoint.pth", weights_only=True, map_location="cpu")
        base[stage] = (state["scheduler"]["base_lrs"][0], state["optimizer"]["param_groups"][0]["lr"])
    # stage 1 and the supervised row are still in train.warmup_iters' ramp after their 3 steps ...
    assert base["stage1"][0] == pytest.approx(1e-3) and base["stage1"][1] < 0.5e-3
    assert base["supervised"][0] == pytest.approx(1e-3) and base["supervised"][1] < 1e-3
    assert base["stage2"] == pytest.approx((2.5e-4, 2.5e-4))  # ... stage 2 has none: at its peak
    for bad, message in (("selfhdr.stage2.lr=0", "lr must be > 0"),
                         ("selfhdr.stage2.warmup_iters=-1", "warmup_iters must be ≥ 0")):
        with pytest.raises(ConfigError, match=message):
            load_config(None, [bad])
