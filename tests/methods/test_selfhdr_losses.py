"""SelfHDR's stage-1 and stage-2 losses match a literal transcription of the published code.

The stand-in network is a fixed function of all three frames that differs per pixel, so a loss
computed on swapped frames, on a clean instead of a noisy reference, or against the wrong
label gives a different number than the transcription.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import torch
from torch import nn

from selfhdr.config import load_config
from selfhdr.errors import ConfigError
from selfhdr.losses.perceptual import VGGPerceptualLoss, load_vgg19_features, vgg19_features_untrained
from selfhdr.losses.ssim import SSIMStructureLoss
from selfhdr.methods.selfhdr import (
    SelfHDRStage1, SelfHDRStage2, Stage1Config, Stage2Config, build_structure_loss, noisy_reference,
    stage1_masks, stage2_mask,
)
from selfhdr.methods.supervised import Supervised

H = W = 24


def _rc(x: torch.Tensor) -> torch.Tensor:  # published range_compressor_cuda
    return torch.log(1 + 5000 * x) / math.log(1 + 5000)


class Mix(nn.Module):
    """A stand-in network: sigmoid of a fixed per-pixel linear map of x1, x2 and x3.

    Each frame has its own seeded 3×6 weights at every pixel, so the output changes when a
    frame is swapped, dropped or perturbed. It records the frames it was given.
    """

    size_divisor = 1

    def __init__(self, seed: int = 11) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("weights", torch.randn(3, 3, 6, H, W, generator=g))
        self.register_buffer("bias", torch.randn(3, H, W, generator=g))
        self.scale = nn.Parameter(torch.ones(()))  # something for an optimiser to hold
        self.seen: List[Tuple[torch.Tensor, ...]] = []

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        self.seen.append((x1.detach().clone(), x2.detach().clone(), x3.detach().clone()))
        return mix(self, x1, x2, x3)


def mix(net: Mix, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
    """What ``net`` outputs for frames given in this order (computed here, not by the method)."""
    z = sum(torch.einsum("ochw,bchw->bohw", net.weights[k], x) for k, x in enumerate((x1, x2, x3)))
    return torch.sigmoid(net.scale * (z + net.bias))


def _batch(seed: int = 0) -> Dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = torch.tensor([[1.0, 4.0, 16.0]] * 2)
    frames = {}
    for k in range(3):
        ldr = torch.rand(2, 3, H, W, generator=g)
        frames[f"x{k + 1}"] = torch.cat([ldr**2.2 / (t[:, k].view(-1, 1, 1, 1) + 1e-8), ldr], 1)
    color = frames["x2"][:, :3] * (1 + 2 * torch.rand(2, 3, H, W, generator=g))
    stru = color * (1 + 1.5 * torch.rand(2, 3, H, W, generator=g))
    gt = torch.rand(2, 3, H, W, generator=g) ** 2  # unrelated to color: a wrong label shows
    return {**frames, "t": t, "color": color, "stru": stru, "gt": gt}


def _published_stage1(batch: Dict[str, torch.Tensor], out: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """Published SelfHDR1Model.backward, transcribed: (expansion, preserving, label_mask)."""
    in_rgb = batch["x2"][:, 3:6]
    in_mask = (in_rgb < 0.5).float()
    in_mask = in_mask * (2 * in_rgb) + (1 - in_mask) * (-2 * in_rgb + 2)
    diff = _rc(batch["color"]) * in_mask - _rc(batch["x2"][:, 0:3]) * in_mask
    label_mask = torch.mean(torch.abs(diff), 1, keepdim=True)
    label_mask[label_mask < 5 / 255] = 0
    label_mask[label_mask >= 5 / 255] = 1
    label_mask = 1 - label_mask
    l1 = nn.L1Loss()
    expan = l1(_rc(out) * label_mask, _rc(batch["color"]) * label_mask)
    prese = l1(_rc(out) * in_mask, _rc(batch["x2"][:, 0:3]) * in_mask) * 4
    return expan, prese, label_mask


def test_stage1_matches_published() -> None:
    batch = _batch()
    net = Mix()
    res = SelfHDRStage1(net).training_step(batch)
    out = mix(net, batch["x1"], batch["x2"], batch["x3"])
    expan, prese, label_mask = _published_stage1(batch, out)
    assert 0.0 < float(label_mask.mean()) < 1.0  # the mask really selects
    torch.testing.assert_close(res["expansion"], expan)
    torch.testing.assert_close(res["preserving"], prese)
    torch.testing.assert_close(res["loss"], expan + prese)
    # The network saw the frames in order and stage 1 leaves the reference clean.
    seen = net.seen[0]
    for k in range(3):
        assert torch.equal(seen[k], batch[f"x{k + 1}"])


def _far(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True if ``assert_close`` (float32: rtol 1.3e-6, atol 1e-5) would tell a and b apart."""
    return not torch.allclose(a.detach(), b.detach(), rtol=1.3e-6, atol=1e-5)


