"""Unsupervised two-exposure fusion network (after Nagaswetha 2025) and DeepFuse chroma.

The network sees the luminance of an under- and an over-exposed frame and predicts one
weight map per frame (softmax over the frames); the fused luminance is their weighted sum.
Chroma is fused without learning, as DeepFuse does. Not a reconstruction backbone: it is
deliberately absent from the backbone registry (different inputs and outputs).
"""

from __future__ import annotations

from typing import Mapping, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, PathLike
from .padding import pad_to_multiple, unpad

# ITU-R BT.601 full-range ("JPEG") YCbCr on [0, 1] data: Y = Kr R + Kg G + Kb B,
# Cb = (B − Y) / (2 (1 − Kb)) + 0.5, Cr = (R − Y) / (2 (1 − Kr)) + 0.5.
_KR, _KB = 0.299, 0.114
LUMA = np.array([_KR, 1.0 - _KR - _KB, _KB])
"""BT.601 luma weights of R, G, B."""
_RGB2YCBCR = np.stack([
    LUMA,
    (np.array([0.0, 0.0, 1.0]) - LUMA) / (2.0 * (1.0 - _KB)),
    (np.array([1.0, 0.0, 0.0]) - LUMA) / (2.0 * (1.0 - _KR)),
])
_YCBCR2RGB = np.linalg.inv(_RGB2YCBCR)
CHROMA_NEUTRAL = 0.5


def _colour_transform(x: torch.Tensor, matrix: np.ndarray) -> torch.Tensor:
    m = torch.as_tensor(matrix, dtype=x.dtype, device=x.device)
    return torch.einsum("ij,...jhw->...ihw", m, x)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """…×3×H×W RGB in [0, 1] → YCbCr (BT.601 full range), Cb/Cr centred on 0.5."""
    if rgb.shape[-3] != 3:
        raise ValueError(f"expected 3 colour channels at dim -3, got shape {tuple(rgb.shape)}")
    ycc = _colour_transform(rgb, _RGB2YCBCR)
    offset = torch.tensor([0.0, CHROMA_NEUTRAL, CHROMA_NEUTRAL], dtype=rgb.dtype, device=rgb.device)
    return ycc + offset[:, None, None]


