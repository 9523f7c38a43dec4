"""Fusion network, DeepFuse chroma, FusionMethod training, exposure-pair data and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from selfhdr.archs import list_backbones
from selfhdr.archs.fusion_net import (
    FusionNet, fuse_chroma, fuse_pair, load_fusion_net, rgb_to_ycbcr, save_fusion_net,
    ycbcr_to_rgb,
)
from selfhdr.data.pairs import ExposurePairs, find_pairs
from selfhdr.engine.fusion_eval import evaluate_fusion, fuse_mertens, pairs_from_inputs
from selfhdr.errors import CheckpointError, InputError
from selfhdr.metrics.mef_ssim import mef_ssim
from selfhdr.methods.base import Method
from selfhdr.methods.fusion import FusionMethod

SMALL = dict(widths=(4, 8, 16), convs_per_stage=1)


def _random_net(seed: int = 0, **kwargs) -> FusionNet:
    torch.manual_seed(seed)
    net = FusionNet(**(kwargs or SMALL))
    torch.nn.init.normal_(net.head.weight, std=0.5)  # the zero head would make every test trivial
    return net


@pytest.mark.parametrize("h, w", [(37, 53), (8, 8), (3, 5), (1, 1)])
def test_weights_have_input_size_and_sum_to_one(h: int, w: int) -> None:
    net = _random_net()
    y = torch.rand(2, 2, h, w)
    weights = net(y)
    assert weights.shape == (2, 2, h, w)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2, h, w))
    fused, _ = net.fuse(y)
    assert fused.shape == (2, 1, h, w)
    assert torch.all(fused >= y.min(dim=1, keepdim=True).values - 1e-6)
    assert torch.all(fused <= y.max(dim=1, keepdim=True).values + 1e-6)


def test_default_net_starts_as_the_mean_and_is_not_a_backbone() -> None:
    net = FusionNet()
    assert net.widths == (16, 32, 64, 128) and net.size_divisor == 8
    y = torch.rand(1, 2, 20, 24)
    fused, weights = net.fuse(y)
    torch.testing.assert_close(weights, torch.full_like(weights, 0.5))
    torch.testing.assert_close(fused, y.mean(dim=1, keepdim=True))
    assert not any("fusion" in name.lower() for name in list_backbones())


def test_padding_does_not_leak_into_the_crop() -> None:
    net = _random_net().eval()
    y = torch.rand(1, 2, 16, 24)  # already a multiple of 4: no padding
    ref = net(y)
    odd = net(y[..., :15, :23])  # padded by reflection internally, then cropped
    assert odd.shape == (1, 2, 15, 23)
    assert torch.isfinite(odd).all()
    # far from the padded border, receptive fields agree
    torch.testing.assert_close(odd[..., :4, :4], ref[..., :4, :4], atol=1e-5, rtol=0)


def test_ycbcr_bt601_full_range() -> None:
    rgb = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).T[:, :, None]  # 3×3×1
    ycc = rgb_to_ycbcr(rgb)
    expected = torch.tensor([[1.0, 0.5, 0.5], [0.299, 0.5 - 0.168736, 1.0], [0.114, 1.0, 0.5 - 0.081312]]).T
    torch.testing.assert_close(ycc[..., 0], expected, atol=1e-6, rtol=0)
    x = torch.rand(2, 3, 5, 7)
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-6, rtol=0)


def test_deepfuse_chroma() -> None:
    c = torch.tensor([[0.7, 0.5, 0.3, 0.5], [0.4, 0.5, 0.9, 0.6]])  # K=2 frames × 4 pixels
    fused = fuse_chroma(c, dim=0)
    # (0.7·0.2 + 0.4·0.1)/0.3 = 0.6; both neutral → 0.5; (0.3·0.2 + 0.9·0.4)/0.6 = 0.7; 0.6
    torch.testing.assert_close(fused, torch.tensor([0.6, 0.5, 0.7, 0.6]))


def test_fuse_pair_keeps_the_colour_of_the_saturated_frame() -> None:
    net = FusionNet(**SMALL)  # zero head: luminance is the mean
    under = np.full((9, 11, 3), 0.2, np.float32)  # neutral grey
    over = np.empty((9, 11, 3), np.float32)
    over[...] = (0.6, 0.4, 0.3)  # a colour; the fused RGB stays inside [0, 1] (no clipping)
    fused = fuse_pair(net, under, over)
    assert fused.dtype == np.float32 and fused.shape == (9, 11, 3)
    ycc_f = rgb_to_ycbcr(torch.from_numpy(fused).permute(2, 0, 1))
    ycc_o = rgb_to_ycbcr(torch.from_numpy(over).permute(2, 0, 1))
    y_over = 0.299 * 0.6 + 0.587 * 0.4 + 0.114 * 0.3
    torch.testing.assert_close(ycc_f[0], torch.full((9, 11), (0.2 + y_over) / 2), atol=1e-5, rtol=0)
    torch.testing.assert_close(ycc_f[1:], ycc_o[1:], atol=1e-5, rtol=0)
    assert fused.min() >= 0 and fused.max() <= 1
    with pytest.raises(ValueError):
        fuse_pair(net, under, over[:8])


def _fixed_batch() -> dict:
    """Left half: the under-exposure is nearly black; right half: the over-exposure clips."""
    g = torch.Generator().manual_seed(0)
    texture = torch.rand(2, 1, 32, 32, generator=g).expand(2, 3, 32, 32)
    level = torch.cat([torch.full((16,), 0.05), torch.full((16,), 2.0)])[None, None, None, :]
    scene = level * (0.5 + texture)
    return {"under": (scene / 4).clamp(0, 1) ** (1 / 2.2), "over": scene.clamp(0, 1) ** (1 / 2.2)}


def test_training_steps_reduce_the_loss() -> None:
    torch.manual_seed(0)
    method = FusionMethod(net_kwargs=SMALL)
    assert isinstance(method, Method)
    batch = _fixed_batch()
    opt = torch.optim.Adam(method.net.parameters(), lr=1e-2)
    first = method.training_step(batch)
    assert set(first) == {"loss", "ssim_under", "ssim_over", "weight_under"}
    assert first["weight_under"].item() == pytest.approx(0.5)
    losses = []
    for _ in range(10):
        out = method.training_step(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    after = method.training_step(batch)
    assert after["loss"].item() < first["loss"].item() - 0.005
    assert after["weight_under"].item() > 0.52  # learning to trust the under-exposure more
    fused = method(batch["under"], batch["over"])
    assert fused.shape == (2, 3, 32, 32)
    with pytest.raises(KeyError, match="under"):
        method.training_step({"over": batch["over"]})


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    net = _random_net(3, widths=(4, 8, 8, 16), convs_per_stage=2)
    path = tmp_path / "fusion.pth"
    save_fusion_net(net, path)
    loaded = load_fusion_net(path)
    assert loaded.widths == (4, 8, 8, 16)
    y = torch.rand(1, 2, 17, 19)
    torch.testing.assert_close(loaded(y), net(y), atol=0, rtol=0)
    torch.save(net.state_dict(), tmp_path / "bare.pth")  # a bare state_dict loads too
    assert load_fusion_net(tmp_path / "bare.pth").widths == (4, 8, 8, 16)
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pth"):
        load_fusion_net(tmp_path / "bad.pth")
    meta = torch.load(path, weights_only=True)
    assert meta["widths"] == [4, 8, 8, 16] and meta["convs_per_stage"] == 2
    torch.save({"state_dict": {"foo": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not a FusionNet"):
        load_fusion_net(tmp_path / "other.pth")


def _write_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.round(rgb[..., ::-1] * 255).astype(np.uint8))


@pytest.fixture
def ab_root(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "pairs"
    for scene, swap in (("s1", False), ("s2", True)):
        radiance = rng.random((48, 56, 3)) * 3
        dark, bright = (radiance / 4).clip(0, 1) ** (1 / 2.2), radiance.clip(0, 1) ** (1 / 2.2)
        if swap:  # this scene names its bright frame _A
            dark, bright = bright, dark
        _write_png(root / scene / f"{scene}_A.png", dark)
        _write_png(root / scene / f"{scene}_B.png", bright)
    return root


def test_pairs_dataset_orders_by_brightness_and_crops(ab_root: Path) -> None:
    full = ExposurePairs(ab_root)
    assert [p.name for p in full.pairs] == ["s1", "s2"]
    for item in (full[0], full[1]):
        assert item["under"].shape == (3, 48, 56) and item["under"].dtype == torch.float32
        assert item["under"].mean() < item["over"].mean()
    assert full.pairs[1].first.name == "s2_A.png"  # the brighter A became the over-exposure
    named = ExposurePairs(ab_root, order_by_brightness=False)
    assert named[1]["under"].mean() > named[1]["over"].mean()
    crops = ExposurePairs(ab_root, patch_size=16, length=6, cache=True)
    assert len(crops) == 6 and crops.names == ["s1", "s2"]
    item = crops[4]
    assert item["under"].shape == (3, 16, 16) and item["name"] == "s1"
    # crops depend on (seed, epoch, index) only
    torch.testing.assert_close(crops[4]["under"], item["under"])
    crops.set_epoch(1)
    assert not torch.equal(crops[4]["under"], item["under"])
    with pytest.raises(InputError, match="smaller than"):
        ExposurePairs(ab_root, patch_size=64)[0]


def test_pairs_from_kalantari_scenes(tiny_root: Path) -> None:
    pairs = find_pairs(tiny_root / "Training")
    assert len(pairs) == 3
    for p in pairs:
        frames = sorted(x.name for x in p.first.parent.glob("*.tif"))
        assert (p.first.name, p.second.name) == (frames[0], frames[-1])
    item = ExposurePairs(tiny_root / "Training", patch_size=32)[0]
    assert item["under"].mean() < item["over"].mean()


def test_pair_discovery_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no exposure pairs"):
        find_pairs(tmp_path)
    _write_png(tmp_path / "x" / "a_A.png", np.zeros((4, 4, 3)))
    with pytest.raises(InputError, match="partner"):
        find_pairs(tmp_path)


def test_evaluate_fusion_writes_images_and_metrics(ab_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = evaluate_fusion(find_pairs(ab_root), _random_net(), out)
    assert list(report.scores) == ["network", "mean", "mertens"]
    assert report.names == ["s1", "s2"]
    for method in report.scores:
        assert all(-1 <= v <= 1 for v in report.scores[method])
        assert (out / method / "s2.png").is_file()
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["mean"]["mertens"] == pytest.approx(report.means()["mertens"])
    assert "mean" in report.table().splitlines()[-1]
    # two files instead of a folder, baselines only
    pair = pairs_from_inputs([ab_root / "s1" / "s1_A.png", ab_root / "s1" / "s1_B.png"])
    assert pair[0].name == "s1"
    assert list(evaluate_fusion(pair).scores) == ["mean", "mertens"]
    assert list(evaluate_fusion(pair, _random_net(), baselines=()).scores) == ["network"]


def test_mefb_protocol_scores_the_8bit_files(ab_root: Path, tmp_path: Path) -> None:
    """protocol='mefb' scores what MEFB's metricsMEF_SSIM.m reads: the uint8 input files and the
    fused PNG as written (its rgb2gray rounds uint8); 'float' scores the unrounded images."""
    pairs = find_pairs(ab_root)
    out = tmp_path / "out"
    mefb = evaluate_fusion(pairs, _random_net(), out, protocol="mefb")
    exact = evaluate_fusion(pairs, _random_net())
    assert json.loads((out / "metrics.json").read_text())["protocol"] == "mefb"
    for i, pair in enumerate(pairs):
        a, b = (cv2.imread(str(f), cv2.IMREAD_COLOR)[..., ::-1] for f in (pair.first, pair.second))
        for method in mefb.scores:
            fused = cv2.imread(str(out / method / f"{pair.name}.png"), cv2.IMREAD_COLOR)[..., ::-1]
            assert mefb.scores[method][i] == pytest.approx(mef_ssim([a, b], fused), abs=1e-12)
            assert mefb.scores[method][i] != pytest.approx(exact.scores[method][i], abs=1e-9)
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate_fusion(pairs, protocol="matlab")


def test_pairs_in_either_order_and_as_jpeg_fuse_alike(ab_root: Path, tmp_path: Path) -> None:
    """Real pairs come named either way round and as JPEG: the network sees them by brightness,
    so swapping a pair's A/B names changes nothing; a JPEG copy fuses to nearly the same score."""
    net = _random_net()
    src = find_pairs(ab_root)[0]
    swapped, jpeg = tmp_path / "swapped" / "s1", tmp_path / "jpeg" / "s1"
    swapped.mkdir(parents=True), jpeg.mkdir(parents=True)
    (swapped / "s1_A.png").write_bytes(src.second.read_bytes())
    (swapped / "s1_B.png").write_bytes(src.first.read_bytes())
    for side, f in (("A", src.first), ("B", src.second)):
        cv2.imwrite(str(jpeg / f"s1_{side}.jpg"), cv2.imread(str(f)), [cv2.IMWRITE_JPEG_QUALITY, 90])
    base = evaluate_fusion([src], net).scores
    assert evaluate_fusion(find_pairs(swapped.parent), net).scores == base
    as_jpeg = evaluate_fusion(find_pairs(jpeg.parent), net).scores
    for method, (score,) in base.items():
        assert as_jpeg[method][0] == pytest.approx(score, abs=0.02) and as_jpeg[method][0] != score


