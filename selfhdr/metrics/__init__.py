"""Metrics: the published HDR metrics (PSNR/SSIM, linear and μ-law) and MEF-SSIM."""

from .hdr_metrics import hdr_metrics, psnr_l, psnr_mu, ssim_l, ssim_mu

__all__ = ["hdr_metrics", "psnr_l", "psnr_mu", "ssim_l", "ssim_mu"]
