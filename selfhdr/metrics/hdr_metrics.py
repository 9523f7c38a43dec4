"""PSNR-l, PSNR-μ, SSIM-l, SSIM-μ exactly as the published SelfHDR evaluation computes them.

Inputs are H×W×3 (or H×W) arrays of linear HDR values, prediction first. PSNR uses
scikit-image's ``peak_signal_noise_ratio`` with data range 1 on the values as given (no
clipping); the μ variants first apply :func:`selfhdr.tonemap.mu_law`. SSIM clips to [0, 1],
scales to [0, 255] and uses an 11×11 Gaussian window with σ = 1.5 (OpenCV's kernel),
K = (0.01, 0.03), a 5-pixel valid border, averaged over all channels: that is scikit-image's
``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=255)``, which equals the published OpenCV code to float rounding (about 1e-16;
``tests/metrics/test_hdr_metrics.py`` checks it against a transcription of the published code).
"""

from __future__ import annotations

from typing import Dict

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ..tonemap import mu_law


def _check(pred: np.ndarray, gt: np.ndarray) -> None:
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    if pred.ndim not in (2, 3) or min(pred.shape[:2]) < 11:
        raise ValueError(f"expected H×W(×C) images at least 11×11, got {pred.shape}")


def psnr_l(pred: np.ndarray, gt: np.ndarray) -> float:
    """PSNR on linear values, data range 1 (higher is better)."""
    _check(pred, gt)
    return float(peak_signal_noise_ratio(gt, pred, data_range=1.0))


def psnr_mu(pred: np.ndarray, gt: np.ndarray) -> float:
    """PSNR after μ-law tonemapping (μ = 5000), data range 1."""
    _check(pred, gt)
    return float(peak_signal_noise_ratio(mu_law(gt), mu_law(pred), data_range=1.0))


def _ssim_255(a: np.ndarray, b: np.ndarray) -> float:
    # scikit-image's Gaussian window has side 2·int(3.5σ + 0.5) + 1 = 11 for σ = 1.5 and is
    # cropped by (11 − 1) / 2 = 5 pixels per side: the published window and valid border.
    # Float64 as the published code casts: skimage would keep float32 inputs in float32.
    return float(structural_similarity(
        a.astype(np.float64), b.astype(np.float64), gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=255.0, channel_axis=-1 if a.ndim == 3 else None))


def ssim_l(pred: np.ndarray, gt: np.ndarray) -> float:
    """SSIM of the linear values clipped to [0, 1] and scaled to [0, 255]."""
    _check(pred, gt)
    return _ssim_255(np.clip(pred * 255.0, 0.0, 255.0), np.clip(gt * 255.0, 0.0, 255.0))


def ssim_mu(pred: np.ndarray, gt: np.ndarray) -> float:
    """SSIM of the μ-law tonemapped values clipped to [0, 1] and scaled to [0, 255]."""
    _check(pred, gt)
    return _ssim_255(np.clip(mu_law(pred) * 255.0, 0.0, 255.0), np.clip(mu_law(gt) * 255.0, 0.0, 255.0))


def hdr_metrics(pred: np.ndarray, gt: np.ndarray) -> Dict[str, float]:
    """All four metrics as ``{'psnr_l', 'psnr_mu', 'ssim_l', 'ssim_mu'}``."""
    return {
        "psnr_l": psnr_l(pred, gt),
        "psnr_mu": psnr_mu(pred, gt),
        "ssim_l": ssim_l(pred, gt),
        "ssim_mu": ssim_mu(pred, gt),
    }
