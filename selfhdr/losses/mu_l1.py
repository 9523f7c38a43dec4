"""L1 distance of μ-law tonemapped images, optionally masked (SelfHDR's ``L1MuLoss``)."""

from __future__ import annotations

from typing import Union

import torch

from ..tonemap import MU, mu_law


def mu_l1(pred: torch.Tensor, label: torch.Tensor, mask: Union[torch.Tensor, float] = 1.0,
          mu: float = MU) -> torch.Tensor:
    """Mean |T(pred)·m − T(label)·m| over all elements (the mask broadcasts over channels).

    As in the published code the mean runs over every element, masked ones included, so a
    mask that keeps half the pixels halves the loss rather than renormalising it.
    """
    return torch.mean(torch.abs(mu_law(pred, mu) * mask - mu_law(label, mu) * mask))
