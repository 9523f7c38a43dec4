"""Weighted-SSIM fusion loss (after Nagaswetha 2025): SSIM to each input, weighted per pixel.

``loss = 1 − Σ_k mean(γ_k · SSIM(fused, Y_k))`` where ``SSIM(·, Y_k)`` is the SSIM map
(Gaussian window) of the fused luminance against input k, and ``γ_k`` (summing to 1 over
k at every pixel) says how much input k should be trusted there: the better exposed or
more detailed it is locally, the larger. The paper does not publish its formulas; the
ones used are documented on :class:`WeightedSSIMLoss`.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

GAMMAS = ("variance", "gradient", "well_exposedness", "hybrid")


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(x * x) / (2.0 * sigma * sigma))
    return (g / g.sum()).float()


def _separable(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Filter every channel of B×C×H×W ``x`` with ``kernel`` ⊗ ``kernel``, reflection borders."""
    c, r = x.shape[1], kernel.numel() // 2
    k = kernel.to(dtype=x.dtype, device=x.device)
    x = F.pad(x, (r, r, r, r), mode="reflect" if min(x.shape[-2:]) > r else "replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _box(x: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over each size×size window, reflection borders, same size as ``x``."""
    r = size // 2
    x = F.pad(x, (r, r, r, r), mode="reflect" if min(x.shape[-2:]) > r else "replicate")
    return F.avg_pool2d(x, size, stride=1)


def _normalise(score: torch.Tensor, eps: float) -> torch.Tensor:
    """``(s_k + eps) / Σ_j (s_j + eps)`` over dim 1: uniform where every score is 0."""
    score = score + eps
    return score / score.sum(dim=1, keepdim=True)


class WeightedSSIMLoss(nn.Module):
    """``1 − Σ_k mean(γ_k · SSIM_k)`` on luminance; ``forward(fused B×1×H×W, inputs B×K×H×W)``.

    SSIM_k is an SSIM map of the fused luminance against input luminance k, with an
    ``ssim_window``×``ssim_window`` Gaussian window of std ``ssim_sigma``, ``c1``, ``c2`` for
    data in [0, 1], and reflection-padded borders so every pixel counts. By default it is
    SSIM's contrast × structure factor ``(2σ_fx + c2) / (σ_f² + σ_x² + c2)``, as in MEF-SSIM
    and DeepFuse's loss: a fused image cannot match both inputs' brightness, and with the
    luminance factor too (``luminance=True``, the full SSIM of Wang et al. 2004) training
    collapsed onto copying the over-exposed frame (weights → 0/1 within 50 steps).
    ``γ`` depends on the inputs only (no gradient flows into it) and is one of:

    * ``variance``: ``v_k = box(Y_k²) − box(Y_k)²``, the local variance of input k in a
      ``var_window``×``var_window`` box; detail survives where an input is not clipped.
    * ``gradient``: ``g_k = box(|∇Y_k|)``, the local mean (``grad_window`` box) of the Sobel
      gradient magnitude ``sqrt(Sx² + Sy²)``.
    * ``well_exposedness``: ``e_k = exp(−(Y_k − 0.5)² / (2 σ²))``, σ = ``exposure_sigma``
      (Mertens et al. 2007), per pixel.
    * ``hybrid`` (default, the paper's best): ``α v̂_k + (1 − α) ĝ_k`` with ``α`` =
      ``hybrid_mix`` and each of v, g first normalised over k as below.

    Every score s becomes ``γ_k = (s_k + eps) / Σ_j (s_j + eps)``, so the weights sum to 1
    and fall back to uniform where all inputs are flat; ``eps`` is ``eps``.

    ``scale_weights`` (normalised to sum 1) adds coarser scales: scale l > 0 repeats the
    term on 2×2-mean-pooled images (γ recomputed there), ``loss = 1 − Σ_l w_l Σ_k mean(γ_k
    SSIM_k)``. The default ``(1.0,)`` is the single-scale loss; MEF-SSIM itself weighs
    three scales by (0.0448, 0.2856, 0.3001).
    """

    def __init__(self, gamma: str = "hybrid", ssim_window: int = 11, ssim_sigma: float = 1.5,
                 c1: float = 0.01 ** 2, c2: float = 0.03 ** 2, var_window: int = 11,
                 grad_window: int = 11, exposure_sigma: float = 0.2, hybrid_mix: float = 0.5,
                 eps: float = 1e-6, luminance: bool = False,
                 scale_weights: Sequence[float] = (1.0,)) -> None:
        super().__init__()
        if gamma not in GAMMAS:
            raise ValueError(f"unknown gamma {gamma!r}; choose one of {', '.join(GAMMAS)}")
        for name, size in (("ssim_window", ssim_window), ("var_window", var_window),
                           ("grad_window", grad_window)):
            if size < 1 or size % 2 == 0:
                raise ValueError(f"{name} must be a positive odd integer, got {size}")
        if not 0.0 <= hybrid_mix <= 1.0:
            raise ValueError(f"hybrid_mix must be in [0, 1], got {hybrid_mix}")
        if ssim_sigma <= 0 or exposure_sigma <= 0 or eps <= 0:
            raise ValueError("ssim_sigma, exposure_sigma and eps must be positive")
        weights = [float(w) for w in scale_weights]
        if not weights or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"scale_weights must be non-negative with a positive sum, got {scale_weights}")
        self.scale_weights = [w / sum(weights) for w in weights]
        self.gamma_name = gamma
        self.c1, self.c2 = float(c1), float(c2)
        self.var_window, self.grad_window = int(var_window), int(grad_window)
        self.exposure_sigma = float(exposure_sigma)
        self.hybrid_mix = float(hybrid_mix)
        self.eps = float(eps)
        self.luminance = bool(luminance)
        self.register_buffer("window", _gaussian_window(ssim_window, ssim_sigma), persistent=False)
        sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        self.register_buffer("sobel", torch.stack([sobel, sobel.t()])[:, None], persistent=False)

    def ssim_maps(self, fused: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """SSIM maps B×K×H×W of ``fused`` (B×1×H×W) against each input channel."""
        f = fused.expand_as(inputs)
        k = inputs.shape[1]
        # one grouped convolution for all five moments (much faster than five on CPU)
        moments = _separable(torch.cat([f, inputs, f * f, inputs * inputs, f * inputs], 1), self.window)
        mu_f, mu_x, ff, xx, fx = moments.split(k, dim=1)
        var_f = ff - mu_f * mu_f
        var_x = xx - mu_x * mu_x
        cov = fx - mu_f * mu_x
        cs = (2 * cov + self.c2) / (var_f + var_x + self.c2)
        if not self.luminance:
            return cs
        return (2 * mu_f * mu_x + self.c1) / (mu_f * mu_f + mu_x * mu_x + self.c1) * cs

    def _variance(self, y: torch.Tensor) -> torch.Tensor:
        mean = _box(y, self.var_window)
        return (_box(y * y, self.var_window) - mean * mean).clamp_min(0.0)

    def _gradient(self, y: torch.Tensor) -> torch.Tensor:
        b, k, h, w = y.shape
        flat = F.pad(y.reshape(b * k, 1, h, w), (1, 1, 1, 1), mode="replicate")
        g = F.conv2d(flat, self.sobel.to(y.dtype))
        mag = torch.sqrt(g[:, 0] ** 2 + g[:, 1] ** 2).reshape(b, k, h, w)
        return _box(mag, self.grad_window)

    @torch.no_grad()
    def gamma(self, inputs: torch.Tensor) -> torch.Tensor:
        """Per-pixel input weights γ, B×K×H×W summing to 1 over K."""
        # float64: in float32, E[y²] − E[y]² leaves ~1e-6 of noise on flat patches, the
        # size of eps, which would tilt the weights of two flat inputs.
        y = inputs.double()
        if self.gamma_name == "variance":
            gamma = _normalise(self._variance(y), self.eps)
        elif self.gamma_name == "gradient":
            gamma = _normalise(self._gradient(y), self.eps)
        elif self.gamma_name == "well_exposedness":
            score = torch.exp(-((y - 0.5) ** 2) / (2 * self.exposure_sigma ** 2))
            gamma = _normalise(score, self.eps)
        else:
            v = _normalise(self._variance(y), self.eps)
            g = _normalise(self._gradient(y), self.eps)
            gamma = self.hybrid_mix * v + (1.0 - self.hybrid_mix) * g
        return gamma.to(inputs.dtype)

    def forward(self, fused: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """The scalar loss for fused luminance B×1×H×W and input luminances B×K×H×W."""
        loss, _, _ = self.loss_terms(fused, inputs)
        return loss

    def loss_terms(self, fused: torch.Tensor, inputs: torch.Tensor
                   ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, per-input mean SSIM B-averaged K-vector, γ) — the extra terms are for logging."""
        if fused.ndim != 4 or fused.shape[1] != 1 or inputs.ndim != 4 or inputs.shape[1] < 2:
            raise ValueError(f"expected fused B×1×H×W and inputs B×K×H×W (K >= 2), got "
                             f"{tuple(fused.shape)} and {tuple(inputs.shape)}")
        if fused.shape[0] != inputs.shape[0] or fused.shape[-2:] != inputs.shape[-2:]:
            raise ValueError(f"fused {tuple(fused.shape)} and inputs {tuple(inputs.shape)} differ in B, H or W")
        ssim = self.ssim_maps(fused, inputs)
        gamma = self.gamma(inputs)
        score = self.scale_weights[0] * (gamma * ssim).sum(dim=1).mean()
        f, x = fused, inputs
        for weight in self.scale_weights[1:]:
            f, x = F.avg_pool2d(f, 2, ceil_mode=True), F.avg_pool2d(x, 2, ceil_mode=True)
            score = score + weight * (self.gamma(x) * self.ssim_maps(f, x)).sum(dim=1).mean()
        return 1.0 - score, ssim.detach().mean(dim=(0, 2, 3)), gamma

