"""Metrics: the published HDR metrics (PSNR/SSIM, linear and μ-law), MEF-SSIM and HDR-VDP-2.

``selfhdr.metrics.mef_ssim`` is the function, as the README documents it. Importing it here
rebinds the package attribute from the submodule to the function; the submodule itself stays
in ``sys.modules``, so ``from selfhdr.metrics.mef_ssim import PAPER_SCALE_WEIGHTS`` still works
(``import selfhdr.metrics.mef_ssim as m`` would give the function: use the ``from`` form).
"""

from .hdr_metrics import hdr_metrics, psnr_l, psnr_mu, ssim_l, ssim_mu
from .hdrvdp import HDRVDP2Result, hdr_vdp2
from .mef_ssim import mef_ssim

__all__ = ["HDRVDP2Result", "hdr_metrics", "hdr_vdp2", "mef_ssim", "psnr_l", "psnr_mu", "ssim_l", "ssim_mu"]
