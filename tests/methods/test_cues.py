"""The motion-and-exposure-cues method: loss, logs, config, paper configs, one end-to-end run."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Dict, List

import pytest
import torch
import yaml
from torch import nn

from selfhdr.archs import build_from_node, load_checkpoint
from selfhdr.config import load_config
from selfhdr.engine import pipeline
from selfhdr.engine.logger import RunLogger
from selfhdr.errors import ConfigError
from selfhdr.methods.cues import CuesConfig, CuesMethod

REPO = Path(__file__).resolve().parents[2]
NET = "{type: AHDRNet, nf: 4, growth: 4, n_dense: 1, n_rdb: 1}"
BACKBONES = ("ahdrnet", "fshdr", "hdr_transformer", "sctnet")


class _Scale(nn.Module):
    """out = a · (linear reference): enough to check the loss by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(0.7))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        return self.a * x2[:, :3]


def test_training_step_loss_and_logs() -> None:
    g = torch.Generator().manual_seed(0)
    batch = {f"x{k}": torch.rand(2, 6, 8, 8, generator=g) for k in (1, 2, 3)}
    batch["label"] = torch.rand(2, 3, 8, 8, generator=g)
    batch["cls"] = torch.tensor([0, 1])
    stats: Dict[str, float] = {}
    method = CuesMethod(_Scale(), stats)
    stats.update({"static": 3.0, "moving": 5.0, "rejected": 2.0, "total": 10.0, "rejected_fraction": 0.25})
    out = method.training_step(batch)
    pred = 0.7 * batch["x2"][:, :3]

    def mu(x: torch.Tensor) -> torch.Tensor:
        return torch.log(1 + 5000 * x) / math.log(5001)

    want = (mu(pred) - mu(batch["label"])).abs().mean()
    assert float(out["loss"].detach()) == pytest.approx(float(want), rel=1e-6)
    out["loss"].backward()
    assert method.net.a.grad is not None and float(method.net.a.grad) != 0
    assert torch.equal(out["out"], pred.detach())
    assert {k: float(v) for k, v in out.items() if k not in ("loss", "out")} == {
        "batch_static_share": 0.5, "patches_static": 3.0, "patches_moving": 5.0, "patches_rejected": 2.0,
        "patches_total": 10.0, "rejected_fraction": 0.25}
    assert all(v.dim() == 0 for k, v in out.items() if k != "out")


def test_config_section_validates() -> None:
    cfg = load_config(None, ["method=cues", "cues.patches.max_outliers=0.05", "cues.warp.translation_px=0",
                             "cues.illumination.gain_range=[1, 4]", "cues.patches.stride=16", "report.cues=true"])
    assert cfg.method == "cues" and cfg.report.cues
    assert cfg.cues.patches.max_outliers == 0.05 and cfg.cues.patches.stride == 16
    assert cfg.cues.illumination.gain_range == [1.0, 4.0] and cfg.cues.warp.translation_px == 0.0
    for override, match in [
        ("cues.illumination.gain_range=[4, 1]", r"cues\.illumination: gain_range"),
        ("cues.patches.clip_leve=0.9", r"unknown config key 'cues\.patches\.clip_leve'; did you mean 'clip_level'"),
        ("cues.patches.black_level=0.99", r"cues\.patches: need 0 ≤ black_level < clip_level"),
        ("cues.warp.scale=-1", r"cues\.warp: scale must be ≥ 0"),
        ("method=cue", r"method: 'cue' is not one of"),
    ]:
        with pytest.raises(ConfigError, match=match):
            load_config(None, [override])


@pytest.mark.parametrize("backbone", BACKBONES)
def test_paper_configs_share_selfhdr_budget(backbone: str) -> None:
    selfhdr = yaml.safe_load((REPO / "configs" / f"selfhdr_{backbone}.yaml").read_text())
    for method in ("supervised", "cues"):
        path = REPO / "configs" / f"{method}_{backbone}.yaml"
        cfg = load_config(path)
        raw = yaml.safe_load(path.read_text())
        assert cfg.method == method and cfg.name == f"{method}_{backbone}"
        for section in ("data", "model", "train", "eval"):
            assert raw.get(section) == selfhdr.get(section), (path.name, section)
        if method == "cues":
            assert cfg.cues == CuesConfig()  # the spelled-out values are the documented defaults
        else:
            assert "cues" not in raw and "selfhdr" not in raw


def test_cues_end_to_end(tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    logged: List[Dict[str, float]] = []
    real = RunLogger.scalars

    def spy(self, prefix, values, step):  # type: ignore[no-untyped-def]
        if prefix == "cues":
            logged.append(dict(values))
        return real(self, prefix, values, step)

    monkeypatch.setattr(RunLogger, "scalars", spy)
    cfg = load_config(None, [
        "name=cues", "method=cues", f"output_dir={tmp_path / 'runs'}", f"data.root={root}", "data.patch_size=24",
        f"model={NET}", "train.batch_size=2", "train.epochs=1", "train.iters_per_epoch=3", "train.log_every=1",
        "train.image_every=2", "report.baselines=false",
    ])
    results = pipeline.run(cfg)
    rd = tmp_path / "runs" / "cues"
    assert list(results) == ["motion/exposure cues (AHDRNet)"]
    mean = results["motion/exposure cues (AHDRNet)"]["mean"]
    assert math.isfinite(mean["psnr_mu"]) and math.isfinite(mean["psnr_l"])
    net = build_from_node(cfg.model)
    meta = load_checkpoint(net, rd / "cues" / "model.pth")
    assert meta["stage"] == "cues" and meta["method"] == "cues"
    metrics = json.loads((rd / "test" / "cues" / "metrics.json").read_text())
    assert set(metrics["scenes"]) == {"test_001", "test_002"}
    assert not (rd / "supervised").exists() and not (rd / "stage1").exists()
    # The class statistics of the 48×64 training split (24 px patches every 12 px) reach the log.
    assert len(logged) == 3
    assert logged[0]["patches_total"] == 36.0
    assert logged[0]["patches_static"] + logged[0]["patches_moving"] + logged[0]["patches_rejected"] == 36.0
    assert logged[0]["rejected_fraction"] == pytest.approx(logged[0]["patches_rejected"] / 36.0)
    assert all(math.isfinite(s["loss"]) for s in logged)


def test_report_cues_trains_it_beside_another_method(tiny_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    cfg = load_config(None, [
        "name=both", "method=supervised", "report.cues=true", f"output_dir={tmp_path / 'runs'}",
        f"data.root={root}", "data.patch_size=24", f"model={NET}", "train.batch_size=1", "train.epochs=1",
        "train.iters_per_epoch=2", "train.val_every=0", "report.baselines=false",
    ])
    results = pipeline.run(cfg)
    assert list(results) == ["supervised (AHDRNet)", "motion/exposure cues (AHDRNet)"]
    assert results["supervised (AHDRNet)"]["mean"] != results["motion/exposure cues (AHDRNet)"]["mean"]
    rd = tmp_path / "runs" / "both"
    assert (rd / "supervised" / "model.pth").is_file() and (rd / "cues" / "model.pth").is_file()
    assert "| motion/exposure cues (AHDRNet) |" in (rd / "results.md").read_text()
