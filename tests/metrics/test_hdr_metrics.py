"""The four HDR metrics match the published SelfHDR evaluation, pinned by golden values."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from selfhdr.metrics import hdr_metrics, psnr_l, psnr_mu, ssim_l, ssim_mu


def _pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2024)
    gt = (rng.random((32, 40, 3)) ** 3).astype(np.float32)
    pred = np.clip(gt * 1.05 + rng.normal(0, 0.01, gt.shape), 0, None).astype(np.float32)
    return pred, gt


def test_golden_values() -> None:
    pred, gt = _pair()
    got = hdr_metrics(pred, gt)
    assert got["psnr_l"] == pytest.approx(33.39589686726788, abs=1e-9)
    assert got["psnr_mu"] == pytest.approx(18.660964061030093, abs=1e-9)
    assert got["ssim_l"] == pytest.approx(0.997113481905866, abs=1e-12)
    assert got["ssim_mu"] == pytest.approx(0.9142456810912444, abs=1e-12)


def _published_ssim(img1: np.ndarray, img2: np.ndarray) -> float:
    """A literal transcription of the published ``util.ssim`` (whole 3-channel image)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    img1, img2 = img1.astype(np.float64), img2.astype(np.float64)
    k = cv2.getGaussianKernel(11, 1.5)
    win = np.outer(k, k.transpose())
    mu1 = cv2.filter2D(img1, -1, win)[5:-5, 5:-5]
    mu2 = cv2.filter2D(img2, -1, win)[5:-5, 5:-5]
    s1 = cv2.filter2D(img1**2, -1, win)[5:-5, 5:-5] - mu1**2
    s2 = cv2.filter2D(img2**2, -1, win)[5:-5, 5:-5] - mu2**2
    s12 = cv2.filter2D(img1 * img2, -1, win)[5:-5, 5:-5] - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))
    return float(m.mean())


def test_matches_published_formulas() -> None:
    pred, gt = _pair()

    def rc(x: np.ndarray) -> np.ndarray:
        return np.log(1 + 5000 * x) / np.log(1 + 5000)

    o, g = pred.transpose(2, 0, 1), gt.transpose(2, 0, 1)
    assert psnr_l(pred, gt) == peak_signal_noise_ratio(g, o, data_range=1.0)
    assert psnr_mu(pred, gt) == peak_signal_noise_ratio(rc(g), rc(o), data_range=1.0)
    assert ssim_l(pred, gt) == _published_ssim(np.clip(pred * 255.0, 0, 255), np.clip(gt * 255.0, 0, 255))
    assert ssim_mu(pred, gt) == _published_ssim(np.clip(rc(pred) * 255.0, 0, 255), np.clip(rc(gt) * 255.0, 0, 255))


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_known_values() -> None:
    gt = np.full((16, 16, 3), 0.5, np.float32)
    pred = gt + np.float32(0.1)
    assert psnr_l(pred, gt) == pytest.approx(20.0, abs=1e-5)  # MSE 0.01 → 20 dB
    assert ssim_l(gt, gt) == pytest.approx(1.0)
    assert ssim_mu(gt, gt) == pytest.approx(1.0)
    assert math.isinf(psnr_mu(gt, gt))


def test_ssim_clips_to_unit_range() -> None:
    pred, gt = _pair()
    assert ssim_l(pred * 0 + 3.0, gt) == ssim_l(pred * 0 + 1.0, gt)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        psnr_l(np.zeros((16, 16, 3)), np.zeros((16, 17, 3)))
