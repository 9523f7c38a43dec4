"""DDP on the CPU (Gloo): two processes give the weights of one process over the same global batch."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from selfhdr.archs import build_backbone
from selfhdr.data import BracketDataset
from selfhdr.engine.distributed import cleanup, init_distributed
from selfhdr.engine.trainer import TrainConfig, Trainer
from selfhdr.errors import ConfigError
from selfhdr.methods.supervised import Supervised

NET = dict(nf=4, growth=4, n_dense=1, n_rdb=1)


def _cfg() -> TrainConfig:
    # amp pinned to fp32: the spawned ranks do not see conftest's CPU-flag fake, and on a
    # bf16 CPU 'auto' would compare bf16 ranks with an fp32 single process.
    return TrainConfig(batch_size=4, epochs=1, iters_per_epoch=3, lr=1e-3, checkpoint_every=0,
                       log_every=1, image_every=0, val_every=0, amp="off")


def _train(root: Path, out: Path) -> Path:
    torch.manual_seed(0)
    info = init_distributed(timeout_s=120)
    try:
        net = build_backbone("AHDRNet", **NET)
        cfg = _cfg()
        ds = BracketDataset(root / "Training", labels={"gt": "gt"}, patch_size=16,
                            length=cfg.iters_per_epoch * cfg.batch_size, seed=0)
        tr = Trainer(Supervised(net), ds, cfg, out, seed=0, stage="ddp", progress=False, dist=info)
        return tr.fit()
    finally:
        cleanup(info)


def _worker(rank: int, world: int, port: int, root: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    _train(Path(root), Path(out))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_match_one(tiny_root: Path, tmp_path: Path) -> None:
    single = _train(tiny_root, tmp_path / "single")
    mp.spawn(_worker, args=(2, _free_port(), str(tiny_root), str(tmp_path / "ddp")), nprocs=2, join=True)
    a = torch.load(single, weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "ddp" / "model.pth", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    # The initial weights both runs started from (_train seeds 0 before building the net):
    # training moved them by far more than the tolerance above, so the match is not two
    # untrained copies of one initialisation.
    torch.manual_seed(0)
    init = build_backbone("AHDRNet", **NET).state_dict()
    moved = max(float((b[k] - init[k]).abs().max()) for k in b)
    assert moved > 1e-3, moved


def test_global_batch_must_split_evenly(tiny_root: Path, tmp_path: Path) -> None:
    from selfhdr.engine.distributed import DistInfo

    ds = BracketDataset(tiny_root / "Training", labels={"gt": "gt"}, patch_size=16, length=12)
    cfg = TrainConfig(batch_size=3, iters_per_epoch=4, epochs=1)
    with pytest.raises(ConfigError, match="divisible by the number of processes"):
        Trainer(Supervised(build_backbone("AHDRNet", **NET)), ds, cfg, tmp_path, dist=DistInfo(0, 2, 0, "gloo"))


def test_fp16_on_cpu_is_refused(tiny_root: Path, tmp_path: Path) -> None:
    ds = BracketDataset(tiny_root / "Training", labels={"gt": "gt"}, patch_size=16, length=4)
    cfg = TrainConfig(batch_size=2, iters_per_epoch=2, epochs=1, amp="fp16")
    with pytest.raises(ConfigError, match="fp16 needs CUDA"):
        Trainer(Supervised(build_backbone("AHDRNet", **NET)), ds, cfg, tmp_path)


def test_bf16_autocast_trains_on_cpu(tiny_root: Path, tmp_path: Path) -> None:
    ds = BracketDataset(tiny_root / "Training", labels={"gt": "gt"}, patch_size=16, length=4, seed=0)
    cfg = TrainConfig(batch_size=2, iters_per_epoch=2, epochs=1, amp="bf16", val_every=0, checkpoint_every=0)
    path = Trainer(Supervised(build_backbone("AHDRNet", **NET)), ds, cfg, tmp_path, progress=False).fit()
    sd = torch.load(path, weights_only=True)["state_dict"]
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in sd.values())
