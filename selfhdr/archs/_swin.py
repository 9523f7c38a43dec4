"""Swin-style pieces shared by HDR-Transformer and SCTNet: (shifted) window attention, blocks.

Parameter names follow the published SelfHDR modules (``norm1``, ``attn.qkv``, ``mlp.fc1``, ...)
so released checkpoints load unchanged. The published modules also store two derived buffers,
``relative_position_index`` and ``attn_mask``; here the first is a non-persistent buffer and the
second is computed per input size (and memoised), so neither appears in ``state_dict`` and the
shifted-window mask is always the one for the actual input size.
"""

from __future__ import annotations

import functools
from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, InputError

# The published code adds -100 (not -inf) to attention logits across shifted-window regions.
MASK_VALUE = -100.0


def check_input_size(name: str, x: Tensor, divisor: int) -> None:
    """Raise a clear error unless ``x``'s height and width are multiples of ``divisor``."""
    h, w = x.shape[-2:]
    if h % divisor or w % divisor:
        raise InputError(
            None,
            f"{name} needs height and width that are multiples of {divisor}, got {h}x{w}; "
            "pad the frames first (selfhdr.inference.pad_to_multiple)",
        )


def image_to_tokens(x: Tensor) -> Tensor:
    """B×C×H×W → B×(H·W)×C (a view, no copy)."""
    return x.flatten(2).transpose(1, 2)


def tokens_to_image(x: Tensor, size: Tuple[int, int]) -> Tensor:
    """B×(H·W)×C → B×C×H×W (a view when the tokens are contiguous)."""
    return x.transpose(1, 2).unflatten(2, size)


def window_partition(x: Tensor, window: int) -> Tensor:
    """B×H×W×C → (B·nW)×(window²)×C, windows in row-major order within each image."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def relative_position_index(window: int) -> Tensor:
    """(window²)×(window²) index into the (2·window−1)² relative-position bias table."""
    coords = torch.stack(
        torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    ).flatten(1)
    rel = coords[:, :, None] - coords[:, None, :] + (window - 1)
    return rel[0] * (2 * window - 1) + rel[1]


@functools.lru_cache(maxsize=16)
def window_order(
    height: int, width: int, window: int, shift: int, device: torch.device
) -> Tuple[Tensor, Tensor]:
    """Token indices that gather an H×W map, cyclically shifted by ``-shift``, into windows.

    Returns ``(order, inverse)``: ``tokens[:, order]`` lists the windows of the shifted map
    one after another (each row-major, windows row-major, as :func:`window_partition`), and
    ``windowed[:, inverse]`` puts them back. Memoised; callers must not modify them.
    """
    rows = (torch.arange(height) + shift) % height
    cols = (torch.arange(width) + shift) % width
    source = rows[:, None] * width + cols[None, :]
    order = window_partition(source[None, :, :, None], window).flatten()
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel())
    return order.to(device), inverse.to(device)


@functools.lru_cache(maxsize=16)
def shifted_window_mask(
    height: int, width: int, window: int, shift: int, device: torch.device
) -> Tuple[Tensor, Tensor]:
    """The SW-MSA mask for an H×W map, kept only for the windows where it is not all zero.

    Returns ``(index, mask)``: the indices (among the H/window × W/window windows, row-major) of
    the windows that straddle a cyclic-shift seam, and their additive masks, len(index)×N×N with
    N = window², holding ``MASK_VALUE`` where two tokens came from different regions and 0
    elsewhere. Every other window's mask is zero, so it is never materialised: at 1000×1504 that
    is 312 of 23,500 windows. Memoised; callers must not modify the returned tensors.
    """
    def region(n: int) -> Tensor:
        # Along one axis the shifted map has three bands, [0, n-window), [n-window, n-shift)
        # and [n-shift, n): the last one wrapped round from the start of the image.
        i = torch.arange(n)
        return (i >= n - window).long() + (i >= n - shift).long()

    labels = region(height)[:, None] * 3 + region(width)[None, :]
    labels = window_partition(labels[None, :, :, None], window).squeeze(-1)  # nW×N
    index = (labels != labels[:, :1]).any(dim=1).nonzero().squeeze(1)
    seam = labels[index]
    mask = (seam[:, None, :] != seam[:, :, None]).float() * MASK_VALUE
    return index.to(device), mask.to(device)


class DropPath(nn.Module):
    """Stochastic depth: in training, drop a sample's residual branch with probability ``p``."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        """Identity in eval mode or when ``p`` is 0."""
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        return x * x.new_empty(shape).bernoulli_(keep).div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Mlp(nn.Module):
    """Linear → GELU → Linear."""

    def __init__(self, dim: int, hidden: int, out: Optional[int] = None) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, out or dim)

    def forward(self, x: Tensor) -> Tensor:
        """Apply on the last dimension."""
        return self.fc2(self.act(self.fc1(x)))


