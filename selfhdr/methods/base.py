"""The contract every training method follows: a batch in, a loss and logs out."""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn


class Method(nn.Module):
    """A training method: owns the network it trains and any frozen loss modules.

    The generic trainer (:mod:`selfhdr.engine`) optimises ``self.net.parameters()`` and calls
    :meth:`training_step` on each batch; everything else (which labels, which masks, which
    loss) is the method's business. Keeping the network at ``self.net`` lets the trainer
    save it as a plain published-format state_dict and wrap it for DDP.
    """

    net: nn.Module

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def training_step(self, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Return ``{'loss': scalar tensor, **scalar logs}`` for one training batch."""
        raise NotImplementedError

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Inference: run the trained network on its inputs."""
        return self.net(*inputs)
