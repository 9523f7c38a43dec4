"""FSHDR (Prabhakar et al., CVPR 2021) reconstruction network, as used by SelfHDR.

Parameter names, shapes and arithmetic follow the network of the published SelfHDR code
(``models/fshdr.py``), so its released checkpoints load unchanged and the conformance
vectors in ``tests/fixtures/conformance`` are reproduced.
"""

from __future__ import annotations

from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .registry import register_backbone


def _conv3x3(in_ch: int, out_ch: int, dilation: int = 1) -> nn.Conv2d:
    """A 'same'-padded 3×3 convolution with bias."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=dilation, dilation=dilation)


class SDC(nn.Module):
    """Smoothed dilated convolutions: dilations 1, 2, 3 in parallel, outputs concatenated."""

    def __init__(self, in_ch: int, nf: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_ch, nf, dilation=1)
        self.conv2 = _conv3x3(in_ch, nf, dilation=2)
        self.conv3 = _conv3x3(in_ch, nf, dilation=3)

    def forward(self, x: Tensor) -> Tensor:
        """B×in_ch×H×W → B×3nf×H×W."""
        # The published SDC uses slope 0.3 here, unlike the 0.2 of the rest of the network.
        return torch.cat(
            [F.leaky_relu(conv(x), 0.3) for conv in (self.conv1, self.conv2, self.conv3)], dim=1
        )


@register_backbone("FSHDR")
class FSHDR(nn.Module):
    """FSHDR: three per-frame streams with pairwise (1,2) and (2,3) merge streams, then SDCs.

    The names ``conv1``..``conv16`` follow the published module: ``conv1-3`` encode the
    frames, ``conv4/5`` start the two merge streams, then two stages each refine the frame
    streams (``conv6-8``, ``conv11-13``) and update the merge streams (``conv9/10``,
    ``conv14/15``); ``sdc1..sdcN`` form a dense chain and ``conv16`` predicts the image.
    """

    # Only 'same'-padded stride-1 convolutions: any height and width work.
    size_divisor = 1

    def __init__(self, in_ch: int = 6, nf: int = 64, n_sdc: int = 2) -> None:
        super().__init__()
        self.n_sdc = n_sdc
        # Output pixels depend on inputs this far away: five 3×3 convs on the longest path
        # plus dilation 3 per SDC; 11 by default. Tiling uses it.
        self.receptive_radius = 5 + 3 * n_sdc
        self.conv1 = _conv3x3(in_ch, nf)
        self.conv2 = _conv3x3(in_ch, nf)
        self.conv3 = _conv3x3(in_ch, nf)
        self.conv4 = _conv3x3(2 * nf, nf)
        self.conv5 = _conv3x3(2 * nf, nf)
        self.conv6 = _conv3x3(nf, nf)
        self.conv7 = _conv3x3(nf, nf)
        self.conv8 = _conv3x3(nf, nf)
        self.conv9 = _conv3x3(3 * nf, nf)
        self.conv10 = _conv3x3(3 * nf, nf)
        self.conv11 = _conv3x3(nf, nf)
        self.conv12 = _conv3x3(nf, nf)
        self.conv13 = _conv3x3(nf, nf)
        self.conv14 = _conv3x3(3 * nf, nf)
        self.conv15 = _conv3x3(3 * nf, nf)
        # Dense chain: SDC k sees the 3nf merged features plus the 3nf outputs of SDCs 1..k-1.
        for k in range(1, n_sdc + 1):
            self.add_module(f"sdc{k}", SDC(3 * k * nf, nf))
        self.conv16 = _conv3x3(3 * (n_sdc + 1) * nf, 3)

    @staticmethod
    def _act(x: Tensor) -> Tensor:
        """The network's activation: LeakyReLU with slope 0.2."""
        return F.leaky_relu(x, 0.2)

    def forward(self, x1: Tensor, x2: Tensor, x3: Tensor) -> Tensor:
        """Merge three B×6×H×W frames (frame 2 the reference) into B×3×H×W in [0, 1]."""
        a = self._act
        f1, f2, f3 = a(self.conv1(x1)), a(self.conv2(x2)), a(self.conv3(x3))
        s1 = a(self.conv4(torch.cat((f1, f2), dim=1)))
        s2 = a(self.conv5(torch.cat((f2, f3), dim=1)))

        f1, f2, f3 = a(self.conv6(f1)), a(self.conv7(f2)), a(self.conv8(f3))
        s1 = a(self.conv9(torch.cat((f1, f2, s1), dim=1)))
        s2 = a(self.conv10(torch.cat((f2, f3, s2), dim=1)))

        f1, f2, f3 = a(self.conv11(f1)), a(self.conv12(f2)), a(self.conv13(f3))
        s1 = a(self.conv14(torch.cat((f1, f2, s1), dim=1)))
        s2 = a(self.conv15(torch.cat((f2, f3, s2), dim=1)))

        feats: List[Tensor] = [torch.cat((f2, s1, s2), dim=1)]
        for k in range(1, self.n_sdc + 1):
            feats.append(getattr(self, f"sdc{k}")(torch.cat(feats, dim=1)))
        return torch.sigmoid(self.conv16(torch.cat(feats, dim=1)))
