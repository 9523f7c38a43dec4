"""The four HDR metrics match the published SelfHDR evaluation, pinned by golden values.

Source of every expected number: a transcription, written out in this file and independent of
``selfhdr``, of the published ``test.py`` evaluation as /work/shared/REFERENCE.md records it
("Evaluation (test.py): full image in one pass; PSNR via scikit-image with data range 1;
μ = 5000; SSIM: OpenCV Gaussian 11/1.5, 5-pixel valid crop, on [0,255] after clipping").
"""

from __future__ import annotations

import math
from typing import Dict, Tuple

import cv2
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from selfhdr.metrics import hdr_metrics, psnr_l, psnr_mu, ssim_l, ssim_mu

# Computed once with _published_metrics(*_pair()) below; test_goldens_are_the_transcription
# re-derives them, so the numbers keep their source even if the transcription is edited.
GOLDEN = {
    "psnr_l": 33.39589686726788,
    "psnr_mu": 18.660964061030093,
    "ssim_l": 0.997113481905866,
    "ssim_mu": 0.9142456810912445,
}


def _pair(shape: Tuple[int, ...] = (32, 40, 3), seed: int = 2024) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = (rng.random(shape) ** 3).astype(np.float32)
    pred = np.clip(gt * 1.05 + rng.normal(0, 0.01, gt.shape), 0, None).astype(np.float32)
    return pred, gt


def _published_rc(x: np.ndarray) -> np.ndarray:
    """The published μ-law range compressor, μ = 5000."""
    return np.log(1 + 5000 * x) / np.log(1 + 5000)


def _published_ssim(img1: np.ndarray, img2: np.ndarray) -> float:
    """The published OpenCV SSIM on [0, 255] images (every channel, 5-pixel valid crop)."""
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


def _published_metrics(pred: np.ndarray, gt: np.ndarray) -> Dict[str, float]:
    """All four metrics as the published evaluation computes them (label first for PSNR)."""
    return {
        "psnr_l": float(peak_signal_noise_ratio(gt, pred, data_range=1)),
        "psnr_mu": float(peak_signal_noise_ratio(_published_rc(gt), _published_rc(pred), data_range=1)),
        "ssim_l": _published_ssim(np.clip(pred * 255.0, 0, 255), np.clip(gt * 255.0, 0, 255)),
        "ssim_mu": _published_ssim(np.clip(_published_rc(pred) * 255.0, 0, 255),
                                   np.clip(_published_rc(gt) * 255.0, 0, 255)),
    }


def test_golden_values() -> None:
    got = hdr_metrics(*_pair())
    assert got["psnr_l"] == pytest.approx(GOLDEN["psnr_l"], abs=1e-9)
    assert got["psnr_mu"] == pytest.approx(GOLDEN["psnr_mu"], abs=1e-9)
    assert got["ssim_l"] == pytest.approx(GOLDEN["ssim_l"], abs=1e-12)
    assert got["ssim_mu"] == pytest.approx(GOLDEN["ssim_mu"], abs=1e-12)


def test_goldens_are_the_transcription() -> None:
    ref = _published_metrics(*_pair())
    for key, value in GOLDEN.items():
        assert ref[key] == pytest.approx(value, abs=1e-12), key


def _border_pair() -> Tuple[np.ndarray, np.ndarray]:
    """Odd-sized images whose outer 8 pixels differ far more than the interior does."""
    pred, gt = _pair((37, 51, 3), seed=5)
    rng = np.random.default_rng(6)
    ring = np.ones(gt.shape[:2], bool)
    ring[8:-8, 8:-8] = False
    pred[ring] = rng.random((int(ring.sum()), 3)).astype(np.float32)
    return pred, gt


@pytest.mark.parametrize("case", ["pair", "odd_with_border", "grey", "float64", "out_of_range"])
def test_matches_published_formulas(case: str) -> None:
    """Equal to the transcription within 1e-14 (SSIM: float summation order only)."""
    if case == "pair":
        pred, gt = _pair()
    elif case == "odd_with_border":
        pred, gt = _border_pair()
    elif case == "grey":
        pred, gt = (a[..., 1] for a in _pair((29, 23, 3), seed=8))
    elif case == "float64":
        pred, gt = (a.astype(np.float64) for a in _pair(seed=9))
    else:  # values above 1 exercise the clip before ×255
        pred, gt = (a * 3.0 for a in _pair(seed=10))
    ref = _published_metrics(pred, gt)
    assert psnr_l(pred, gt) == ref["psnr_l"]
    assert psnr_mu(pred, gt) == ref["psnr_mu"]
    assert ssim_l(pred, gt) == pytest.approx(ref["ssim_l"], abs=1e-14)
    assert ssim_mu(pred, gt) == pytest.approx(ref["ssim_mu"], abs=1e-14)


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
