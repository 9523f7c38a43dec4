"""VGG19 perceptual loss on μ-law tonemapped images (SelfHDR's ``VGGLoss``)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Literal, Optional, Sequence

import torch
from torch import nn

from ..errors import ConfigError
from ..tonemap import mu_law

VGG19_FILE = "vgg19-dcbb9e9d.pth"
"""torchvision's file name for the ImageNet VGG19 weights (``VGG19_Weights.IMAGENET1K_V1``)."""

# Index of each ReLU in torchvision's ``vgg19().features``.
_RELU = {"relu1_1": 1, "relu1_2": 3, "relu2_1": 6, "relu2_2": 8, "relu3_1": 11, "relu3_2": 13,
         "relu3_3": 15, "relu3_4": 17, "relu4_1": 20, "relu4_2": 22, "relu4_3": 24, "relu4_4": 26,
         "relu5_1": 29, "relu5_2": 31, "relu5_3": 33, "relu5_4": 35}
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
CHANNEL_ORDERS = ("bgr", "rgb")
"""Channel order the VGG19 sees: the published networks output B, G, R, so its loss does."""


def torch_hub_checkpoint_dir() -> Path:
    """torchvision's standard weight cache (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def vgg19_features_untrained() -> nn.Sequential:
    """torchvision's VGG19 ``features`` layout with random weights (no classifier is built)."""
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers(cfgs["E"], batch_norm=False)


def load_vgg19_features(weights: Optional[str] = None, download: bool = True) -> nn.Sequential:
    """ImageNet VGG19 ``features``: from ``weights``, else torchvision's cache, else download.

    Offline with neither, raises :class:`ConfigError` saying exactly where to put the file.
    Nothing is downloaded before this is called (never at import time).
    """
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ConfigError(f"VGG19 weights file {path} not found (config key vgg_weights)")
        state = torch.load(path, map_location="cpu", weights_only=True)
    else:
        cached = torch_hub_checkpoint_dir() / VGG19_FILE
        if not cached.is_file() and not download:
            raise ConfigError(_missing_vgg_message(cached))
        try:
            from torchvision.models import VGG19_Weights

            state = VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
        except Exception as exc:  # network errors come in many types (URLError, OSError, ...)
            raise ConfigError(_missing_vgg_message(cached) + f" (download failed: {exc})") from None
    features = vgg19_features_untrained()
    prefix = "features."
    feats = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        features.load_state_dict(feats)
    except RuntimeError as exc:
        raise ConfigError(f"VGG19 weights do not fit torchvision's vgg19 features: {exc}") from None
    return features


def _missing_vgg_message(cached: Path) -> str:
    return (
        "the VGG19 perceptual loss needs torchvision's ImageNet VGG19 weights and they are not "
        f"available offline: download https://download.pytorch.org/models/{VGG19_FILE} and put it "
        f"at {cached} (torchvision's cache; TORCH_HOME moves it), or set the config key "
        "selfhdr.stage2.vgg_weights to the file's path, or use the weight-free "
        "'ssim' structure loss (selfhdr.stage2.structure_loss=ssim)"
    )


class VGGPerceptualLoss(nn.Module):
    """Σ_l w_l · L1(φ_l(N(T(x))), φ_l(N(T(y)))) / Σ… as SelfHDR: relu3_2, relu4_2, relu5_2 ×2, /4.

    T is the μ-law tonemap and N the ImageNet mean/std normalisation. The published code
    divides the weighted sum by 4 (= 1 + 1 + 2); ``divisor`` keeps that explicit.
    Inputs are R, G, B. The published networks work in B, G, R (OpenCV-read frames), so its
    VGG19 sees B, G, R images: ``channel_order='bgr'`` (the default) flips our RGB images
    before the tonemap and normalisation to reproduce that; ``'rgb'`` feeds them as they are.
    """

    def __init__(self, layers: Optional[Dict[str, float]] = None, divisor: float = 4.0,
                 weights: Optional[str] = None, features: Optional[nn.Sequential] = None,
                 channel_order: Literal["bgr", "rgb"] = "bgr") -> None:
        super().__init__()
        self.layers = dict(layers or {"relu3_2": 1.0, "relu4_2": 1.0, "relu5_2": 2.0})
        unknown = set(self.layers) - set(_RELU)
        if unknown:
            raise ConfigError(f"unknown VGG19 layer(s) {sorted(unknown)}; choose from {sorted(_RELU)}")
        if channel_order not in CHANNEL_ORDERS:
            raise ConfigError(f"VGG channel order {channel_order!r}: choose one of "
                              f"{', '.join(CHANNEL_ORDERS)}")
        self.channel_order = channel_order
        self.divisor = divisor
        depth = max(_RELU[n] for n in self.layers) + 1
        feats = features if features is not None else load_vgg19_features(weights)
        self.features = nn.Sequential(*list(feats.children())[:depth]).eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self._taps = {_RELU[n]: n for n in self.layers}

    def train(self, mode: bool = True) -> "VGGPerceptualLoss":
        super().train(mode)
        self.features.eval()  # frozen: no behaviour depends on mode, but keep it explicit
        return self

    def _feats(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        out = {}
        if self.channel_order == "bgr":
            x = x.flip(1)
        h = (mu_law(x) - self.mean) / self.std
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self._taps:
                out[self._taps[i]] = h
        return out

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss of two B×3×H×W linear HDR images (RGB)."""
        fp, ft = self._feats(pred), self._feats(target)
        total = sum(w * torch.mean(torch.abs(fp[n] - ft[n])) for n, w in self.layers.items())
        return total / self.divisor


__all__: Sequence[str] = [
    "CHANNEL_ORDERS", "VGG19_FILE", "VGGPerceptualLoss", "load_vgg19_features",
    "torch_hub_checkpoint_dir", "vgg19_features_untrained",
]
