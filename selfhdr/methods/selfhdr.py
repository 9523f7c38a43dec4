"""SelfHDR (Zhang et al., ICLR 2024): the two training stages as methods.

Notation: T = μ-law, H2 = the linear reference frame, r = the reference LDR and
w = 2r (r < 0.5) or 2 − 2r (the reference's triangle weight).

* Stage 1 trains a structure-focused network on the unaligned inputs with
  ``L1(T(out)·M1, T(Y_color)·M1) + 4 · L1(T(out)·w, T(H2)·w)``, where M1 keeps pixels whose
  weighted colour component agrees with the weighted reference (mean over channels of
  |T(Y_color)·w − T(H2)·w| < 5/255).
* Stage 2 trains the reconstruction network with
  ``L1(T(out)·M2, T(Y_color)·M2) + 1 · structure(out, Y_stru)``, M2 = mean over channels of
  |T(Y_color) − T(Y_stru)| < 10/255, the structure loss being SelfHDR's VGG19 perceptual
  loss (or a weight-free SSIM loss), with Gaussian noise (σ = 0.5/255) added to the reference
  LDR and its linear channels recomputed.

Every constant is a config field defaulting to the published code's value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Literal, Optional

import torch
from torch import nn

from ..camera import GAMMA, ldr_to_hdr, reference_weight
from ..errors import ConfigError
from ..losses.mu_l1 import mu_l1
from ..losses.perceptual import CHANNEL_ORDERS, VGGPerceptualLoss
from ..losses.ssim import SSIMStructureLoss
from ..tonemap import mu_law
from .base import Method


@dataclass
class Stage1Config:
    """Stage-1 (structure-focused network) loss settings; defaults are the published ones."""

    mask_threshold: float = 5 / 255
    """M1 keeps pixels where mean_c |T(Y_color)·w − T(H2)·w| is below this."""
    expansion_weight: float = 1.0
    """Weight of the structure-expansion term L1(T(out)·M1, T(Y_color)·M1)."""
    preserve_weight: float = 4.0
    """Weight of the structure-preserving term L1(T(out)·w, T(H2)·w)."""
    epochs: Optional[int] = None
    """Stage 1's training length in epochs of train.iters_per_epoch steps; None (published):
    train.epochs, as stage 2. The other train.* settings are shared."""

    def validate(self) -> None:
        """Reject a non-positive stage-1 length."""
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be ≥ 1 (or null for train.epochs), got {self.epochs}")


@dataclass
class Stage2Config:
    """Stage-2 (reconstruction network) loss settings; defaults are the published ones."""

    mask_threshold: float = 10 / 255
    """M2 keeps pixels where mean_c |T(Y_color) − T(Y_stru)| is below this."""
    color_weight: float = 1.0
    linear_weight: float = 0.0
    """Weight of an extra linear-domain colour term L1(out·M2, Y_color·M2), not in the published
    loss (0). The μ-law L1's slope at a radiance of 1 is 1/100 of its slope at 0.01, so it barely
    corrects the brightest pixels, which dominate PSNR-l; this term weighs them as PSNR-l does."""
    structure_weight: float = 1.0
    structure_loss: Literal["vgg", "ssim"] = "vgg"
    """'vgg': SelfHDR's VGG19 perceptual loss (needs ImageNet weights); 'ssim': 1 − SSIM on T(·)."""
    vgg_weights: Optional[str] = None
    """Local VGG19 ImageNet weights file; default: torchvision's cache (or its download)."""
    vgg_layers: Dict[str, float] = field(
        default_factory=lambda: {"relu3_2": 1.0, "relu4_2": 1.0, "relu5_2": 2.0})
    vgg_divisor: float = 4.0
    vgg_channel_order: Literal["bgr", "rgb"] = "bgr"
    """Channel order of the images the VGG19 sees. 'bgr' (published): the published networks
    output B, G, R, so its loss feeds the ImageNet VGG19 B, G, R; our RGB output is flipped."""
    noise_sigma: float = 0.5 / 255
    """σ of the Gaussian noise added to the reference LDR during training (0 disables)."""
    warm_start: bool = False
    """Start stage 2 from stage 1's weights (same backbone) instead of a random initialisation.
    The published code starts from scratch (False); short budgets learn more with True, and
    the supervised comparison row then trains for stage 1's plus stage 2's steps."""
    lr: Optional[float] = None
    """Stage 2's peak learning rate; None (published): train.lr, as stage 1. A warm-started
    stage 2 continues a trained network, which a restart at stage 1's peak rate first undoes."""
    warmup_iters: Optional[int] = None
    """Stage 2's warm-up steps; None (published): train.warmup_iters, as stage 1."""

    def validate(self) -> None:
        """Reject negative weights and thresholds."""
        for name in ("mask_threshold", "color_weight", "linear_weight", "structure_weight", "noise_sigma",
                     "vgg_divisor"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be ≥ 0, got {getattr(self, name)}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be > 0 (or null for train.lr), got {self.lr}")
        if self.warmup_iters is not None and self.warmup_iters < 0:
            raise ValueError(f"warmup_iters must be ≥ 0 (or null for train.warmup_iters), got {self.warmup_iters}")
        if self.vgg_channel_order not in CHANNEL_ORDERS:
            raise ValueError(f"vgg_channel_order must be one of {CHANNEL_ORDERS}, "
                             f"got {self.vgg_channel_order!r}")


@dataclass
class SelfHDRConfig:
    """Both stages of SelfHDR."""

    stage1: Stage1Config = field(default_factory=Stage1Config)
    stage2: Stage2Config = field(default_factory=Stage2Config)


def stage1_masks(x2: torch.Tensor, color: torch.Tensor, threshold: float) -> Dict[str, torch.Tensor]:
    """The reference weight w (B×3×H×W) and the expansion mask M1 (B×1×H×W) of stage 1."""
    h2, r = x2[:, 0:3], x2[:, 3:6]
    w = reference_weight(r)
    diff = mu_law(color) * w - mu_law(h2) * w
    m1 = (diff.abs().mean(dim=1, keepdim=True) < threshold).to(color.dtype)
    return {"w": w, "m1": m1}


def stage2_mask(color: torch.Tensor, stru: torch.Tensor, threshold: float) -> torch.Tensor:
    """M2 (B×1×H×W): where the colour and structure components agree in the μ-law domain."""
    diff = mu_law(color) - mu_law(stru)
    return (diff.abs().mean(dim=1, keepdim=True) < threshold).to(color.dtype)


class SelfHDRStage1(Method):
    """Stage 1: the structure-focused network, supervised by Y_color and the reference."""

    def __init__(self, net: nn.Module, cfg: Optional[Stage1Config] = None) -> None:
        super().__init__(net)
        self.cfg = cfg or Stage1Config()

    def training_step(self, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Loss = expansion (masked Y_color) + preserve_weight · preserving (weighted H2)."""
        x1, x2, x3, color = batch["x1"], batch["x2"], batch["x3"], batch["color"]
        out = self.run_net(x1, x2, x3)
        with torch.no_grad():
            m = stage1_masks(x2, color, self.cfg.mask_threshold)
        expansion = mu_l1(out, color, m["m1"]) * self.cfg.expansion_weight
        preserving = mu_l1(out, x2[:, 0:3], m["w"]) * self.cfg.preserve_weight
        return {"loss": expansion + preserving, "expansion": expansion.detach(),
                "preserving": preserving.detach(), "mask_m1": m["m1"].mean(), "out": out.detach()}


def build_structure_loss(cfg: Stage2Config) -> nn.Module:
    """The stage-2 structure loss chosen by ``cfg.structure_loss``."""
    if cfg.structure_loss == "vgg":
        return VGGPerceptualLoss(cfg.vgg_layers, cfg.vgg_divisor, weights=cfg.vgg_weights,
                                 channel_order=cfg.vgg_channel_order)
    if cfg.structure_loss == "ssim":
        return SSIMStructureLoss()
    raise ConfigError(f"selfhdr.stage2.structure_loss: unknown {cfg.structure_loss!r} (vgg or ssim)")


def noisy_reference(x2: torch.Tensor, t2: torch.Tensor, sigma: float,
                    generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """x2 with Gaussian noise on its LDR channels (clamped) and the linear ones recomputed."""
    if sigma <= 0:
        return x2
    ldr = x2[:, 3:6]
    noise = torch.randn(ldr.shape, generator=generator, dtype=ldr.dtype, device="cpu").to(ldr.device)
    ldr = (ldr + sigma * noise).clamp(0.0, 1.0)
    lin = ldr_to_hdr(ldr, t2.view(-1, 1, 1, 1).to(ldr.dtype), GAMMA)
    return torch.cat([lin, ldr], dim=1)


class SelfHDRStage2(Method):
    """Stage 2: the reconstruction network, from Y_color (masked) and Y_stru (structure loss)."""

    def __init__(self, net: nn.Module, cfg: Optional[Stage2Config] = None,
                 structure_loss: Optional[nn.Module] = None) -> None:
        super().__init__(net)
        self.cfg = cfg or Stage2Config()
        self.structure = structure_loss if structure_loss is not None else build_structure_loss(self.cfg)

    def training_step(self, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Loss = color_weight · masked μ-L1 to Y_color + structure_weight · structure(out, Y_stru)
        (+ linear_weight · masked linear L1 to Y_color, when set; the published loss has none)."""
        x1, x2, x3 = batch["x1"], batch["x2"], batch["x3"]
        color, stru = batch["color"], batch["stru"]
        x2 = noisy_reference(x2, batch["t"][:, 1], self.cfg.noise_sigma)
        out = self.run_net(x1, x2, x3)
        m2 = stage2_mask(color, stru, self.cfg.mask_threshold)
        color_term = mu_l1(out, color, m2) * self.cfg.color_weight
        structure_term = self.structure(out, stru) * self.cfg.structure_weight
        loss = color_term + structure_term
        logs = {"color": color_term.detach(), "structure": structure_term.detach(), "mask_m2": m2.mean()}
        if self.cfg.linear_weight:
            linear_term = torch.mean(torch.abs(out * m2 - color * m2)) * self.cfg.linear_weight
            loss = loss + linear_term
            logs["linear"] = linear_term.detach()
        return {"loss": loss, **logs, "out": out.detach()}
