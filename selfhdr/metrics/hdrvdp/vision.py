"""HDR-VDP 2.2.2's models of the eye: optics (MTF), spectra, photoreceptor and neural CSF.

Formulas and constants follow ``hdrvdp_mtf.m``, ``hdrvdp_ncsf.m``, ``hdrvdp_rod_sens.m``,
``hdrvdp_joint_rod_cone_sens.m``, ``create_cycdeg_image.m``, ``fast_conv_fft.m``,
``load_spectral_resp.m`` and the JND look-up tables of ``hdrvdp_visual_pathway.m``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from scipy.interpolate import PchipInterpolator

DATA = Path(__file__).resolve().parent / "data"


def linspace(a: float, b: float, n: int) -> np.ndarray:
    """MATLAB ``linspace``: a + k*(b-a)/(n-1), the last sample set to b exactly."""
    if n == 1:
        return np.array([float(b)])
    y = a + np.arange(n, dtype=np.float64) * ((b - a) / (n - 1))
    y[-1] = b
    return y


def logspace(a: float, b: float, n: int) -> np.ndarray:
    """MATLAB ``logspace``: 10 .^ linspace(a, b, n)."""
    return 10.0 ** linspace(a, b, n)


# (780 - 360) / 1 samples: the grid step is 420/419 nm, not 1 nm, exactly as in MATLAB
WAVELENGTHS = linspace(360.0, 780.0, 420)
WAVELENGTHS.setflags(write=False)


def clamp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``clamp.m``: values below lo set to lo, above hi set to hi (NaN kept)."""
    y = np.array(x, dtype=np.float64, copy=True)
    y[y < lo] = lo
    y[y > hi] = hi
    return y


