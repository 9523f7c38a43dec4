"""SelfHDR's stage-1 and stage-2 losses match a literal transcription of the published code."""

from __future__ import annotations

import math
from typing import Dict

import pytest
import torch
from torch import nn

from selfhdr.errors import ConfigError
from selfhdr.losses.perceptual import VGGPerceptualLoss, load_vgg19_features, vgg19_features_untrained
from selfhdr.losses.ssim import SSIMStructureLoss
from selfhdr.methods.selfhdr import (
    SelfHDRStage1, SelfHDRStage2, Stage1Config, Stage2Config, noisy_reference, stage1_masks,
    stage2_mask,
)
from selfhdr.methods.supervised import Supervised


def _rc(x: torch.Tensor) -> torch.Tensor:  # published range_compressor_cuda
    return torch.log(1 + 5000 * x) / math.log(1 + 5000)


class Echo(nn.Module):
    """A 'network' returning a fixed image, so the loss alone is under test."""

    size_divisor = 1

    def __init__(self, out: torch.Tensor) -> None:
        super().__init__()
        self.out = nn.Parameter(out.clone())

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        return self.out


def _batch(seed: int = 0) -> Dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = torch.tensor([[1.0, 4.0, 16.0]] * 2)
    frames = {}
    for k in range(3):
        ldr = torch.rand(2, 3, 24, 24, generator=g)
        frames[f"x{k + 1}"] = torch.cat([ldr**2.2 / (t[:, k].view(-1, 1, 1, 1) + 1e-8), ldr], 1)
    color = frames["x2"][:, :3] * (1 + 2 * torch.rand(2, 3, 24, 24, generator=g))
    stru = color * (1 + 1.5 * torch.rand(2, 3, 24, 24, generator=g))
    return {**frames, "t": t, "color": color, "stru": stru, "gt": color}


def test_stage1_matches_published() -> None:
    batch = _batch()
    out = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(5))
    res = SelfHDRStage1(Echo(out)).training_step(batch)
    # Published SelfHDR1Model.backward, transcribed.
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
    assert 0.0 < float(label_mask.mean()) < 1.0  # the mask really selects
    torch.testing.assert_close(res["expansion"], expan)
    torch.testing.assert_close(res["preserving"], prese)
    torch.testing.assert_close(res["loss"], expan + prese)


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


def test_stage2_matches_published_with_a_stand_in_structure_loss() -> None:
    batch = _batch(1)
    out = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(6))
    l1 = nn.L1Loss()

    def structure(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return l1(_rc(a), _rc(b)) * 0.5

    class Stand(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return structure(a, b)

    cfg = Stage2Config(noise_sigma=0.0)
    res = SelfHDRStage2(Echo(out), cfg, structure_loss=Stand()).training_step(batch)
    diff = _rc(batch["color"]) - _rc(batch["stru"])
    label_mask = torch.mean(torch.abs(diff), 1, keepdim=True)
    label_mask[label_mask < 10 / 255] = 0
    label_mask[label_mask >= 10 / 255] = 1
    label_mask = 1 - label_mask
    assert 0.0 < float(label_mask.mean()) < 1.0
    color = l1(_rc(out) * label_mask, _rc(batch["color"]) * label_mask)
    torch.testing.assert_close(res["color"], color)
    torch.testing.assert_close(res["structure"], structure(out, batch["stru"]))
    torch.testing.assert_close(res["mask_m2"], label_mask.mean())
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
    res = Supervised(Echo(batch["gt"])).training_step(batch)
    assert float(res["loss"].detach()) == 0.0


def test_ssim_structure_loss() -> None:
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    loss = SSIMStructureLoss()
    assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(x, x.flip(-1))) > 0.1
    assert float(loss(x, x * 1.01)) < float(loss(x, x.flip(-1)))


def test_vgg_loss_layers_with_given_features() -> None:
    torch.manual_seed(0)
    feats = vgg19_features_untrained()
    loss = VGGPerceptualLoss(features=feats)
    x = torch.rand(1, 3, 32, 32)
    assert float(loss(x, x)) == 0.0
    y = torch.rand(1, 3, 32, 32)
    # By hand: the three taps of torchvision's vgg19 features, weights 1, 1, 2, divided by 4.
    norm = lambda z: (_rc(z) - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)  # noqa: E731
    fx, fy, taps = norm(x), norm(y), {13: 1.0, 22: 1.0, 31: 2.0}
    expected = 0.0
    for i in range(32):
        fx, fy = feats[i](fx), feats[i](fy)
        if i in taps:
            expected = expected + taps[i] * torch.mean(torch.abs(fx - fy))
    torch.testing.assert_close(loss(x, y), expected / 4)
    assert all(not p.requires_grad for p in loss.parameters())


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
