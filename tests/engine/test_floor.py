"""selfhdr.engine.floor: MACs counted and scaled to the image, against a hand count."""

import pytest
import torch
from torch import nn

from selfhdr.archs import build_backbone
from selfhdr.engine.floor import floor_seconds, gemm_gflops, macs


class OneConv(nn.Module):
    """Uses all three frames: a 3×3 conv (18 → 4 channels) over their concatenation."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(18, 4, 3, padding=1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([x1, x2, x3], dim=1))


def test_macs_of_one_conv_by_hand() -> None:
    assert macs(OneConv(), 1000, 1500) == pytest.approx(1000 * 1500 * 4 * 18 * 9)


def test_ahdrnet_published_width() -> None:
    # ≈1.9 TMAC at 1000×1500, the figure issue 17 quotes; the probe size does not matter.
    net = build_backbone("AHDRNet").eval()
    got = macs(net, 1000, 1500)
    assert 1.8e12 < got < 1.95e12
    assert macs(net, 1000, 1500, probe=64) == pytest.approx(got, rel=1e-9)


def test_floor() -> None:
    assert floor_seconds(1e9, 2.0) == pytest.approx(1.0)
    assert gemm_gflops(1, n=256, repeats=1) > 0.1