def interp1_linear(x: np.ndarray, y: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """MATLAB ``interp1(x, y, xi)`` (linear) for xi inside [min(x), max(x)]; x monotonic."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x[0] > x[-1]:  # MATLAB accepts decreasing abscissae
        x, y = x[::-1], y[::-1]
    return np.interp(xi, x, y)


def spectral_table(path: str | Path) -> np.ndarray:
    """Read a comma separated spectrum table (first column: wavelength in nm)."""
    return np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)


def resample_spectra(d: np.ndarray) -> np.ndarray:
    """``load_spectral_resp.m``'s resampling of a table (nm, columns...) onto WAVELENGTHS."""
    lam = WAVELENGTHS
    out = np.zeros((lam.size, d.shape[1] - 1), dtype=np.float64)
    inside = (lam >= d[0, 0]) & (lam <= d[-1, 0])  # interp1(..., 'pchip', 0): zero outside
    for k in range(1, d.shape[1]):
        out[inside, k - 1] = PchipInterpolator(d[:, 0], d[:, k])(lam[inside])
    return out


def load_spectral_resp(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``load_spectral_resp.m``: (wavelengths, pchip-resampled columns) of a CSV table."""
    return WAVELENGTHS, resample_spectra(spectral_table(path))


@lru_cache(maxsize=None)
def _photoreceptor_sensitivities() -> tuple[np.ndarray, np.ndarray]:
    lam, lms = load_spectral_resp(DATA / "log_cone_smith_pokorny_1975.csv")
    lms[lms == 0] = lms.min()  # the zero fill outside the data, in log units, made negligible
    lms = 10.0 ** lms
    _, rod = load_spectral_resp(DATA / "cie_scotopic_lum.txt")
    s = np.concatenate([lms, rod], axis=1)  # L, M, S, rod
    s.setflags(write=False)
    return lam, s


def lmsr_matrix(emission: np.ndarray) -> np.ndarray:
    """(channels, 4) matrix from image channels to L, M, S and rod responses (trapz over λ)."""
    lam, s = _photoreceptor_sensitivities()
    m = np.zeros((emission.shape[1], 4), dtype=np.float64)
    for k in range(4):
        for ch in range(emission.shape[1]):
            m[ch, k] = _trapz(lam, s[:, k] * emission[:, ch])
    return m


def _trapz(x: np.ndarray, y: np.ndarray) -> float:
    """MATLAB ``trapz(x, y)`` for vectors (numpy renamed its own between versions)."""
    return float(np.dot(np.diff(x), (y[:-1] + y[1:])) / 2.0)


def cycdeg_axes(im_size: tuple[int, int], pix_per_deg: float) -> list[np.ndarray]:
    """The per-axis frequencies (cycles/degree, FFT order) of ``create_cycdeg_image.m``."""
    nyquist = 0.5 * pix_per_deg
    axes = []
    for n in im_size:
        half = n // 2
        step = nyquist / half
        if n % 2:
            v = np.concatenate([linspace(0.0, nyquist, half + 1), linspace(-nyquist, -step, half)])
        else:
            v = np.concatenate([linspace(0.0, nyquist - step, half), linspace(-nyquist, -step, half)])
        axes.append(v)
    return axes


def create_cycdeg_image(im_size: tuple[int, int], pix_per_deg: float) -> np.ndarray:
    """``create_cycdeg_image.m``: spatial frequency (cycles/degree) of every FFT coefficient."""
    axes = cycdeg_axes(im_size, pix_per_deg)
    yy, xx = np.meshgrid(axes[0], axes[1], indexing="ij")
    return np.sqrt(xx ** 2 + yy ** 2)


def mtf(rho: np.ndarray, par: Mapping[str, Any]) -> np.ndarray:
    """``hdrvdp_mtf.m``: the optical modulation transfer function of the eye."""
    out = np.zeros_like(rho)
    for a, b in zip(par["mtf_params_a"], par["mtf_params_b"]):
        out = out + a * np.exp(-b * rho)
    return out


def fast_conv_fft(x: np.ndarray, fh: np.ndarray, pad_value: float) -> np.ndarray:
    """``fast_conv_fft.m``: pad x (bottom/right) with a constant to fh's size, filter in FFT."""
    ph, pw = fh.shape[0] - x.shape[0], fh.shape[1] - x.shape[1]
    padded = np.pad(x, ((0, ph), (0, pw)), mode="constant", constant_values=pad_value)
    y = np.fft.ifft2(np.fft.fft2(padded) * fh).real
    return y[:x.shape[0], :x.shape[1]]


def ncsf(rho: np.ndarray | float, lum: np.ndarray | float, par: Mapping[str, Any]) -> np.ndarray:
    """``hdrvdp_ncsf.m``: neural contrast sensitivity at frequency rho and luminance lum."""
    csf_pars = np.asarray(par["csf_params"], dtype=np.float64)
    lum_lut = np.log10(np.asarray(par["csf_lums"], dtype=np.float64))
    log_lum = np.log10(np.asarray(lum, dtype=np.float64))
    c = clamp(log_lum, lum_lut[0], lum_lut[-1])
    p1, p2, p3, p4 = (interp1_linear(lum_lut, csf_pars[:, k], c) for k in range(1, 5))
    rho = np.asarray(rho, dtype=np.float64)
    with np.errstate(divide="ignore"):
        # at rho = 0 the high-pass term is 1/0 = Inf and the sensitivity 0, as in MATLAB
        return p4 * 1.0 / ((1.0 + (p1 * rho) ** p2) * 1.0 / (1.0 - np.exp(-(rho / 7.0) ** 2)) ** p3) ** 0.5


def rod_sens(la: np.ndarray, par: Mapping[str, Any]) -> np.ndarray:
    """``hdrvdp_rod_sens.m``: rod sensitivity as a function of luminance."""
    peak_l, low_s, low_exp, high_s, high_exp, sens = par["csf_sr_par"]
    s = np.zeros_like(la)
    hi = la > peak_l
    s[hi] = np.exp(-np.abs(np.log10(la[hi] / peak_l)) ** high_exp / high_s)
    s[~hi] = np.exp(-np.abs(np.log10(la[~hi] / peak_l)) ** low_exp / low_s)
    return s * 10.0 ** sens


def joint_rod_cone_sens(la: np.ndarray, par: Mapping[str, Any]) -> np.ndarray:
    """``hdrvdp_joint_rod_cone_sens.m``: the joint rod-cone sensitivity (the CVI fit)."""
    sa = par["csf_sa"]
    return sa[0] * ((sa[1] / la) ** sa[2] + 1.0) ** -sa[3]


def _jnd_space(log_l: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    big_l = 10.0 ** log_l
    thr = big_l / s
    # integration in the log domain, hence the Jacobian L * ln(10)
    dl = 1.0 / thr * big_l * np.log(10.0)
    jnd = np.concatenate([[0.0], np.cumsum(np.diff(log_l) * (dl[:-1] + dl[1:])) / 2.0])  # cumtrapz
    return log_l, jnd


def photoreceptor_luts(par: Mapping[str, Any]) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(log10 L, JND) look-up tables for cones and rods, before the sensitivity correction."""
    c_l = logspace(-5.0, 5.0, 2048)
    s_a = joint_rod_cone_sens(c_l, par)
    s_r = rod_sens(c_l, par) * 10.0 ** par["rod_sensitivity"]
    # cones: s_L = s_M, each half the joint sensitivity at twice the luminance
    s_c = 0.5 * interp1_linear(c_l, np.maximum(s_a - s_r, 1e-3), np.minimum(c_l * 2.0, c_l[-1]))
    log_cl = np.log10(c_l)
    return _jnd_space(log_cl, s_c), _jnd_space(log_cl, s_r)


def point_op(im: np.ndarray, lut: np.ndarray, origin: float, increment: float) -> np.ndarray:
    """matlabPyrTools MEX ``pointOp``: linear look-up, extrapolating the end segments."""
    pos = (im - origin) / increment
    index = np.clip(np.trunc(pos), 0, lut.size - 2).astype(np.int64)  # C cast truncates
    return lut[index] + (lut[index + 1] - lut[index]) * (pos - index)
