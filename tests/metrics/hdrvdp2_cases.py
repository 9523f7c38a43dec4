"""Deterministic HDR-VDP-2 test cases: synthetic HDR scenes and their distortions.

Shared by ``tests/metrics/test_hdr_vdp2.py`` and ``scripts/make_hdrvdp_vectors.py`` (which
runs the MATLAB toolbox in Octave on exactly these inputs). Every pixel comes from integer
hashing and closed-form functions, not from an RNG, so the inputs cannot drift with numpy
versions; the vectors file stores checksums of the inputs to prove it.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

# sRGB / BT.709 linear RGB -> CIE XYZ (D65)
RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                       [0.2126729, 0.7151522, 0.0721750],
                       [0.0193339, 0.1191920, 0.9503041]])


def hash_uniform(n: int, seed: int) -> np.ndarray:
    """n pseudo-random floats in [0, 1) from a multiplicative integer hash of (index, seed)."""
    i = np.arange(n, dtype=np.uint64) + np.uint64(seed) * np.uint64(1000003)
    m = np.uint64(2 ** 32)
    v = (i * np.uint64(2654435761)) % m
    v = ((v ^ (v >> np.uint64(13))) * np.uint64(1274126177)) % m
    v = ((v ^ (v >> np.uint64(16))) * np.uint64(2246822519)) % m
    return (v >> np.uint64(8)).astype(np.float64) / 2.0 ** 24


def hash_normal(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Standard normal samples (Box-Muller on two hashed uniform streams)."""
    n = int(np.prod(shape))
    u1 = hash_uniform(n, 2 * seed + 1) * (1 - 2 ** -24) + 2 ** -25
    u2 = hash_uniform(n, 2 * seed + 2)
    return (np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)).reshape(shape)


def _box3(a: np.ndarray) -> np.ndarray:
    p = np.pad(a, ((1, 1), (1, 1)) + ((0, 0),) * (a.ndim - 2), mode="edge")
    return sum(p[i:i + a.shape[0], j:j + a.shape[1]] for i in range(3) for j in range(3)) / 9.0


