"""MEF-SSIM (Ma, Zeng, Wang, IEEE TIP 2015): quality of a multi-exposure fusion.

A vectorised port of the authors' MATLAB ``mef_ms_ssim.m`` / ``mef_ssim.m`` (release 1.0).
For every 11×11 patch (valid positions only) the authors build a desired patch from the
K source patches ``x_k`` (box mean ``μ_k`` removed)::

    ed_k  = ‖x_k − μ_k‖ + 0.001                       (box window, via the variance filter)
    R     = ‖Σ_k (x_k − μ_k)‖ / Σ_k ‖x_k − μ_k‖        (structure consistency, eps-guarded)
    p     = min(tan(π R / 2), 10)
    w_k   = (ed_k / 11)^p + eps, normalised over k
    r     = Σ_k w_k (x_k − μ_k) / ed_k,  rescaled to norm max_k ed_k (if its norm is > 0)
    q     = (2 σ_rf + C) / (σ_r² + σ_f² + C),  C = (0.03·255)²

where σ are Gaussian-weighted (11×11, σ = 1.5) statistics of ``r`` and of the fused patch
``f`` (only the contrast-structure term of SSIM: no luminance term, a single constant C).
The per-scale score is the mean of the q map; three scales (2×2 mean filter, symmetric
border, MATLAB's ``'same'`` origin for an even kernel, then every second pixel from the
first) are combined as ``Π_l Q_l^{β_l}`` with β = [0.0448, 0.2856, 0.3001] / Σ.

Instead of the authors' per-pixel loops, every patch statistic is expanded into local
(co)variances of the source and fused images, which box and Gaussian filters give for the
whole image at once: ``‖r‖² = 121 Σ_kl a_k a_l cov_box(x_k, x_l)``,
``σ_r² = s² Σ_kl a_k a_l cov_g(x_k, x_l)`` and ``σ_rf = s Σ_k a_k cov_g(x_k, f)`` with
``a_k = w_k / ed_k`` and ``s`` the rescaling factor; the patch means drop out exactly.
"""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple, Union

import cv2
import numpy as np

ArrayLike = Union[np.ndarray, Sequence[np.ndarray]]

#: MATLAB ``rgb2gray`` coefficients (first row of the inverse NTSC YIQ matrix), R, G, B.
RGB2GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)
#: Scale weights of the published code, normalised to sum 1.
PAPER_SCALE_WEIGHTS = (0.0448, 0.2856, 0.3001)
"""β per scale, finest first, as the authors' ``mef_ms_ssim`` lists them (not normalised)."""
SCALE_WEIGHTS = tuple(w / sum(PAPER_SCALE_WEIGHTS) for w in PAPER_SCALE_WEIGHTS)
WINDOW = 11
SIGMA = 1.5
K_CONST = 0.03
_EPS = float(np.finfo(np.float64).eps)  # MATLAB's eps


