"""AHDRNet (Yan et al., CVPR 2019): attention-guided merging of three exposures.

Parameter names, shapes and arithmetic follow the network of the published SelfHDR code
(``models/ahdrnet.py``), so its released checkpoints load unchanged and the conformance
vectors in ``tests/fixtures/conformance`` are reproduced.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .registry import register_backbone


class DilatedDenseLayer(nn.Module):
    """One dense layer: a 3×3 conv with dilation 2 whose ReLU output is appended to its input."""

    def __init__(self, in_ch: int, growth: int) -> None:
        super().__init__()
        # Padding 2 with dilation 2 keeps the spatial size.
        self.conv = nn.Conv2d(in_ch, growth, kernel_size=3, padding=2, dilation=2)

    def forward(self, x: Tensor) -> Tensor:
        """Concatenate ``x`` with ``relu(conv(x))`` along channels."""
        # A true ReLU here, unlike the leaky one of the outer network (published behaviour).
        # In place on the conv output, which nothing else holds (autograd included).
        return torch.cat((x, F.relu(self.conv(x), inplace=True)), dim=1)


class DRDB(nn.Module):
    """Dilated residual dense block: dense layers, a 1×1 fusion back to ``nf``, a skip."""

    def __init__(self, nf: int, n_dense: int, growth: int) -> None:
        super().__init__()
        self.dense_layers = nn.Sequential(
            *(DilatedDenseLayer(nf + i * growth, growth) for i in range(n_dense))
        )
        self.conv_1x1 = nn.Conv2d(nf + n_dense * growth, nf, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        """Residual dense features, same shape as ``x``."""
        return self.conv_1x1(self.dense_layers(x)).add_(x)


@register_backbone("AHDRNet")
class AHDRNet(nn.Module):
    """AHDRNet: attention maps gate the side frames, then dilated dense blocks merge them."""

    # Only 'same'-padded stride-1 convolutions: any height and width work.
    size_divisor = 1

    def __init__(
        self, in_ch: int = 6, nf: int = 64, growth: int = 32, n_dense: int = 5, n_rdb: int = 3
    ) -> None:
        super().__init__()
        self.n_rdb = n_rdb
        # Output pixels depend on inputs this far away: seven 3×3 convs on the longest path
        # plus n_rdb × n_dense dilated ones (radius 2 each); 37 by default. Tiling uses it.
        self.receptive_radius = 7 + 2 * n_dense * n_rdb
        # One encoder shared by the three frames.
        self.conv1 = nn.Conv2d(in_ch, nf, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(nf * 3, nf, kernel_size=3, padding=1)
        # Attention for frame 1 and frame 3, each conditioned on the reference frame 2.
        self.att11 = nn.Conv2d(nf * 2, nf * 2, kernel_size=3, padding=1)
        self.att12 = nn.Conv2d(nf * 2, nf, kernel_size=3, padding=1)
        self.att31 = nn.Conv2d(nf * 2, nf * 2, kernel_size=3, padding=1)
        self.att32 = nn.Conv2d(nf * 2, nf, kernel_size=3, padding=1)
        # Named RDB1..RDBn (not a ModuleList) to keep the published state_dict keys.
        for i in range(n_rdb):
            self.add_module(f"RDB{i + 1}", DRDB(nf, n_dense, growth))
        self.GFF_1x1 = nn.Conv2d(nf * n_rdb, nf, kernel_size=1)
        self.GFF_3x3 = nn.Conv2d(nf, nf, kernel_size=3, padding=1)
        self.conv_up = nn.Conv2d(nf, nf, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(nf, 3, kernel_size=3, padding=1)
        # The published module calls its LeakyReLU(0.01) "relu"; we keep the slope.
        self.act = nn.LeakyReLU(0.01)

    def _attend(self, side: Tensor, ref: Tensor, first: nn.Conv2d, second: nn.Conv2d) -> Tensor:
        """Gate the side-frame features by a sigmoid map computed from (side, reference)."""
        # In-place activations on fresh conv outputs: identical values, fewer live buffers.
        att = second(self._act_(first(torch.cat((side, ref), dim=1))))
        return side * att.sigmoid_()

    def forward(self, x1: Tensor, x2: Tensor, x3: Tensor) -> Tensor:
        """Merge three B×6×H×W frames (frame 2 the reference) into B×3×H×W in [0, 1]."""
        act = self._act_
        f1 = act(self.conv1(x1))
        f2 = act(self.conv1(x2))
        f3 = act(self.conv1(x3))
        f1 = self._attend(f1, f2, self.att11, self.att12)
        f3 = self._attend(f3, f2, self.att31, self.att32)

        feat = self.conv2(torch.cat((f1, f2, f3), dim=1))
        # Execution strategy only (the arithmetic is the published one): drop references as
        # soon as a tensor is dead, so large tiles fit in less memory. Without autograd f2 is
        # recomputed for the global residual (the same conv on the same input: the same
        # values) instead of being held through the dense blocks.
        del f1, f3
        if not torch.is_grad_enabled():
            del f2
        block_outs = []
        for i in range(self.n_rdb):
            feat = getattr(self, f"RDB{i + 1}")(feat)
            block_outs.append(feat)
        del feat
        fused = self.GFF_3x3(self.GFF_1x1(torch.cat(block_outs, dim=1)))
        del block_outs
        # Global residual from the reference frame's shallow features.
        if not torch.is_grad_enabled():
            f2 = act(self.conv1(x2))
        out = self.conv3(self.conv_up(fused.add_(f2)))
        return out.sigmoid_()

    def _act_(self, x: Tensor) -> Tensor:
        """``self.act`` (LeakyReLU 0.01) in place on a fresh conv output."""
        return F.leaky_relu(x, self.act.negative_slope, inplace=True)
