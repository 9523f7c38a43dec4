"""The generic trainer: training, exact resume, divergence guard, checkpoint fallback."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Dict, List

import pytest
import torch
from torch.utils.data import Dataset, default_collate

from selfhdr.align import prepare_color
from selfhdr.archs import build_backbone, load_checkpoint
from selfhdr.data import BracketDataset
from selfhdr.engine.state import previous_path, read_training_state
from selfhdr.engine.trainer import EpochSampler, TrainConfig, Trainer, TrainingDiverged
from selfhdr.errors import CheckpointError
from selfhdr.methods.base import Method
from selfhdr.methods.selfhdr import SelfHDRStage1, SelfHDRStage2, Stage2Config
from selfhdr.methods.supervised import Supervised

TINY_NET = dict(nf=4, growth=4, n_dense=1, n_rdb=1)


def _cfg(**kw: object) -> TrainConfig:
    base = dict(batch_size=2, epochs=2, iters_per_epoch=3, lr=1e-3, lr_decay_every=1,
                checkpoint_every=1, log_every=1, image_every=0, val_every=0)
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def _trainer(root: Path, out: Path, cfg: TrainConfig, method_cls: type = Supervised) -> Trainer:
    torch.manual_seed(0)
    net = build_backbone("AHDRNet", **TINY_NET)
    ds = BracketDataset(root / "Training", labels={"gt": "gt"}, patch_size=16,
                        length=cfg.iters_per_epoch * cfg.batch_size, seed=0)
    return Trainer(method_cls(net), ds, cfg, out, seed=0, stage="sup", progress=False,
                   meta={"backbone": {"type": "AHDRNet", **TINY_NET}})


def _weights(path: Path) -> Dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_sampler_is_a_deterministic_permutation() -> None:
    a = list(EpochSampler(10, seed=1, epoch=0))
    assert sorted(a) == list(range(10)) and a == list(EpochSampler(10, seed=1, epoch=0))
    assert a != list(EpochSampler(10, seed=1, epoch=1))
    assert list(EpochSampler(10, 1, 0, start=4)) == a[4:]
    ranks = [list(EpochSampler(10, 1, 0, rank=r, world=2)) for r in (0, 1)]
    assert sorted(ranks[0] + ranks[1]) == list(range(10))


def test_training_writes_published_format_and_state(tiny_root: Path, tmp_path: Path) -> None:
    tr = _trainer(tiny_root, tmp_path / "a", _cfg(epochs=3, lr_decay_every=2))
    before = {k: v.clone() for k, v in tr.method.net.state_dict().items()}
    path = tr.fit()
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert set(ckpt) >= {"state_dict", "backbone"}
    net = build_backbone("AHDRNet", **TINY_NET)
    load_checkpoint(net, path)
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())
    state = read_training_state(tmp_path / "a" / "checkpoint.pth")
    assert state["epoch"] == 3 and state["iteration"] == 0 and state["step"] == 9
    # StepLR halves every 2 epochs: after 3 epochs the lr is halved once.
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(5e-4)


class _Fixed(Dataset):
    """One training item at every index: each batch is the same fixed batch."""

    def __init__(self, item: Dict[str, object], length: int) -> None:
        self.item, self.length = item, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Dict[str, object]:
        return self.item


METHODS: Dict[str, Callable[[torch.nn.Module], Method]] = {
    "supervised": Supervised,
    "selfhdr_stage1": SelfHDRStage1,
    # The weight-free structure loss: the VGG19 one needs ImageNet weights.
    "selfhdr_stage2": lambda net: SelfHDRStage2(net, Stage2Config(structure_loss="ssim")),
}


@pytest.mark.parametrize("method", list(METHODS))
def test_training_lowers_the_loss_on_a_fixed_batch(method: str, tiny_root: Path, tmp_path: Path) -> None:
    """Nine Trainer steps on one fixed batch bring its loss well down, for every method.

    SelfHDR's labels are real: Y_color from ``prepare_color`` (Training_align), standing in
    for Y_stru too (stage 2 only needs an image there).
    """
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    prepare_color(root, "Training", workers=1, progress=False)
    align = root / "Training_align"
    labels = {"gt": "gt"} if method == "supervised" else {"color": align, "stru": align}
    item = BracketDataset(root / "Training", labels=labels, patch_size=16, seed=0)[0]
    batch = default_collate([item, item])
    cfg = _cfg(epochs=3, lr=1e-2, lr_decay_every=10, checkpoint_every=0)

    def loss_of(net: torch.nn.Module) -> float:
        torch.manual_seed(5)  # the same stage-2 reference noise before and after
        with torch.no_grad():
            return float(METHODS[method](net).training_step(batch)["loss"])

    torch.manual_seed(0)
    net = build_backbone("AHDRNet", **TINY_NET)
    before = loss_of(net)
    path = Trainer(METHODS[method](net), _Fixed(item, 6), cfg, tmp_path / "run", seed=0,
                   stage=method, progress=False).fit()
    trained = build_backbone("AHDRNet", **TINY_NET)
    load_checkpoint(trained, path)
    after = loss_of(trained)
    # Measured: after / before ≈ 0.35 (supervised, stage 1) and 0.24 (stage 2).
    assert after < 0.7 * before, (before, after)


class _Interrupt(Exception):
    pass


def test_resume_mid_epoch_gives_identical_weights(tiny_root: Path, tmp_path: Path) -> None:
    straight = _trainer(tiny_root, tmp_path / "straight", _cfg()).fit()

    tr = _trainer(tiny_root, tmp_path / "broken", _cfg())
    real_step = tr._train_step
    calls = {"n": 0}

    def dying_step(batch, names):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 5:  # epoch 1, iteration 1: mid-epoch, after a checkpoint
            raise _Interrupt()
        return real_step(batch, names)

    tr._train_step = dying_step  # type: ignore[method-assign]
    with pytest.raises(_Interrupt):
        tr.fit()
    resumed = _trainer(tiny_root, tmp_path / "broken", _cfg())
    assert resumed.resume() and (resumed.epoch, resumed.iteration) == (1, 1)
    path = resumed.fit()
    a, b = _weights(straight), _weights(path)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_corrupt_checkpoint_falls_back_to_previous(tiny_root: Path, tmp_path: Path) -> None:
    tr = _trainer(tiny_root, tmp_path / "c", _cfg(epochs=1))
    tr.fit()
    ckpt = tmp_path / "c" / "checkpoint.pth"
    assert previous_path(ckpt).exists()
    prev_state = read_training_state(previous_path(ckpt))
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="checkpoint.pth: unreadable or truncated"):
        read_training_state(ckpt)
    again = _trainer(tiny_root, tmp_path / "c", _cfg(epochs=1))
    assert again.resume()
    assert (again.epoch, again.iteration) == (prev_state["epoch"], prev_state["iteration"])


class _NaNAfter(Supervised):
    def training_step(self, batch):  # type: ignore[no-untyped-def]
        res = super().training_step(batch)
        res["loss"] = res["loss"] * float("nan")
        return res


def test_divergence_guard_names_step_and_scenes(tiny_root: Path, tmp_path: Path) -> None:
    tr = _trainer(tiny_root, tmp_path / "d", _cfg(max_nonfinite=2), method_cls=_NaNAfter)
    before = {k: v.clone() for k, v in tr.method.net.state_dict().items()}
    with pytest.raises(TrainingDiverged, match=r"2 consecutive steps.*step 1 .*batch scenes: train_00"):
        tr.fit()
    for k, v in tr.method.net.state_dict().items():  # skipped steps leave the weights alone
        assert torch.equal(before[k], v)


# train.ema: the weight average that validation and model.pth use.

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
