"""Differentiable SSIM in torch (Gaussian window), and an SSIM structure loss on T(·)."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from ..tonemap import mu_law


@functools.lru_cache(maxsize=8)
def _gauss_1d(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).float()


def gaussian_blur(x: torch.Tensor, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Separable Gaussian filter per channel, 'valid' (output shrinks by size − 1)."""
    c = x.shape[1]
    g = _gauss_1d(size, sigma).to(x)
    x = F.conv2d(x, g.view(1, 1, 1, size).expand(c, 1, 1, size), groups=c)
    return F.conv2d(x, g.view(1, 1, size, 1).expand(c, 1, size, 1), groups=c)


def ssim_map(x: torch.Tensor, y: torch.Tensor, size: int = 11, sigma: float = 1.5,
             data_range: float = 1.0, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Per-pixel SSIM of two B×C×H×W images (valid region: H − size + 1 × W − size + 1)."""
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mx, my = gaussian_blur(x, size, sigma), gaussian_blur(y, size, sigma)
    sxx = gaussian_blur(x * x, size, sigma) - mx * mx
    syy = gaussian_blur(y * y, size, sigma) - my * my
    sxy = gaussian_blur(x * y, size, sigma) - mx * my
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))


class SSIMStructureLoss(nn.Module):
    """1 − SSIM between μ-law tonemapped images: a structure loss needing no pretrained weights.

    Used instead of the VGG19 perceptual loss when ImageNet weights are unavailable (the demo).
    SSIM compares local means, contrasts and correlations, so like the perceptual loss it
    rewards matching edges and textures more than exact intensities.
    """

    def __init__(self, window: int = 11, sigma: float = 1.5) -> None:
        super().__init__()
        self.window = window
        self.sigma = sigma

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss of two B×3×H×W linear HDR images."""
        s = ssim_map(mu_law(pred), mu_law(target), self.window, self.sigma)
        return 1.0 - s.mean()