def to_gray_255(image: np.ndarray, name: str = "image") -> np.ndarray:
    """One image as MATLAB's ``double(rgb2gray(·))`` would give it, float64 in [0, 255].

    uint8 input (grey H×W, H×W×1 or RGB H×W×3): RGB is converted with MATLAB's
    coefficients and *rounded* to the nearest integer, as ``rgb2gray`` does on uint8 (the
    authors' demo converts 8-bit files this way). Float input must lie in [0, 1]; it is
    scaled by 255 and not rounded, as ``rgb2gray`` keeps doubles un-quantised.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(f"{name}: expected H×W grey or H×W×3 RGB, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        data = arr.astype(np.float64)
        quantise = True
    elif np.issubdtype(arr.dtype, np.floating):
        data = arr.astype(np.float64)
        if not np.all(np.isfinite(data)):
            raise ValueError(f"{name}: contains NaN or infinity")
        if data.min() < -1e-6 or data.max() > 1 + 1e-6:
            raise ValueError(
                f"{name}: float images must be in [0, 1] (got {data.min():g}..{data.max():g});"
                " pass uint8 for 0–255 data"
            )
        data = np.clip(data, 0.0, 1.0) * 255.0
        quantise = False
    else:
        raise ValueError(f"{name}: dtype must be uint8 or floating, got {arr.dtype}")
    if data.ndim == 3:
        r, g, b = RGB2GRAY
        data = r * data[..., 0] + g * data[..., 1] + b * data[..., 2]
        if quantise:
            data = np.floor(data + 0.5)  # MATLAB rounds halves away from zero
    return data


def _stack_sources(sources: ArrayLike) -> np.ndarray:
    """Sources as a K×H×W float64 stack in [0, 255]."""
    if isinstance(sources, np.ndarray):
        if sources.ndim not in (3, 4):
            raise ValueError(
                f"sources: expected a K×H×W or K×H×W×3 array or a list of images, "
                f"got shape {sources.shape}"
            )
        items = list(sources)
    else:
        items = list(sources)
    if len(items) < 2:
        raise ValueError(f"sources: need at least 2 exposures, got {len(items)}")
    grey = [to_gray_255(img, f"sources[{i}]") for i, img in enumerate(items)]
    shapes = {g.shape for g in grey}
    if len(shapes) != 1:
        raise ValueError(f"sources: all exposures must share H×W, got {sorted(shapes)}")
    return np.stack(grey)


def _valid(a: np.ndarray, bd: int) -> np.ndarray:
    return a[bd:a.shape[0] - bd, bd:a.shape[1] - bd]


def _box_sum(a: np.ndarray, size: int) -> np.ndarray:
    """Sum over each size×size window, 'valid' positions (exact for integer data)."""
    out = cv2.boxFilter(a, cv2.CV_64F, (size, size), normalize=False,
                        borderType=cv2.BORDER_REFLECT)
    return _valid(out, size // 2)


def _gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """1-D factor of ``fspecial('gaussian', size, sigma)`` (the 2-D kernel is its outer product)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _gauss_mean(a: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    out = cv2.sepFilter2D(a, cv2.CV_64F, kernel, kernel, borderType=cv2.BORDER_REFLECT)
    return _valid(out, kernel.size // 2)


def mef_ssim_single_scale(seq: np.ndarray, fused: np.ndarray,
                          window: int = WINDOW, sigma: float = SIGMA,
                          k: float = K_CONST) -> Tuple[float, np.ndarray]:
    """MEF-SSIM at one scale of K×H×W sources and an H×W fused image, both in [0, 255].

    Returns the mean quality and the (H−window+1)×(W−window+1) quality map, as
    ``mef_ssim.m`` does.
    """
    nk = seq.shape[0]
    n = window * window
    # Covariances are shift-invariant; centring keeps the products small (and integer data
    # stays integer, so flat patches give exactly zero variance as in the loops).
    x = seq - 128.0
    f = fused - 128.0
    pairs = [(i, j) for i in range(nk) for j in range(i, nk)]

    # Box statistics: n²·cov = n·Σxy − Σx·Σy, exact for integer and dyadic data.
    bsum = [_box_sum(x[i], window) for i in range(nk)]
    bcov = {}
    for i, j in pairs:
        bcov[i, j] = (n * _box_sum(x[i] * x[j], window) - bsum[i] * bsum[j]) / (n * n)
        bcov[j, i] = bcov[i, j]
    # ‖x_k − μ_k‖ = sqrt(n σ²); ed adds the authors' 0.001
    norms = np.stack([np.sqrt(np.maximum(n * bcov[i, i], 0.0)) for i in range(nk)])
    ed = norms + 0.001
    var_sum = sum(bcov[i, j] for i in range(nk) for j in range(nk))
    numerator = np.sqrt(np.maximum(n * var_sum, 0.0))
    denominator = norms.sum(axis=0)
    r = (numerator + _EPS) / (denominator + _EPS)
    r[r > 1] = 1 - _EPS
    r[r < 0] = _EPS
    p = np.minimum(np.tan(math.pi / 2 * r), 10.0)
    w = (ed / window) ** p[None] + _EPS
    w = w / w.sum(axis=0, keepdims=True)
    max_ed = ed.max(axis=0)
    a = w / ed

    # Norm of the un-rescaled desired patch and the rescaling factor s.
    norm_sq = n * sum(a[i] * a[j] * bcov[i, j] for i in range(nk) for j in range(nk))
    norm_r = np.sqrt(np.maximum(norm_sq, 0.0))
    positive = norm_r > 0
    s = np.where(positive, max_ed / np.where(positive, norm_r, 1.0), 1.0)

    kernel = _gaussian_kernel(window, sigma)
    gmean = [_gauss_mean(x[i], kernel) for i in range(nk)]
    gf = _gauss_mean(f, kernel)
    var_r = sum(
        a[i] * a[j] * (_gauss_mean(x[i] * x[j], kernel) - gmean[i] * gmean[j])
        * (1.0 if i == j else 2.0)
        for i, j in pairs
    ) * s * s
    cov_rf = sum(a[i] * (_gauss_mean(x[i] * f, kernel) - gmean[i] * gf) for i in range(nk)) * s
    var_f = np.maximum(_gauss_mean(f * f, kernel) - gf * gf, 0.0)
    # Exact bounds of the patch statistics; they only clip rounding noise in flat patches,
    # where a tiny ‖r‖ is rescaled by a huge s: Σ g v² ≤ max(g)·‖v‖² and Cauchy–Schwarz.
    g_max = kernel.max() ** 2
    var_r = np.clip(var_r, 0.0, g_max * np.where(positive, max_ed, norm_r) ** 2)
    bound = np.sqrt(var_r * var_f)
    cov_rf = np.clip(cov_rf, -bound, bound)

    c = (k * 255.0) ** 2
    qmap = (2.0 * cov_rf + c) / (var_r + var_f + c)
    return float(qmap.mean()), qmap


def _downsample(img: np.ndarray) -> np.ndarray:
    """``imfilter(img, ones(2)/4, 'symmetric', 'same')`` then ``(1:2:end, 1:2:end)``.

    MATLAB anchors an even 2×2 kernel at its top-left element, so output (i, j) is the mean
    of rows i..i+1 and columns j..j+1, the last row/column mirrored past the border: the
    result is the mean of each 2×2 block, an odd last row/column averaged with itself.
    """
    h, w = img.shape[-2:]
    pad = [(0, 0)] * (img.ndim - 2) + [(0, h % 2), (0, w % 2)]
    a = np.pad(img, pad, mode="symmetric")
    return (a[..., 0::2, 0::2] + a[..., 0::2, 1::2] + a[..., 1::2, 0::2] + a[..., 1::2, 1::2]) / 4.0


def mef_ssim_scales(sources: ArrayLike, fused: np.ndarray) -> List[float]:
    """Per-scale MEF-SSIM scores (finest first) of ``fused`` against ``sources``."""
    seq = _stack_sources(sources)
    f = to_gray_255(fused, "fused")
    if f.shape != seq.shape[1:]:
        raise ValueError(f"fused: H×W {f.shape} differs from the sources' {seq.shape[1:]}")
    levels = len(SCALE_WEIGHTS)
    min_side = min(f.shape) / 2 ** (levels - 1)
    if min_side < WINDOW:
        raise ValueError(
            f"images of {f.shape[0]}×{f.shape[1]} are too small: MEF-SSIM needs both sides "
            f">= {WINDOW * 2 ** (levels - 1)} for {levels} scales of an {WINDOW}×{WINDOW} window"
        )
    scores = []
    for level in range(levels):
        if level:
            seq, f = _downsample(seq), _downsample(f)
        scores.append(mef_ssim_single_scale(seq, f)[0])
    return scores


def mef_ssim(sources: ArrayLike, fused: np.ndarray) -> float:
    """MEF-SSIM of ``fused`` against K >= 2 ``sources``, as the authors' ``mef_ms_ssim.m``.

    ``sources``: a sequence of images or a K×H×W(×3) array; ``fused``: H×W or H×W×3. Images
    are uint8 (0–255, RGB rounded to grey like MATLAB's ``rgb2gray``) or float in [0, 1]
    (scaled by 255, not rounded); see :func:`to_gray_255`. Returns
    ``Π_l Q_l^{β_l}`` over three scales; 1.0 means the fusion keeps every source's best
    local structure and contrast; a fusion anti-correlated with the sources can score below
    0 (the real part of MATLAB's complex result). Raises ``ValueError`` on bad shapes,
    dtypes or ranges and on images smaller than 44 pixels a side (MATLAB returns -Inf).
    """
    scores = mef_ssim_scales(sources, fused)
    # A negative scale score (fused structure anti-correlated with the sources) makes
    # MATLAB's Q.^weight complex; its real part is what the published code prints.
    total = np.prod([complex(q) ** b for q, b in zip(scores, SCALE_WEIGHTS)])
    return float(total.real)
