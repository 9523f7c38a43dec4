"""Self-supervision from motion and exposure cues (Nazarczuk et al. 2022, arXiv 2203.12311).

The labels come from the unlabelled training brackets alone (see :mod:`selfhdr.data.cues`):
static patches are labelled by a triangle-weighted fusion of the three exposures,
well-exposed moving ones by the linearised reference; a random gain and a camera model
re-render the inputs so that they clip where the label is known, and random homographies
move the non-reference frames. The network is trained with L1 on μ-law tonemapped output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional

import torch
from torch import nn

from ..data.cues import STATIC, IlluminationConfig, PatchConfig, WarpConfig
from ..losses.mu_l1 import mu_l1
from .base import Method


@dataclass
class CuesConfig:
    """Every threshold and distribution of the method, in three sections."""

    patches: PatchConfig = field(default_factory=PatchConfig)
    """The patch grid and the static / well-exposed / rejected rule."""
    illumination: IlluminationConfig = field(default_factory=IlluminationConfig)
    """The random gain and the camera model that re-renders the inputs."""
    warp: WarpConfig = field(default_factory=WarpConfig)
    """The Gaussian homographies applied to the non-reference frames."""


class CuesMethod(Method):
    """L1(T(out), T(label)) on re-rendered, warped brackets; logs the patch-class statistics.

    ``stats`` is the dataset's ``stats`` mapping (class counts, rejected fraction); it is read
    at every step, so it may be filled after the method is built.
    """

    def __init__(self, net: nn.Module, stats: Optional[Mapping[str, float]] = None) -> None:
        super().__init__(net)
        self.stats = stats if stats is not None else {}

    def training_step(self, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Loss = mean |T(out) − T(label)|; logs the batch's static share and the grid statistics."""
        out = self.run_net(batch["x1"], batch["x2"], batch["x3"])
        loss = mu_l1(out, batch["label"])
        logs: Dict[str, torch.Tensor] = {"loss": loss, "out": out.detach()}
        if torch.is_tensor(batch.get("cls")):
            logs["batch_static_share"] = (batch["cls"] == STATIC).float().mean()
        for name, value in self.stats.items():
            key = name if name == "rejected_fraction" else f"patches_{name}"
            logs[key] = torch.tensor(float(value))
        return logs


__all__ = ["CuesConfig", "CuesMethod"]