def ycbcr_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (not clipped)."""
    if ycc.shape[-3] != 3:
        raise ValueError(f"expected 3 colour channels at dim -3, got shape {tuple(ycc.shape)}")
    offset = torch.tensor([0.0, CHROMA_NEUTRAL, CHROMA_NEUTRAL], dtype=ycc.dtype, device=ycc.device)
    return _colour_transform(ycc - offset[:, None, None], _YCBCR2RGB)


def fuse_chroma(chroma: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """DeepFuse chroma fusion along the frame axis ``dim``.

    ``C_f = Σ_k C_k |C_k − 0.5| / Σ_k |C_k − 0.5|`` (0.5 = neutral chroma on [0, 1] data;
    DeepFuse writes it for 8-bit data with 128), and 0.5 where every frame is neutral.
    The more saturated frame dominates, so colour survives where one frame is washed out.
    """
    dev = (chroma - CHROMA_NEUTRAL).abs()
    den = dev.sum(dim=dim)
    num = (chroma * dev).sum(dim=dim)
    safe = torch.where(den > 0, den, torch.ones_like(den))
    return torch.where(den > 0, num / safe, torch.full_like(den, CHROMA_NEUTRAL))


def _conv_block(c_in: int, c_out: int, n_convs: int) -> nn.Sequential:
    layers = []
    for i in range(n_convs):
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class FusionNet(nn.Module):
    """Encoder–decoder predicting per-pixel fusion weights for an under/over exposure pair.

    Encoder: VGG16-style stages of ``convs_per_stage`` conv3×3+ReLU at ``widths`` channels,
    2×2 max-pooling between stages. Decoder: bilinear ×2 upsampling, concatenation with the
    encoder stage of the same size, conv3×3+ReLU blocks. The default widths (16-32-64-128,
    0.49 M parameters) keep a step at batch 8 of 128×128 patches near a second on two CPU
    cores; (32, 64, 128, 256) is 4× the compute. A 1×1 head gives one logit per
    frame; softmax over the frame axis makes the weights sum to 1. The head starts at zero,
    so an untrained net averages the two frames.

    ``forward(y)``: B×2×H×W luminance (under, over) in [0, 1] → B×2×H×W weights. Any H×W
    works: inputs are reflection-padded to a multiple of ``size_divisor`` and cropped back.
    """

    def __init__(self, widths: Sequence[int] = (16, 32, 64, 128), convs_per_stage: int = 2,
                 in_frames: int = 2) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 1 or min(widths) < 1 or convs_per_stage < 1 or in_frames < 2:
            raise ValueError(f"bad FusionNet config: widths={widths}, "
                             f"convs_per_stage={convs_per_stage}, in_frames={in_frames}")
        self.widths = widths
        self.convs_per_stage = int(convs_per_stage)
        self.in_frames = in_frames
        self.size_divisor = 2 ** (len(widths) - 1)
        self.encoder = nn.ModuleList(
            _conv_block(in_frames if i == 0 else widths[i - 1], w, convs_per_stage)
            for i, w in enumerate(widths)
        )
        self.decoder = nn.ModuleList(
            _conv_block(widths[i + 1] + widths[i], widths[i], convs_per_stage)
            for i in reversed(range(len(widths) - 1))
        )
        self.head = nn.Conv2d(widths[0], in_frames, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Per-frame weight maps (B×K×H×W, summing to 1 over K) for luminance ``y``."""
        if y.ndim != 4 or y.shape[1] != self.in_frames:
            raise ValueError(f"expected B×{self.in_frames}×H×W luminance, got {tuple(y.shape)}")
        x, pad = pad_to_multiple(y, self.size_divisor, rule="minimal")
        skips = []
        for i, stage in enumerate(self.encoder):
            if i:
                x = F.max_pool2d(x, 2)
            x = stage(x)
            skips.append(x)
        for stage, skip in zip(self.decoder, reversed(skips[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = stage(torch.cat([x, skip], dim=1))
        weights = torch.softmax(self.head(x), dim=1)
        return unpad(weights, pad)

    def fuse(self, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Fused luminance B×1×H×W and the weights B×K×H×W for luminance ``y`` (B×K×H×W)."""
        weights = self(y)
        return (weights * y).sum(dim=1, keepdim=True), weights


def fuse_rgb(net: FusionNet, frames_rgb: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fuse B×K×3×H×W RGB frames in [0, 1]: returns (fused B×3×H×W clipped to [0, 1], weights).

    Luminance goes through the network, chroma through :func:`fuse_chroma`.
    """
    ycc = rgb_to_ycbcr(frames_rgb)
    y_fused, weights = net.fuse(ycc[:, :, 0])
    chroma = fuse_chroma(ycc[:, :, 1:], dim=1)
    fused = ycbcr_to_rgb(torch.cat([y_fused, chroma], dim=1))
    return fused.clamp(0.0, 1.0), weights


@torch.no_grad()
def fuse_pair(net: FusionNet, under_rgb: np.ndarray, over_rgb: np.ndarray) -> np.ndarray:
    """Fuse one under/over pair of H×W×3 RGB images in [0, 1] → H×W×3 float32 in [0, 1]."""
    under, over = np.asarray(under_rgb), np.asarray(over_rgb)
    if under.ndim != 3 or under.shape[2] != 3 or under.shape != over.shape:
        raise ValueError(f"expected two H×W×3 images of one size, got {under.shape} and {over.shape}")
    param = next(net.parameters())
    frames = torch.from_numpy(np.stack([under, over]).astype(np.float32))
    frames = frames.permute(0, 3, 1, 2)[None].to(device=param.device, dtype=param.dtype)
    was_training = net.training
    net.eval()
    try:
        fused, _ = fuse_rgb(net, frames)
    finally:
        net.train(was_training)
    return fused[0].permute(1, 2, 0).float().cpu().numpy().astype(np.float32)


def fusion_net_from_state_dict(state: Mapping[str, torch.Tensor]) -> FusionNet:
    """A FusionNet whose widths and depth are read off ``state`` (strictly loaded into it)."""
    try:
        stages = sorted({int(k.split(".")[1]) for k in state if k.startswith("encoder.")})
        widths = [int(state[f"encoder.{i}.0.weight"].shape[0]) for i in stages]
        convs = len([k for k in state if k.startswith("encoder.0.") and k.endswith(".weight")])
        in_frames = int(state["head.weight"].shape[0])
        net = FusionNet(widths, convs_per_stage=convs, in_frames=in_frames)
    except (KeyError, IndexError, ValueError) as exc:
        raise CheckpointError(f"not a FusionNet state_dict (missing or odd key: {exc})") from None
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"FusionNet state_dict does not load: {exc}") from None
    return net


def save_fusion_net(net: FusionNet, path: PathLike) -> None:
    """Write ``{'state_dict': ..., 'arch': 'FusionNet', widths, depth}`` atomically."""
    from .checkpoint import save_weights  # lazy: keeps safetensors off the network's import path

    meta = {"arch": "FusionNet", "widths": list(net.widths),
            "convs_per_stage": net.convs_per_stage, "in_frames": net.in_frames}
    save_weights(net, path, meta=meta)


def load_fusion_net(path: PathLike) -> FusionNet:
    """Rebuild a FusionNet from a weights file (any layout :func:`read_state_dict` reads)."""
    from .checkpoint import read_state_dict

    state, _ = read_state_dict(path)
    try:
        return fusion_net_from_state_dict(state)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