def test_stand_in_network_tells_frames_apart() -> None:
    """The transcription with x1/x3 swapped gives another loss: the test above can fail."""
    batch = _batch()
    net = Mix()
    right = sum(_published_stage1(batch, mix(net, batch["x1"], batch["x2"], batch["x3"]))[:2])
    swapped = sum(_published_stage1(batch, mix(net, batch["x3"], batch["x2"], batch["x1"]))[:2])
    assert _far(right, swapped)


def test_stage1_masks_by_hand() -> None:
    x2 = torch.zeros(1, 6, 1, 2)
    x2[0, 3:6, 0, 0] = 0.25  # r = 0.25 → w = 0.5
    x2[0, 3:6, 0, 1] = 0.75  # r = 0.75 → w = 0.5
    x2[0, 0:3] = 0.01
    color = torch.full((1, 3, 1, 2), 0.01)
    color[0, :, 0, 1] = 0.5  # disagrees strongly at the second pixel
    m = stage1_masks(x2, color, 5 / 255)
    torch.testing.assert_close(m["w"], torch.full((1, 3, 1, 2), 0.5))
    assert m["m1"].flatten().tolist() == [1.0, 0.0]


def _published_noise(x2: torch.Tensor, t2: torch.Tensor, sigma: float) -> torch.Tensor:
    """The published noise augmentation of the reference, transcribed (global torch RNG)."""
    ldr = x2[:, 3:6]
    ldr = torch.clamp(ldr + sigma * torch.randn(ldr.shape), 0, 1)
    return torch.cat([ldr**2.2 / (t2.view(-1, 1, 1, 1) + 1e-8), ldr], 1)