class WindowAttention(nn.Module):
    """Multi-head self-attention within (shifted) windows, with a relative-position bias."""

    def __init__(self, dim: int, window_size: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.window_size = window_size
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1) ** 2, num_heads)
        )
        self.register_buffer(
            "relative_position_index", relative_position_index(window_size), persistent=False
        )
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_position_bias(self) -> Tensor:
        """1×heads×N×N bias added to the attention logits of every window."""
        n = self.window_size**2
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> Tensor:
        # A 4-D mask keeps PyTorch on its fused CPU kernel, which never materialises the
        # (windows × heads × N × N) logits: about 2.3 GB per block at 1000×1500.
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)

    def forward(self, x: Tensor, size: Tuple[int, int], shift: int = 0) -> Tensor:
        """Attention within windows of B×(H·W)×C tokens cyclically shifted by ``shift``."""
        b, _, c = x.shape
        h, w = size
        ws, heads = self.window_size, self.num_heads
        n, d = ws * ws, c // heads
        # One gather does the cyclic shift and the window partition (and one undoes both),
        # instead of a roll (two copies) plus a permute-copy each way.
        order, inverse = window_order(h, w, ws, shift, x.device)
        windows = x.index_select(1, order).view(-1, n, c)
        q, k, v = self.qkv(windows).view(-1, n, 3, heads, d).permute(2, 0, 3, 1, 4).unbind(0)
        bias = self.relative_position_bias()
        # The fused kernel returns (B·nW)×heads×N×d stored as (B·nW)×N×heads×d, so this
        # transpose and the reshapes below are free.
        out = self._attend(q, k, v, bias).transpose(1, 2).reshape(b, -1, n, c)
        if shift:
            # Windows on a shift seam attend again with the region mask; the rest need none.
            index, mask = shifted_window_mask(h, w, ws, shift, x.device)
            if index.numel():
                nw = out.shape[1]

                def pick(t: Tensor) -> Tensor:
                    return t.unflatten(0, (b, nw))[:, index].flatten(0, 1)

                seam_bias = (bias + mask.to(bias.dtype).unsqueeze(1)).repeat(b, 1, 1, 1)
                seam = self._attend(pick(q), pick(k), pick(v), seam_bias)
                seam = seam.transpose(1, 2).reshape(b, -1, n, c)
                if out.requires_grad:
                    out = out.index_copy(1, index, seam)
                else:
                    out.index_copy_(1, index, seam)
        return self.proj(out.view(b, -1, c)).index_select(1, inverse)


class SwinBlock(nn.Module):
    """Pre-norm (shifted) window attention and MLP, each with a residual connection.

    ``local_context`` (HDR-Transformer's context extractor) maps the normalised input, as a
    B×C×H×W image, to a B×C×H×W term added to the output; it is stored as ``lce``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shift_size: int,
        mlp_ratio: float,
        drop_path: float = 0.0,
        local_context: Optional[nn.Module] = None,
    ) -> None:
        super().__init__()
        if not 0 <= shift_size < window_size:
            raise ConfigError(f"shift {shift_size} must lie in [0, window_size {window_size})")
        self.shift_size = shift_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.lce = local_context

    def forward(self, x: Tensor, size: Tuple[int, int]) -> Tensor:
        """B×(H·W)×C tokens of an H×W map → same shape."""
        y = self.norm1(x)
        x = x + self.drop_path(self.attn(y, size, self.shift_size))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        if self.lce is not None:
            x = x + image_to_tokens(self.lce(tokens_to_image(y, size)))
        return x


class SwinStage(nn.Module):
    """``depth`` Swin blocks alternating plain and half-window-shifted attention."""

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
        drop_path: Sequence[float],
        local_context: Optional[Callable[[], nn.Module]] = None,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(
                dim,
                num_heads,
                window_size,
                shift_size=0 if i % 2 == 0 else window_size // 2,
                mlp_ratio=mlp_ratio,
                drop_path=drop_path[i],
                local_context=local_context() if local_context else None,
            )
            for i in range(depth)
        )

    def forward(self, x: Tensor, size: Tuple[int, int]) -> Tensor:
        """Run the blocks in order on B×(H·W)×C tokens."""
        for block in self.blocks:
            x = block(x, size)
        return x


class ResidualSwinGroup(nn.Module):
    """A :class:`SwinStage` followed by a convolution on the token map, plus a skip connection.

    The convolution is registered under ``conv_name`` because the two published networks name
    it differently (``dilated_conv`` in HDR-Transformer, ``conv`` in SCTNet).
    """

    def __init__(self, stage: SwinStage, conv: nn.Module, conv_name: str = "conv") -> None:
        super().__init__()
        self.residual_group = stage
        self.add_module(conv_name, conv)
        self._conv_name = conv_name

    def forward(self, x: Tensor, size: Tuple[int, int]) -> Tensor:
        """B×(H·W)×C tokens → same shape."""
        res = self.residual_group(x, size)
        res = getattr(self, self._conv_name)(tokens_to_image(res, size))
        return image_to_tokens(res) + x


class PatchEmbed(nn.Module):
    """B×C×H×W → layer-normalised B×(H·W)×C tokens (patch size 1, as published)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        """Flatten and layer-normalise over channels."""
        return self.norm(image_to_tokens(x))


def check_stages(depths: Sequence[int], num_heads: Sequence[int]) -> None:
    """Raise unless ``num_heads`` gives one head count per stage of ``depths``."""
    if len(num_heads) != len(depths) or not all(d >= 1 for d in depths):
        raise ConfigError(
            f"depths {list(depths)} and num_heads {list(num_heads)} must be equally long, "
            "with every depth >= 1"
        )


def stochastic_depth_rates(depths: Sequence[int], rate: float) -> list[list[float]]:
    """Per-stage drop-path rates rising linearly from 0 to ``rate`` over all blocks."""
    rates = torch.linspace(0, rate, sum(depths)).tolist()
    out, start = [], 0
    for depth in depths:
        out.append(rates[start : start + depth])
        start += depth
    return out


def init_transformer_weights(module: nn.Module) -> None:
    """The published initialisation: truncated-normal Linear weights, zero biases, unit norms."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
