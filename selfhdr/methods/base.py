"""The contract every training method follows: a batch in, a loss and logs out."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

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
    autocast_dtype: Optional[torch.dtype] = None
    """Set by the trainer from ``train.amp`` (bf16/fp16, or None for fp32): see :meth:`run_net`."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def run_net(self, *inputs: torch.Tensor, call: Optional[Callable[..., Any]] = None) -> Any:
        """The network's forward (``self.net``, or ``call`` such as ``self.net.fuse``), outputs in fp32.

        Mixed precision covers the network only: it runs under autocast when ``autocast_dtype``
        is set, and every tensor it returns is cast to fp32, so the losses always compute in
        fp32. In bf16 (8-bit mantissa) the local variances of SSIM, E[x²] − E[x]², cancel to
        noise and its ratio overflows; that diverged SelfHDR's stage 2 within 50 steps.
        """
        fn = call if call is not None else self.net
        dtype = self.autocast_dtype
        with torch.autocast(inputs[0].device.type, dtype=dtype, enabled=dtype is not None):
            out = fn(*inputs)
        if isinstance(out, tuple):
            return tuple(o.float() if torch.is_tensor(o) else o for o in out)
        return out.float()

    def training_step(self, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Return ``{'loss': scalar tensor, **scalar logs}`` for one training batch."""
        raise NotImplementedError

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Inference: run the trained network on its inputs."""
        return self.net(*inputs)
