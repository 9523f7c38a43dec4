"""Unsupervised two-exposure fusion: FusionNet trained with the weighted-SSIM loss."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

import torch

from ..archs.fusion_net import FusionNet, fuse_rgb, rgb_to_ycbcr
from ..losses.weighted_ssim import WeightedSSIMLoss
from ..metrics.mef_ssim import PAPER_SCALE_WEIGHTS
from .base import Method



@dataclass
class FusionConfig:
    """The unsupervised two-exposure fusion method (``method: fusion``)."""

    gamma: str = "hybrid"
    """Per-pixel weighting of the SSIM terms: variance, gradient, well_exposedness or hybrid."""
    net: Dict[str, Any] = field(default_factory=dict)
    """FusionNet constructor arguments (e.g. widths: [16, 32, 64, 128], convs_per_stage)."""
    loss: Dict[str, Any] = field(default_factory=lambda: {"scale_weights": list(PAPER_SCALE_WEIGHTS)})
    """WeightedSSIMLoss arguments. The default scores three scales with MEF-SSIM's weights:
    single-scale training stayed below Mertens fusion on our pairs, three scales beat it."""
    train_pairs: Optional[str] = None
    """Folder of training pairs; None: the shortest and longest frames of data.train_split."""
    val_pairs: Optional[str] = None
    """Folder of evaluation pairs; None: the shortest and longest frames of data.test_split."""


class FusionMethod(Method):
    """Batches ``{'under': B×3×H×W, 'over': B×3×H×W}`` (RGB in [0, 1]) → weighted-SSIM loss.

    The network sees the two BT.601 luminances and predicts weight maps; the loss compares
    the fused luminance with both inputs (:class:`WeightedSSIMLoss` with ``gamma`` and
    ``loss_kwargs``). No label is used. ``net`` defaults to ``FusionNet(**net_kwargs)``.
    """

    def __init__(self, net: Optional[FusionNet] = None, gamma: str = "hybrid",
                 loss_kwargs: Optional[Mapping[str, Any]] = None,
                 net_kwargs: Optional[Mapping[str, Any]] = None) -> None:
        if net is not None and net_kwargs:
            raise ValueError("give either a net or net_kwargs, not both")
        super().__init__(net if net is not None else FusionNet(**dict(net_kwargs or {})))
        self.loss = WeightedSSIMLoss(gamma=gamma, **dict(loss_kwargs or {}))

    def training_step(self, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Weighted-SSIM loss of the fused luminance, plus per-input SSIM and mean weight logs."""
        try:
            under, over = batch["under"], batch["over"]
        except KeyError as exc:
            raise KeyError(f"fusion batches need 'under' and 'over', missing {exc}") from None
        if under.shape != over.shape or under.ndim != 4 or under.shape[1] != 3:
            raise ValueError(f"'under' and 'over' must both be B×3×H×W, got "
                             f"{tuple(under.shape)} and {tuple(over.shape)}")
        y = torch.cat([rgb_to_ycbcr(under)[:, :1], rgb_to_ycbcr(over)[:, :1]], dim=1)
        fused, weights = self.run_net(y, call=self.net.fuse)
        loss, ssim, _ = self.loss.loss_terms(fused, y)
        return {
            "loss": loss,
            "ssim_under": ssim[0],
            "ssim_over": ssim[1],
            "weight_under": weights[:, 0].detach().mean(),
        }

    def forward(self, under: torch.Tensor, over: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Inference: fused RGB B×3×H×W in [0, 1] for B×3×H×W under/over RGB frames."""
        fused, _ = fuse_rgb(self.net, torch.stack([under, over], dim=1))
        return fused