def test_stage2_matches_published_with_the_published_noise() -> None:
    batch = _batch(1)
    l1 = nn.L1Loss()

    def structure(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return l1(_rc(a), _rc(b)) * 0.5

    class Stand(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return structure(a, b)

    cfg = Stage2Config()
    assert cfg.noise_sigma == 0.5 / 255  # published σ
    net = Mix()
    torch.manual_seed(123)
    res = SelfHDRStage2(net, cfg, structure_loss=Stand()).training_step(batch)
    torch.manual_seed(123)
    noisy = _published_noise(batch["x2"], batch["t"][:, 1], 0.5 / 255)
    # The network received the noisy reference (and the other frames untouched).
    seen = net.seen[0]
    torch.testing.assert_close(seen[1], noisy, rtol=0, atol=1e-6)
    assert torch.equal(seen[0], batch["x1"]) and torch.equal(seen[2], batch["x3"])
    assert 0.5 / 255 * 0.8 < float((seen[1][:, 3:6] - batch["x2"][:, 3:6]).std()) < 0.5 / 255 * 1.2
    out = mix(net, batch["x1"], noisy, batch["x3"])
    diff = _rc(batch["color"]) - _rc(batch["stru"])
    label_mask = torch.mean(torch.abs(diff), 1, keepdim=True)
    label_mask[label_mask < 10 / 255] = 0
    label_mask[label_mask >= 10 / 255] = 1
    label_mask = 1 - label_mask
    assert 0.0 < float(label_mask.mean()) < 1.0
    color = l1(_rc(out) * label_mask, _rc(batch["color"]) * label_mask)
    torch.testing.assert_close(res["color"], color)
    torch.testing.assert_close(res["structure"], structure(out, batch["stru"]))
    torch.testing.assert_close(res["loss"], color + structure(out, batch["stru"]))
    torch.testing.assert_close(res["mask_m2"], label_mask.mean())
    assert cfg.linear_weight == 0.0 and "linear" not in res  # the published loss has no linear term
    # linear_weight adds w · mean|out·M2 − Y_color·M2| in linear radiance, on the same mask.
    torch.manual_seed(123)
    lin = SelfHDRStage2(net, Stage2Config(linear_weight=3.0), structure_loss=Stand()).training_step(batch)
    linear = l1(out * label_mask, batch["color"] * label_mask) * 3.0
    assert float(linear.detach()) > 1e-4
    torch.testing.assert_close(lin["linear"], linear)
    torch.testing.assert_close(lin["loss"], color + structure(out, batch["stru"]) + linear)
    assert stage2_mask(batch["color"], batch["color"], 10 / 255).min() == 1.0


def test_noise_augmentation_recomputes_linear_channels() -> None:
    batch = _batch(2)
    torch.manual_seed(0)
    noisy = noisy_reference(batch["x2"], batch["t"][:, 1], 0.5 / 255)
    ldr = noisy[:, 3:6]
    assert 0.0 <= float(ldr.min()) and float(ldr.max()) <= 1.0
    delta = (ldr - batch["x2"][:, 3:6]).std()
    assert 0.5 / 255 * 0.8 < float(delta) < 0.5 / 255 * 1.2
    torch.testing.assert_close(noisy[:, 0:3], ldr**2.2 / (4.0 + 1e-8))
    assert noisy_reference(batch["x2"], batch["t"][:, 1], 0.0) is batch["x2"]


def test_supervised_loss() -> None:
    batch = _batch(3)
    net = Mix()
    res = Supervised(net).training_step(batch)
    out = mix(net, batch["x1"], batch["x2"], batch["x3"])
    expected = torch.mean(torch.abs(_rc(out) - _rc(batch["gt"])))
    torch.testing.assert_close(res["loss"], expected)
    # Neither another label nor swapped frames give the same number.
    assert _far(torch.mean(torch.abs(_rc(out) - _rc(batch["color"]))), expected)
    swapped = mix(net, batch["x3"], batch["x2"], batch["x1"])
    assert _far(torch.mean(torch.abs(_rc(swapped) - _rc(batch["gt"]))), expected)


def test_ssim_structure_loss() -> None:
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    loss = SSIMStructureLoss()
    assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(x, x.flip(-1))) > 0.1
    assert float(loss(x, x * 1.01)) < float(loss(x, x.flip(-1)))


# Indices of relu3_2, relu4_2 and relu5_2 in torchvision's ``vgg19().features``, hard-coded
# from torchvision's layer list (``torchvision.models.vgg.cfgs["E"]``: 64, 64, M, 128, 128, M,
# 256 ×4, M, 512 ×4, M, 512 ×4, M, each number a Conv2d followed by a ReLU, each M a
# MaxPool2d): relu3_2 = 2 × (2 + 2) convs + 2 pools + conv3_1, relu, conv3_2 → 13; relu4_2 =
# 2 × 8 convs + 3 pools + 3 → 22; relu5_2 = 2 × 12 + 4 + 3 → 31. Written out here instead of
# read from the implementation so a wrong table there shows.
TAPS = {13: 1.0, 22: 1.0, 31: 2.0}


def test_tap_indices_name_those_layers_in_torchvisions_list() -> None:
    from torchvision.models.vgg import cfgs, make_layers

    names, block, conv = {}, 1, 0
    for i, layer in enumerate(make_layers(cfgs["E"], batch_norm=False)):
        if isinstance(layer, nn.MaxPool2d):
            block, conv = block + 1, 0
        elif isinstance(layer, nn.Conv2d):
            conv += 1
        elif isinstance(layer, nn.ReLU):
            names[i] = f"relu{block}_{conv}"
    assert [names[i] for i in TAPS] == ["relu3_2", "relu4_2", "relu5_2"]


def _norm(z: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (_rc(z) - mean) / std


def _vgg_by_hand(feats: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The three taps, weights 1, 1, 2, divided by 4, on the images as given."""
    fx, fy = _norm(x), _norm(y)
    expected = torch.zeros(())
    for i in range(32):
        fx, fy = feats[i](fx), feats[i](fy)
        if i in TAPS:
            expected = expected + TAPS[i] * torch.mean(torch.abs(fx - fy))
    return expected / 4


@pytest.mark.parametrize("order", ["bgr", "rgb"])
def test_vgg_loss_layers_with_given_features(order: str) -> None:
    torch.manual_seed(0)
    feats = vgg19_features_untrained()
    loss = VGGPerceptualLoss(features=feats, channel_order=order)
    x = torch.rand(1, 3, 32, 32)
    assert float(loss(x, x)) == 0.0
    y = torch.rand(1, 3, 32, 32)
    # 'bgr' (published): the VGG sees B, G, R, i.e. our RGB images with channels reversed.
    seen = (x.flip(1), y.flip(1)) if order == "bgr" else (x, y)
    # Relative tolerance: untrained VGG features are small (losses ~1e-4), so the default
    # absolute 1e-5 would hide a wrong tap or channel order.
    torch.testing.assert_close(loss(x, y), _vgg_by_hand(feats, *seen), rtol=1e-4, atol=0)
    other = (x, y) if order == "bgr" else (x.flip(1), y.flip(1))
    assert abs(float(_vgg_by_hand(feats, *other) - loss(x, y))) > 1e-2 * float(loss(x, y))
    assert all(not p.requires_grad for p in loss.parameters())


def test_vgg_channel_order_is_published_bgr_and_matters(tmp_path: Path) -> None:
    """The order changes the loss; each order equals the other on channel-flipped images."""
    torch.manual_seed(0)
    feats = vgg19_features_untrained()
    bgr = VGGPerceptualLoss(features=feats, channel_order="bgr")
    rgb = VGGPerceptualLoss(features=feats, channel_order="rgb")
    g = torch.Generator().manual_seed(4)
    # Different statistics per channel, so the ImageNet normalisation cannot hide the order.
    x = torch.rand(1, 3, 32, 32, generator=g) * torch.tensor([0.9, 0.3, 0.05]).view(1, 3, 1, 1)
    y = x * (1 + 0.5 * torch.rand(1, 3, 32, 32, generator=g))
    # Relative tolerances: these losses are ~1e-4 (see test_vgg_loss_layers_with_given_features).
    assert abs(float(bgr(x, y) - rgb(x, y))) > 0.1 * float(rgb(x, y))
    torch.testing.assert_close(bgr(x, y), rgb(x.flip(1), y.flip(1)), rtol=1e-5, atol=0)
    torch.testing.assert_close(rgb(x, y), bgr(x.flip(1), y.flip(1)), rtol=1e-5, atol=0)
    assert VGGPerceptualLoss(features=feats).channel_order == "bgr"
    assert Stage2Config().vgg_channel_order == "bgr"
    # The config field reaches the loss the method builds.
    local = tmp_path / "vgg.pth"
    torch.save({f"features.{k}": v for k, v in feats.state_dict().items()}, local)
    for order, ref in (("bgr", bgr), ("rgb", rgb)):
        built = build_structure_loss(Stage2Config(vgg_weights=str(local), vgg_channel_order=order))
        assert isinstance(built, VGGPerceptualLoss) and built.channel_order == order
        torch.testing.assert_close(built(x, y), ref(x, y), rtol=1e-5, atol=0)
    cfg = load_config(None, ["selfhdr.stage2.vgg_channel_order=rgb"])
    assert cfg.selfhdr.stage2.vgg_channel_order == "rgb"
    with pytest.raises(ConfigError, match=r"selfhdr\.stage2\.vgg_channel_order"):
        load_config(None, ["selfhdr.stage2.vgg_channel_order=grb"])
    with pytest.raises(ConfigError, match="channel order"):
        VGGPerceptualLoss(features=feats, channel_order="grb")  # type: ignore[arg-type]


def test_vgg_without_weights_offline_says_where_to_put_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match=r"vgg19-dcbb9e9d\.pth.*" + str(tmp_path)):
        load_vgg19_features(download=False)
    with pytest.raises(ConfigError, match="not found"):
        load_vgg19_features(weights=str(tmp_path / "missing.pth"))
    # A local file in torchvision's format is accepted (here: random weights we saved).
    torch.manual_seed(1)
    feats = vgg19_features_untrained()
    local = tmp_path / "vgg.pth"
    torch.save({f"features.{k}": v for k, v in feats.state_dict().items()}, local)
    loaded = load_vgg19_features(weights=str(local))
    torch.testing.assert_close(loaded[0].weight, feats[0].weight)


def test_stage1_config_defaults_are_published() -> None:
    cfg = Stage1Config()
    assert (cfg.mask_threshold, cfg.expansion_weight, cfg.preserve_weight) == (5 / 255, 1.0, 4.0)
