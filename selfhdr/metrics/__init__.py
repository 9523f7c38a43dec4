"""Metrics: the published HDR metrics (PSNR/SSIM, linear and μ-law) and MEF-SSIM.

``selfhdr.metrics.mef_ssim`` is the function, as the README documents it. Importing it here
rebinds the package attribute from the submodule to the function; the submodule itself stays
in ``sys.modules``, so ``from selfhdr.metrics.mef_ssim import PAPER_SCALE_WEIGHTS`` still works
(``import selfhdr.metrics.mef_ssim as m`` would give the function: use the ``from`` form).
"""

from .hdr_metrics import hdr_metrics, psnr_l, psnr_mu, ssim_l, ssim_mu
from .mef_ssim import mef_ssim

__all__ = ["hdr_metrics", "mef_ssim", "psnr_l", "psnr_mu", "ssim_l", "ssim_mu"]
