"""train.ema: the weight average that validation and model.pth use."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import pytest
import torch

from selfhdr.archs import build_backbone
from selfhdr.data import BracketDataset
from selfhdr.engine.trainer import TrainConfig, Trainer
from selfhdr.methods.supervised import Supervised

TINY_NET = dict(nf=4, growth=4, n_dense=1, n_rdb=1)


def _cfg(**kw: object) -> TrainConfig:
    base = dict(batch_size=2, epochs=2, iters_per_epoch=3, lr=1e-3, lr_decay_every=1,
                checkpoint_every=1, log_every=1, image_every=0, val_every=0, amp="off")
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _trainer(root: Path, out: Path, cfg: TrainConfig) -> Trainer:
    torch.manual_seed(0)
    net = build_backbone("AHDRNet", **TINY_NET)
    ds = BracketDataset(root / "Training", labels={"gt": "gt"}, patch_size=16,
                        length=cfg.iters_per_epoch * cfg.batch_size, seed=0)
    return Trainer(Supervised(net), ds, cfg, out, seed=0, stage="sup", progress=False,
                   meta={"backbone": {"type": "AHDRNet", **TINY_NET}})


def _weights(path: Path) -> Dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_model_is_the_average_of_the_weights_after_each_step(tiny_root: Path, tmp_path: Path) -> None:
    """model.pth = the recursion a ← d_n·a + (1 − d_n)·w_n over the weights after each step,
    d_n = min(ema, (1 + n)/(10 + n)), started from the initial weights: recomputed here from
    the weights the plain run goes through, step by step."""
    ema = 0.9
    plain = _trainer(tiny_root, tmp_path / "plain", _cfg())
    seen: List[Dict[str, torch.Tensor]] = []
    real_step = plain._train_step

    def record(batch, names):  # type: ignore[no-untyped-def]
        out = real_step(batch, names)
        seen.append({k: v.detach().clone() for k, v in plain.net.state_dict().items()})
        return out

    start = {k: v.detach().clone() for k, v in plain.net.state_dict().items()}
    plain._train_step = record  # type: ignore[method-assign]
    last = _weights(plain.fit())
    for k in last:
        torch.testing.assert_close(last[k], seen[-1][k], rtol=0, atol=0)

    avg = {k: v.clone() for k, v in start.items()}
    for n, w in enumerate(seen):
        d = min(ema, (1 + n) / (10 + n))
        avg = {k: d * avg[k] + (1 - d) * w[k] for k in avg}
    got = _weights(_trainer(tiny_root, tmp_path / "ema", _cfg(ema=ema)).fit())
    assert len(seen) == 6
    for k in got:
        torch.testing.assert_close(got[k], avg[k], rtol=1e-6, atol=1e-7)
    assert any(not torch.allclose(got[k], last[k], atol=1e-6) for k in got), "the average is not the last weights"


class _Interrupt(Exception):
    pass


def test_resume_with_ema_gives_identical_weights(tiny_root: Path, tmp_path: Path) -> None:
    straight = _trainer(tiny_root, tmp_path / "straight", _cfg(ema=0.8)).fit()
    tr = _trainer(tiny_root, tmp_path / "broken", _cfg(ema=0.8))
    real_step = tr._train_step
    calls = {"n": 0}

    def dying_step(batch, names):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 5:
            raise _Interrupt()
        return real_step(batch, names)

    tr._train_step = dying_step  # type: ignore[method-assign]
    with pytest.raises(_Interrupt):
        tr.fit()
    resumed = _trainer(tiny_root, tmp_path / "broken", _cfg(ema=0.8))
    assert resumed.resume() and resumed.ema_updates == 4
    a, b = _weights(straight), _weights(resumed.fit())
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_validation_scores_the_average(tiny_root: Path, tmp_path: Path) -> None:
    scored: List[Dict[str, torch.Tensor]] = []

    def validate(net):  # type: ignore[no-untyped-def]
        scored.append({k: v.detach().clone() for k, v in net.state_dict().items()})
        return {"psnr_mu": 0.0}

    tr = _trainer(tiny_root, tmp_path / "v", _cfg(ema=0.9, val_every=1))
    tr.validate = validate
    final = _weights(tr.fit())
    for k in final:
        torch.testing.assert_close(scored[-1][k], final[k], rtol=0, atol=0)
    assert any(not torch.equal(scored[-1][k], tr.net.state_dict()[k]) for k in final)


def test_ema_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="ema must lie in"):
        TrainConfig(ema=1.0).validate()
    assert TrainConfig().ema == 0.0  # the published training has no average