def scene(h: int, w: int, seed: int) -> np.ndarray:
    """An (h, w, 3) HDR radiance map in cd/m^2 (about 0.05 to 5000): smooth, textured, highlights."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    u = hash_uniform(64, seed)
    field = np.zeros((h, w))
    for k in range(6):  # smooth "illumination" in log10 units
        fx, fy = (u[4 * k] - 0.5) * 0.3, (u[4 * k + 1] - 0.5) * 0.3
        field += (0.6 / (k + 1) ** 0.5) * np.sin(fx * x + fy * y + 6.283 * u[4 * k + 2])
    edge = (x * (u[30] - 0.5) + y * (u[31] - 0.5) > 0.2 * w * (u[32] - 0.5))  # a shadow edge
    field += 0.8 * edge
    texture = _box3(hash_normal((h, w), seed + 7))
    log_l = 1.0 + field + 0.15 * texture
    for k in range(2):  # specular highlights
        cx, cy, r = u[40 + 3 * k] * w, u[41 + 3 * k] * h, 2.0 + 4.0 * u[42 + 3 * k]
        log_l = log_l + 2.0 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
    lum = 10.0 ** np.clip(log_l, -1.3, 3.7)
    chroma = np.stack([np.sin(0.05 * x + 6.283 * u[50 + c]) * np.cos(0.07 * y + 6.283 * u[53 + c])
                       for c in range(3)], axis=2)
    return lum[:, :, None] * (1.0 + 0.35 * chroma)


def _shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    p = np.pad(a, ((abs(dy), abs(dy)), (abs(dx), abs(dx))) + ((0, 0),) * (a.ndim - 2), mode="edge")
    return p[abs(dy) - dy:abs(dy) - dy + a.shape[0], abs(dx) - dx:abs(dx) - dx + a.shape[1]]


def _blur(a: np.ndarray) -> np.ndarray:
    k = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
    p = np.pad(a, ((2, 2), (2, 2)) + ((0, 0),) * (a.ndim - 2), mode="edge")
    rows = sum(k[i] * p[i:i + a.shape[0]] for i in range(5))
    return sum(k[j] * rows[:, j:j + a.shape[1]] for j in range(5))


def luminance(rgb: np.ndarray) -> np.ndarray:
    """BT.709 luminance of a linear RGB image."""
    return rgb @ RGB_TO_XYZ[1]


def display_encode(rgb: np.ndarray, peak: float) -> np.ndarray:
    """Scene radiance to display-encoded sRGB-ish values in [0, 1] (gamma 1/2.2, clipped)."""
    return np.clip(rgb / peak, 0.0, 1.0) ** (1 / 2.2)


Distortion = Callable[[np.ndarray, int], np.ndarray]
DISTORTIONS: dict[str, Distortion] = {
    "noise": lambda r, s: r * np.clip(1.0 + 0.03 * hash_normal(r.shape, s), 0.2, None),
    "faint_noise": lambda r, s: r * (1.0 + 0.002 * hash_normal(r.shape, s)),
    "faint_ghost": lambda r, s: 0.985 * r + 0.015 * _shift(r, 1, 3),
    "blur": lambda r, s: _blur(r),
    "ghost": lambda r, s: 0.65 * r + 0.35 * _shift(r, 2, 5),
    "quant": lambda r, s: 10.0 ** (np.round(np.log10(r) * 6.0) / 6.0),
    "exposure": lambda r, s: np.minimum(r * 1.4, 3000.0),
    "identical": lambda r, s: r.copy(),
}

# name -> (size, seed, distortion, encoding, pixels_per_degree, options)
CASES: dict[str, tuple[tuple[int, int], int, str, str, float, dict[str, Any]]] = {
    "rgb_noise_64x96": ((64, 96), 1, "noise", "rgb-bt.709", 30.0, {}),
    "rgb_blur_64x96": ((64, 96), 1, "blur", "rgb-bt.709", 30.0, {}),
    "rgb_ghost_96x80": ((96, 80), 2, "ghost", "rgb-bt.709", 30.0, {}),
    "rgb_quant_96x80": ((96, 80), 2, "quant", "rgb-bt.709", 30.0, {}),
    "rgb_exposure_64x96": ((64, 96), 3, "exposure", "rgb-bt.709", 30.0, {}),
    "rgb_identical_64x96": ((64, 96), 1, "identical", "rgb-bt.709", 30.0, {}),
    "lum_noise_96x80": ((96, 80), 4, "noise", "luminance", 30.0, {}),
    "lum_ghost_67x90": ((67, 90), 5, "ghost", "luminance", 45.0, {}),
    "srgb_blur_64x96": ((64, 96), 6, "blur", "sRGB-display", 30.0, {}),
    "srgb_quant_96x80": ((96, 80), 6, "quant", "sRGB-display", 30.0, {}),
    "xyz_noise_64x96": ((64, 96), 7, "noise", "XYZ", 30.0, {}),
    "luma_exposure_96x80": ((96, 80), 8, "exposure", "luma-display", 30.0, {}),
    "rgb_noise_options_64x96": ((64, 96), 9, "noise", "rgb-bt.709", 25.0,
                                {"rgb_display": "led-lcd", "peak_sensitivity": 2.6, "mask_p": 0.6,
                                 "mask_q": 0.45, "surround_l": 20.0, "psych_func_slope": 0.5}),
    "rgb_ghost_nomtf_96x80": ((96, 80), 10, "ghost", "rgb-bt.709", 30.0,
                              {"do_mtf": False, "do_spatial_pooling": False, "mask_self": 0.3,
                               "mask_xo": 0.5, "mask_xn": 1.4}),
    "lum_blur_nomask_64x96": ((64, 96), 11, "blur", "luminance", 30.0,
                              {"do_masking": False, "surround_l": -1, "rgb_display": "crt"}),
    "rgb_faint_noise_96x80": ((96, 80), 12, "faint_noise", "rgb-bt.709", 30.0, {}),
    "lum_faint_ghost_64x96": ((64, 96), 13, "faint_ghost", "luminance", 30.0, {}),
    "xyz_faint_ghost_96x80": ((96, 80), 14, "faint_ghost", "XYZ", 60.0, {"surround_l": [5.0, 8.0, 3.0]}),
}


def make_case(name: str) -> tuple[np.ndarray, np.ndarray, str, float, dict[str, Any]]:
    """(test, reference, color_encoding, pixels_per_degree, options) of one named case."""
    (h, w), seed, dist, enc, ppd, opts = CASES[name]
    ref = scene(h, w, seed)
    test = DISTORTIONS[dist](ref, seed + 100)
    if enc == "luminance":
        test, ref = luminance(test), luminance(ref)
    elif enc == "XYZ":
        test, ref = test @ RGB_TO_XYZ.T, ref @ RGB_TO_XYZ.T
    elif enc in ("sRGB-display", "luma-display"):
        peak = float(np.percentile(ref, 99.0))
        test, ref = display_encode(test, peak), display_encode(ref, peak)
        if dist == "quant":  # quantisation of the display values, 5 bits
            test = np.round(ref * 31.0) / 31.0
        if enc == "luma-display":
            test, ref = (np.clip(luminance(a ** 2.2), 0.0, 1.0) ** (1 / 2.2) for a in (test, ref))
    return test, ref, enc, ppd, dict(opts)


def checksum(a: np.ndarray) -> np.ndarray:
    """Three numbers that pin an array's values: sum, sum of squares, index-weighted sum."""
    f = np.asarray(a, dtype=np.float64).ravel()
    return np.array([f.sum(), (f * f).sum(), (f * np.arange(1, f.size + 1) / f.size).sum()])
