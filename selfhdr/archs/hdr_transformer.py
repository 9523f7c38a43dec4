"""HDR-Transformer (Liu et al., ECCV 2022) exactly as the published SelfHDR code defines it.

Spatial-attention feature fusion of the three frames, then residual groups of context-aware
Swin blocks (window attention plus a squeeze-and-excitation "local context extractor") and a
sigmoid output. Parameter names and shapes match the published module, so released SelfHDR
checkpoints load unchanged (minus the derived ``relative_position_index``/``attn_mask``
buffers, which are rebuilt here for whatever input size arrives).
"""

from __future__ import annotations

from functools import partial
from typing import Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ._swin import (
    PatchEmbed,
    ResidualSwinGroup,
    SwinStage,
    check_input_size,
    check_stages,
    init_transformer_weights,
    stochastic_depth_rates,
    tokens_to_image,
)
from .registry import register_backbone


class SpatialAttention(nn.Module):
    """Per-pixel, per-channel weights in (0, 1) for a non-reference frame given the reference."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.att1 = nn.Conv2d(dim * 2, dim * 2, 3, padding=1)
        self.att2 = nn.Conv2d(dim * 2, dim, 3, padding=1)
        self.relu = nn.LeakyReLU()  # default slope 0.01, as published

    def forward(self, x: Tensor, ref: Tensor) -> Tensor:
        """Attention map for ``x`` (B×C×H×W) relative to ``ref``."""
        return torch.sigmoid(self.att2(self.relu(self.att1(torch.cat((x, ref), 1)))))


class LocalContextExtractor(nn.Module):
    """Bottleneck convolutions gated by channel attention from global average pooling."""

    def __init__(self, dim: int, reduction: int = 8) -> None:
        super().__init__()
        mid = dim // reduction
        if mid < 1:
            raise ConfigError(f"embed_dim {dim} is too small for context_reduction {reduction}")
        self.conv = nn.Sequential(
            nn.Conv2d(dim, mid, 1),
            nn.Conv2d(mid, mid, 3, padding=1),
            nn.Conv2d(mid, dim, 1),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.fc = nn.Sequential(
            nn.Linear(dim, mid, bias=False),
            nn.ReLU(),
            nn.Linear(mid, dim, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        """B×C×H×W → B×C×H×W.

        The gate pools over the whole image, so the output at a pixel depends on every pixel:
        tiled inference is close to, not identical with, a single full-image pass.
        """
        x = self.conv(x)
        gate = self.fc(x.mean(dim=(2, 3)))
        return x * gate[:, :, None, None]


@register_backbone("HDR-Transformer")
class HDRTransformer(nn.Module):
    """HDR-Transformer: ``forward(x1, x2, x3)`` on B×6×H×W frames, frame 2 the reference."""

    # H and W must be multiples of the attention window (8 unless ``window_size`` is changed;
    # the instance attribute set in __init__ follows ``window_size``). No downsampling.
    size_divisor = 8

    def __init__(
        self,
        in_chans: int = 6,
        embed_dim: int = 60,
        depths: Sequence[int] = (6, 6, 6),
        num_heads: Sequence[int] = (6, 6, 6),
        window_size: int = 8,
        mlp_ratio: float = 2.0,
        context_reduction: int = 8,
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__()
        check_stages(depths, num_heads)
        self.size_divisor = window_size
        self.conv_f1 = nn.Conv2d(in_chans, embed_dim, 3, padding=1)
        self.conv_f2 = nn.Conv2d(in_chans, embed_dim, 3, padding=1)
        self.conv_f3 = nn.Conv2d(in_chans, embed_dim, 3, padding=1)
        # Published pairing: att_module_h gates frame 1, att_module_l gates frame 3.
        self.att_module_l = SpatialAttention(embed_dim)
        self.att_module_h = SpatialAttention(embed_dim)
        self.conv_first = nn.Conv2d(embed_dim * 3, embed_dim, 3, padding=1)

        self.patch_embed = PatchEmbed(embed_dim)
        context = partial(LocalContextExtractor, embed_dim, context_reduction)
        self.layers = nn.ModuleList(
            ResidualSwinGroup(
                SwinStage(embed_dim, depth, heads, window_size, mlp_ratio, rates, context),
                nn.Conv2d(embed_dim, embed_dim, 3, padding=2, dilation=2),
                conv_name="dilated_conv",
            )
            for depth, heads, rates in zip(
                depths, num_heads, stochastic_depth_rates(depths, drop_path_rate)
            )
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, padding=1)
        self.conv_last = nn.Conv2d(embed_dim, 3, 3, padding=1)
        self.apply(init_transformer_weights)

    def forward(self, x1: Tensor, x2: Tensor, x3: Tensor) -> Tensor:
        """Three B×6×H×W frames ``[linear, LDR]`` → B×3×H×W HDR estimate in [0, 1]."""
        check_input_size("HDR-Transformer", x2, self.size_divisor)
        f1, f2, f3 = self.conv_f1(x1), self.conv_f2(x2), self.conv_f3(x3)
        f1 = f1 * self.att_module_h(f1, f2)
        f3 = f3 * self.att_module_l(f3, f2)
        x = self.conv_first(torch.cat((f1, f2, f3), dim=1))

        size = (x.shape[2], x.shape[3])
        t = self.patch_embed(x)
        for layer in self.layers:
            t = layer(t, size)
        feats = tokens_to_image(self.norm(t), size)

        res = self.conv_after_body(feats + x)
        return torch.sigmoid(self.conv_last(f2 + res))
