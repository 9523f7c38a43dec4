"""selfhdr.engine.floor: MACs counted and scaled to the image, against a hand count."""

import pytest
import torch
from torch import nn

from selfhdr.archs import build_backbone
from selfhdr.engine.floor import floor_seconds, gemm_gflops, macs, winograd_conv3x3


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


@pytest.mark.parametrize("b, c, k, h, w", [(1, 5, 7, 6, 8), (2, 3, 4, 10, 4)])
def test_winograd_is_the_3x3_convolution(b: int, c: int, k: int, h: int, w: int) -> None:
    """F(2×2, 3×3) equals conv2d (padding 1) to float rounding, for batches and non-square images."""
    g = torch.Generator().manual_seed(b * 10 + c)
    x, wt = torch.randn(b, c, h, w, generator=g), torch.randn(k, c, 3, 3, generator=g)
    torch.testing.assert_close(winograd_conv3x3(x, wt), torch.nn.functional.conv2d(x, wt, padding=1),
                               rtol=0, atol=2e-5)
    with pytest.raises(ValueError, match="even H, W"):
        winograd_conv3x3(x[..., :-1], wt)