def test_mertens_baseline_is_opencv_on_0_255_bgr() -> None:
    rng = np.random.default_rng(1)
    under8 = rng.integers(0, 100, (20, 24, 3), dtype=np.uint8)
    over8 = np.clip(under8.astype(int) * 3, 0, 255).astype(np.uint8)
    expected = cv2.createMergeMertens().process([x[..., ::-1].copy() for x in (under8, over8)])[..., ::-1]
    fused = fuse_mertens(under8 / np.float32(255), over8 / np.float32(255))
    np.testing.assert_allclose(fused, np.clip(expected, 0, 1), atol=1e-5)


def test_generic_trainer_runs_the_fusion_method(ab_root: Path, tmp_path: Path) -> None:
    from selfhdr.engine.trainer import TrainConfig, Trainer

    dataset = ExposurePairs(ab_root, patch_size=16, length=4)
    cfg = TrainConfig(batch_size=2, epochs=1, iters_per_epoch=2, lr=1e-3, lr_decay_every=1,
                      checkpoint_every=0, val_every=0)
    trainer = Trainer(FusionMethod(net_kwargs=SMALL), dataset, cfg, tmp_path / "run", progress=False)
    model_path = trainer.fit()
    net = load_fusion_net(model_path)
    assert net.widths == SMALL["widths"]
