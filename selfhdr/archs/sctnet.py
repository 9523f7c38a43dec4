"""SCTNet (Tel et al., ICCV 2023) exactly as the published SelfHDR code defines it.

Each frame is embedded into its own third of the channels; residual groups of Swin blocks
mix all three, and after every group two cross-frame channel-attention blocks let the
reference third query the first and the third frame. Parameter names and shapes match the
published module, so released SelfHDR checkpoints load unchanged (minus the derived
``relative_position_index``/``attn_mask`` buffers, rebuilt here for the actual input size).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from ._swin import (
    Mlp,
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


class _NamedLayerNorm(nn.Module):
    """LayerNorm over channels, held as ``body`` to keep the published parameter names."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.body = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        """Normalise the last dimension."""
        return self.body(x)


class MutualAttention(nn.Module):
    """Channel-to-channel attention: queries from one frame, keys and values from another.

    Attention is C/heads × C/heads per head, with queries and keys L2-normalised over all
    pixels, so the cost is linear in the pixel count but every output pixel depends on the
    whole image (tiled inference is close to, not identical with, a full-image pass).
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(
                f"embed_dim/3 = {dim} is not divisible by channel_heads {num_heads}"
            )
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        # 1×1 convolutions in the published module; applied below as matrix products on tokens.
        self.q = nn.Conv2d(dim, dim, 1, bias=False)
        self.k = nn.Conv2d(dim, dim, 1, bias=False)
        self.v = nn.Conv2d(dim, dim, 1, bias=False)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def _heads(self, conv: nn.Conv2d, tokens: Tensor) -> Tensor:
        # B×N×C tokens → B×heads×(C/heads)×N, the layout the attention reduces over.
        b, n, c = tokens.shape
        out = torch.matmul(conv.weight.flatten(1), tokens.transpose(1, 2))
        return out.view(b, self.num_heads, c // self.num_heads, n)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Queries from ``x``, keys/values from ``y`` (both B×N×C tokens) → B×N×C."""
        b, n, c = x.shape
        q = F.normalize(self._heads(self.q, x), dim=-1)
        k = F.normalize(self._heads(self.k, y), dim=-1)
        v = self._heads(self.v, y)
        attn = (q @ k.transpose(-2, -1)) * self.temperature
        out = (attn.softmax(dim=-1) @ v).view(b, c, n)
        return F.linear(out.transpose(1, 2), self.project_out.weight.flatten(1))


class ChannelCrossAttentionBlock(nn.Module):
    """Pre-norm :class:`MutualAttention` and MLP with residuals (``SCAB`` in the published code)."""

    def __init__(self, dim: int, num_heads: int, ffn_ratio: int = 4) -> None:
        super().__init__()
        self.norm1_x = _NamedLayerNorm(dim)
        self.norm1_y = _NamedLayerNorm(dim)
        self.attn = MutualAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = Mlp(dim, dim * ffn_ratio)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Update ``x`` (B×N×C tokens) with what it finds in ``y``."""
        x = x + self.attn(self.norm1_x(x), self.norm1_y(y))
        return x + self.ffn(self.norm2(x))


@register_backbone("SCTNet")
class SCTNet(nn.Module):
    """SCTNet: ``forward(x1, x2, x3)`` on B×6×H×W frames, frame 2 the reference."""

    # H and W must be multiples of the attention window (8 unless ``window_size`` is changed;
    # the instance attribute set in __init__ follows ``window_size``). Patch size is 1 and
    # nothing downsamples; the channel attention works at any size.
    size_divisor = 8

    def __init__(
        self,
        in_chans: int = 6,
        embed_dim: int = 60,
        depths: Sequence[int] = (6, 6, 6, 6),
        num_heads: Sequence[int] = (6, 6, 6, 6),
        window_size: int = 8,
        mlp_ratio: float = 2.0,
        channel_heads: int = 4,
        channel_ffn_ratio: int = 4,
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__()
        if embed_dim % 3:
            raise ConfigError(f"embed_dim {embed_dim} must be a multiple of 3 (one third a frame)")
        check_stages(depths, num_heads)
        self.size_divisor = window_size
        branch = embed_dim // 3
        self.conv1 = nn.Conv2d(in_chans, branch, 3, padding=1)
        self.conv2 = nn.Conv2d(in_chans, branch, 3, padding=1)
        self.conv3 = nn.Conv2d(in_chans, branch, 3, padding=1)
        self.conv_end = nn.Conv2d(branch, embed_dim, 3, padding=1)
        self.conv_first = Mlp(embed_dim, embed_dim)

        self.patch_embed = PatchEmbed(embed_dim)
        self.layers = nn.ModuleList(
            ResidualSwinGroup(
                SwinStage(embed_dim, depth, heads, window_size, mlp_ratio, rates),
                nn.Conv2d(embed_dim, embed_dim, 3, padding=1),
            )
            for depth, heads, rates in zip(
                depths, num_heads, stochastic_depth_rates(depths, drop_path_rate)
            )
        )
        # "lm"/"rm": the reference branch attending to frame 1 and to frame 3.
        self.channel_layers_lm = nn.ModuleList(
            ChannelCrossAttentionBlock(branch, channel_heads, channel_ffn_ratio) for _ in depths
        )
        self.channel_layers_rm = nn.ModuleList(
            ChannelCrossAttentionBlock(branch, channel_heads, channel_ffn_ratio) for _ in depths
        )
        self.mlps = nn.ModuleList(Mlp(embed_dim, embed_dim) for _ in depths)
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, padding=1)
        # A one-layer Sequential only to keep the published name ``upsample.0`` (scale 1).
        self.upsample = nn.Sequential(nn.Conv2d(embed_dim, 3, 3, padding=1))
        self.apply(init_transformer_weights)

    def forward(self, x1: Tensor, x2: Tensor, x3: Tensor) -> Tensor:
        """Three B×6×H×W frames ``[linear, LDR]`` → B×3×H×W HDR estimate in [0, 1]."""
        check_input_size("SCTNet", x2, self.size_divisor)
        f2 = self.conv2(x2)
        x = torch.cat((self.conv1(x1), f2, self.conv3(x3)), dim=1)

        size = (x.shape[2], x.shape[3])
        t = self.patch_embed(x)
        # The embedded per-frame thirds are re-injected after every group.
        e1, e2, e3 = t.chunk(3, dim=2)
        t = self.conv_first(t)
        for layer, to_first, to_third, mlp in zip(
            self.layers, self.channel_layers_lm, self.channel_layers_rm, self.mlps
        ):
            t1, t2, t3 = layer(t, size).chunk(3, dim=2)
            ref = e2 + t2
            t = mlp(torch.cat((to_first(ref, e1 + t1), ref, to_third(ref, e3 + t3)), dim=2))
        feats = tokens_to_image(self.norm(t), size)

        out = self.conv_after_body(feats) + self.conv_end(f2)
        return torch.sigmoid(self.upsample(out))
