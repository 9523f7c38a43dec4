"""Learning-rate schedules: the published step decay, cosine with warm-up, and their resume."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from selfhdr.config import load_config
from selfhdr.engine.trainer import TrainConfig
from selfhdr.errors import ConfigError


def _lrs(cfg: TrainConfig) -> list:
    """The rate of every optimiser step when the trainer's scheduler is stepped once per step."""
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cfg.lr_factor)
    out = []
    for _ in range(cfg.epochs * cfg.iters_per_epoch):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_step_schedule_is_the_published_per_epoch_decay() -> None:
    # Source: SelfHDR's (and torch's) StepLR stepped once per epoch: lr · γ^(epoch // every).
    cfg = TrainConfig(lr=1e-4, epochs=7, iters_per_epoch=5, lr_decay_every=3, lr_gamma=0.5)
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    ref = torch.optim.lr_scheduler.StepLR(opt, 3, 0.5)
    expected = []
    for _ in range(cfg.epochs):
        expected += [opt.param_groups[0]["lr"]] * cfg.iters_per_epoch
        opt.step()
        ref.step()
    assert _lrs(cfg) == pytest.approx(expected, rel=1e-12)


def test_cosine_with_warmup_hand_values() -> None:
    cfg = TrainConfig(lr=4e-3, lr_min=4e-5, epochs=2, iters_per_epoch=6, lr_schedule="cosine", warmup_iters=2)
    lrs = _lrs(cfg)
    assert lrs[:2] == pytest.approx([2e-3, 4e-3])  # linear ramp: (step + 1) / warm-up
    assert lrs[2] == pytest.approx(4e-3) and lrs[-1] == pytest.approx(4e-5)
    # Halfway through the 9 decay steps (t = 4.5 / 9): the mean of lr and lr_min.
    t = 3 / 9
    assert lrs[5] == pytest.approx(4e-5 + (4e-3 - 4e-5) * 0.5 * (1 + math.cos(math.pi * t)))
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:]))  # monotone after the warm-up


def test_schedule_fields_are_validated_and_yaml_exponents_parse(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lr_schedule"):
        load_config(None, ["train.lr_schedule=linear"])
    with pytest.raises(ConfigError, match="lr_min"):
        load_config(None, ["train.lr_min=1.0"])
    with pytest.raises(ConfigError, match="warmup_iters must be ≥ 0"):
        load_config(None, ["train.warmup_iters=-1"])
    # A warm-up longer than a (test-sized) run is allowed: the rate only ramps.
    short = load_config(None, ["train.epochs=1", "train.iters_per_epoch=2", "train.warmup_iters=100"]).train
    assert _lrs(short) == pytest.approx([short.lr / 100, 2 * short.lr / 100])
    # YAML 1.1 reads 4e-3 (no dot) as a string; a float field takes it as the number.
    cfg = load_config(None, ["train.lr=4e-3", "train.lr_min=1E-5"])
    assert cfg.train.lr == 0.004 and cfg.train.lr_min == 1e-5
    with pytest.raises(ConfigError, match="expected a number"):
        load_config(None, ["train.lr=fast"])
