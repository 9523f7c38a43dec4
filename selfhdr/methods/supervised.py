"""Supervised training: L1 on μ-law tonemapped output against the ground-truth HDR."""

from __future__ import annotations

from typing import Dict

import torch

from ..losses.mu_l1 import mu_l1
from .base import Method


class Supervised(Method):
    """The upper bound every self-supervised method is compared with: L1(T(out), T(gt))."""

    def training_step(self, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Loss = mean |T(out) − T(gt)|."""
        out = self.run_net(batch["x1"], batch["x2"], batch["x3"])
        loss = mu_l1(out, batch["gt"])
        return {"loss": loss, "out": out.detach()}
