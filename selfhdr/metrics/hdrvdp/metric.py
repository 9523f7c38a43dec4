"""``hdrvdp.m`` (HDR-VDP 2.2.2): colour encodings, masking, psychometric function, pooling.

Deliberate differences from the MATLAB function, all on inputs it mishandles: NaN, infinite
or negative values raise ValueError (MATLAB warns and replaces NaN by 1e-5), unknown options
raise (MATLAB ignores them), ``do_si_gauss=True`` raises (MATLAB calls an undefined
``blur_gaussian``), and ``do_quality_raw_data`` is not offered (it calls undefined functions).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import pyramid, vision
from .options import masking_constants, parse_options
from .resize import imresize
from .visual_pathway import visual_pathway

if TYPE_CHECKING:
    import torch

COLOR_ENCODINGS = ("luminance", "luma-display", "srgb-display", "rgb-bt.709", "xyz", "generic")

# CIE XYZ -> linear RGB (BT.709 primaries), as in hdrvdp.m's xyz2rgb
XYZ_TO_RGB = np.array([[3.240708, -1.537259, -0.498570],
                       [-0.969257, 1.875995, 0.041555],
                       [0.055636, -0.203996, 1.057069]])


@dataclass(frozen=True)
class HDRVDP2Result:
    """HDR-VDP-2 outputs: Q (100 = identical), P_det, C_max and the per-pixel maps."""

    Q: float
    P_det: float
    C_max: float
    P_map: np.ndarray
    C_map: np.ndarray


def _as_image(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name} must be an (H, W) or (H, W, C) array, got shape {np.shape(x)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if np.any(a < 0):
        raise ValueError(f"{name} contains negative values")
    return a


def _display_srgb(v: np.ndarray) -> np.ndarray:
    # sRGB display: 100 cd/m^2 peak, 1 cd/m^2 black (not the 80 cd/m^2 of sRGB -> XYZ)
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return 99.0 * lin + 1.0


def _lowvals_warning(img: np.ndarray, par: dict[str, Any]) -> None:
    if not par["disable_lowvals_warning"] and img.max() <= 1:
        warnings.warn("The images contain very low physical values, below 1 cd/m^2: they are "
                      "probably not in the absolute units this colour encoding needs "
                      "(disable_lowvals_warning=True silences this).", stacklevel=3)


def _encode(test: np.ndarray, ref: np.ndarray, enc: str,
            par: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    ch = test.shape[2]
    if enc == "generic":  # any channel count, spectra given by the 'spectral_emission' option
        if par["spectral_emission"] is None:
            raise ValueError("the 'generic' color encoding needs the 'spectral_emission' option")
        return test, ref
    needed = 1 if enc in ("luminance", "luma-display") else 3
    if ch != needed:
        raise ValueError(f"color encoding '{enc}' needs {needed} channel(s), got {ch}")
    if enc == "luminance":
        _lowvals_warning(test, par)
    elif enc == "luma-display":
        test, ref = 99.0 * test ** 2.2 + 1.0, 99.0 * ref ** 2.2 + 1.0
    elif enc == "srgb-display":
        test, ref = _display_srgb(test), _display_srgb(ref)
    elif enc == "rgb-bt.709":
        _lowvals_warning(test[:, :, 1], par)
    else:  # xyz
        test, ref = test @ XYZ_TO_RGB.T, ref @ XYZ_TO_RGB.T
        _lowvals_warning(test[:, :, 1], par)
    return test, ref


def _emission(par: dict[str, Any], channels: int) -> np.ndarray:
    se = par["spectral_emission"]
    if se is not None:
        table = vision.spectral_table(se) if isinstance(se, (str, Path)) else np.asarray(se, np.float64)
        if table.ndim != 2 or table.shape[1] < 2:
            raise ValueError("option 'spectral_emission' needs a wavelength column, then one per channel")
        e = vision.resample_spectra(table)
    elif par["rgb_display"] is not None or channels == 3:
        display = par["rgb_display"] or "ccfl-lcd"
        _, e = vision.load_spectral_resp(vision.DATA / f"emission_spectra_{display}.csv")
    elif channels == 1:
        _, e = vision.load_spectral_resp(vision.DATA / "d65.csv")
    else:
        raise ValueError("option 'spectral_emission' is needed for images with neither 1 nor 3 channels")
    if channels == 1 and e.shape[1] > 1:
        e = e.sum(axis=1, keepdims=True)  # luminance-only data: all channels' spectra summed
    if e.shape[1] != channels:
        raise ValueError(f"the spectral emission has {e.shape[1]} channel(s), the images {channels}")
    return e


def _surround(par: dict[str, Any], ref: np.ndarray) -> np.ndarray:
    s = np.atleast_1d(np.asarray(par["surround_l"], dtype=np.float64))
    ch = ref.shape[2]
    if s.size == 1 and s[0] == -1:
        with np.errstate(divide="ignore"):  # geometric mean of each reference channel
            return np.exp(np.log(ref.reshape(-1, ch)).mean(axis=0))
    if s.size == 1:
        return np.repeat(s, ch)
    if s.size != ch:
        raise ValueError(f"option 'surround_l' needs 1 or {ch} values, got {s.size}")
    return s


def _sign_pow(x: np.ndarray, e: float) -> np.ndarray:
    return np.sign(x) * np.abs(x) ** e


def _mutual_masking(t: np.ndarray, r: np.ndarray) -> np.ndarray:
    # min(|T|, |R|) blurred by a 3x3 box: conv2(m, ones(3)/9, 'same'), zeros outside
    m = np.minimum(np.abs(t), np.abs(r))
    padded = np.pad(m, 1)
    out = np.zeros_like(m)
    for i in range(3):
        for j in range(3):
            out += padded[i:i + m.shape[0], j:j + m.shape[1]] * (1.0 / 9.0)
    return out


def hdr_vdp2(test: Any, reference: Any, color_encoding: str = "rgb-bt.709",
             pixels_per_degree: float = 30.0, *, device: str | torch.device | None = None,
             **options: Any) -> HDRVDP2Result:
    """HDR-VDP 2.2.2 ``hdrvdp(test, reference, color_encoding, pixels_per_degree, options)``.

    ``device`` None computes in numpy; a torch device ('cpu', 'cuda', ...) computes the pathway,
    pyramid, masking and pooling in torch float64 there (``torch_metric.py``), same results.
    """
    par = parse_options(options)
    enc = str(color_encoding).lower()
    if enc not in COLOR_ENCODINGS:
        raise ValueError(f"unknown color encoding '{color_encoding}'; use one of "
                         "'luminance', 'luma-display', 'sRGB-display', 'rgb-bt.709', 'XYZ', 'generic'")
    if not (np.isfinite(pixels_per_degree) and pixels_per_degree > 0):
        raise ValueError(f"pixels_per_degree must be positive, got {pixels_per_degree}")
    par["pix_per_deg"] = float(pixels_per_degree)
    test_a, ref_a = _as_image(test, "test"), _as_image(reference, "reference")
    if test_a.shape != ref_a.shape:
        raise ValueError(f"test {test_a.shape} and reference {ref_a.shape} images must be the same size")
    min_side = pyramid.sp3_filters().hi0.shape[0]  # corrDn needs the filter to fit the image
    if min(test_a.shape[:2]) < min_side:
        raise ValueError(f"images must be at least {min_side} pixels on each side, got {test_a.shape[:2]}")
    test_a, ref_a = _encode(test_a, ref_a, enc, par)
    emission = _emission(par, test_a.shape[2])
    surround = _surround(par, ref_a)
    if device is not None:
        from .torch_metric import hdr_vdp2_torch  # torch is only imported when asked for
        q_val, p_det, c_max, p_map, c_map = hdr_vdp2_torch(test_a, ref_a, par, emission, surround, device)
        return HDRVDP2Result(Q=q_val, P_det=p_det, C_max=c_max, P_map=p_map, C_map=c_map)

    # the reference first: its base-band mean pads the test's base band too
    ref_p = visual_pathway(ref_a, par, emission, surround)
    test_p = visual_pathway(test_a, par, emission, surround, ref_p.bb_padvalue)
    b_t, b_r, band_freq = test_p.bands, ref_p.bands, ref_p.band_freq
    l_adapt = (test_p.l_adapt + ref_p.l_adapt) / 2.0

    csf_la = vision.logspace(-5.0, 5.0, 256)
    csf_log_la = np.log10(csf_la)
    b_count = len(b_t)
    csf = [vision.ncsf(band_freq[b], csf_la, par) for b in range(b_count)]
    log_la = np.log10(vision.clamp(l_adapt, csf_la[0], csf_la[-1]))

    with np.errstate(divide="ignore", invalid="ignore"):  # x/0 -> inf (counted), 0/0 -> nan (not)
        diff_mask = np.any(np.abs(test_a - ref_a) / ref_a > 0.001, axis=2).astype(np.float64)

    p, q, pf, k_self, k_xo, k_xn, qbf, qbw, epsilon = masking_constants(par)

    def mm(b: int, o: int) -> np.ndarray:
        oc = min(o, len(b_t[b]) - 1)  # single-band levels (hi0, base) serve every orientation
        return _mutual_masking(b_t[b][oc], b_r[b][oc])

    d_bands: list[list[np.ndarray]] = [list(level) for level in b_t]
    q_sum = 0.0
    for b in range(b_count):
        shape = b_t[b][0].shape
        mask_xo = sum(mm(b, o) for o in range(len(b_t[b])))
        log_la_rs = vision.clamp(imresize(log_la, shape), csf_log_la[0], csf_log_la[-1])
        csf_b = vision.interp1_linear(csf_log_la, csf[b], log_la_rs)
        band_norm = 2.0 ** b  # 1/n_f in the paper
        n_ncsf = 1.0 if b == b_count - 1 else 1.0 / csf_b  # the base band is CSF-filtered already
        w_f = vision.interp1_linear(qbf, qbw, np.clip(band_freq[b], qbf[-1], qbf[0]))
        diff_mask_b = imresize(diff_mask, shape)
        for o in range(len(b_t[b])):
            band_diff = b_t[b][o] - b_r[b][o]
            ex_diff = _sign_pow(band_diff / band_norm, p) * band_norm
            if par["do_masking"]:
                self_mask = mm(b, o)
                mask_xn = np.zeros_like(self_mask)
                if b > 0:
                    mask_xn = np.maximum(imresize(mm(b - 1, o), shape), 0) / (band_norm / 2)
                if b < b_count - 2:
                    mask_xn = mask_xn + np.maximum(imresize(mm(b + 1, o), shape), 0) / (band_norm * 2)
                band_mask_xo = np.maximum(mask_xo - self_mask, 0)
                n_mask = band_norm * (k_self * (self_mask / n_ncsf / band_norm) ** q
                                      + k_xo * (band_mask_xo / n_ncsf / band_norm) ** q
                                      + k_xn * (mask_xn / n_ncsf) ** q)
                d = ex_diff / np.sqrt(n_ncsf ** (2 * p) + n_mask ** 2)
            else:
                d = ex_diff / n_ncsf ** p
            d_bands[b][o] = _sign_pow(d / band_norm, pf) * band_norm
            # quality: pixels almost identical in test and reference are masked out
            d_p = d * diff_mask_b
            msre = np.sqrt(np.sum(d_p ** 2)) / d_p.size
            q_sum += (np.log(msre + epsilon) - np.log(epsilon)) * float(w_f)

    s_map = np.abs(pyramid.recon_spyr(d_bands))
    if par["do_spatial_pooling"]:
        s_map = s_map.sum() / (s_map.max() + 1e-12) * s_map
    p_map = 1.0 - np.exp(np.log(0.5) * s_map)
    return HDRVDP2Result(Q=float(100.0 - q_sum), P_det=float(p_map.max()), C_max=float(s_map.max()),
                         P_map=p_map, C_map=s_map)
