"""The options of HDR-VDP 2.2.2 (``hdrvdp_parse_options.m``): names, defaults, validation.

The names are MATLAB's, so a call ``hdrvdp(T, R, enc, ppd, {'mask_p', 0.5})`` becomes
``hdr_vdp2(T, R, enc, ppd, mask_p=0.5)``. MATLAB silently accepts misspelt options; here an
unknown name is an error that names it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

# Peak contrast of Daly's CSF at 30 cd/m^2; ``peak_sensitivity`` p gives the correction
# daly_peak / 10^-p (p = 2.4 by default).
DALY_PEAK_CONTRAST_SENS = 0.006894596

_MTF_PAR = (0.061466549455263, 0.99727370023777070)  # the "old parametrisation" of the MTF

DEFAULTS: dict[str, Any] = {
    "surround_l": 1e-5,
    "rgb_display": None,  # 'ccfl-lcd' for 3-channel images, as in MATLAB
    "spectral_emission": None,  # CSV path or (n, 1 + channels) array: nm, then one column each
    "peak_sensitivity": 2.4,
    "mask_p": 0.544068,
    "mask_self": 0.189065,
    "mask_xo": 0.449199,
    "mask_xn": 1.52512,
    "mask_q": 0.49576,
    "si_size": -0.034244,
    "psych_func_slope": math.log10(3.5),
    "do_masking": True,
    "do_mtf": True,
    "do_spatial_pooling": True,
    "do_si_gauss": False,
    "disable_lowvals_warning": False,
    "steerpyr_filter": "sp3Filters",
    "rod_sensitivity": 0.0,
    "csf_params": (
        (0.0160737, 0.991265, 3.74038, 0.50722, 4.46044),
        (0.383873, 0.800889, 3.54104, 0.682505, 4.94958),
        (0.929301, 0.476505, 4.37453, 0.750315, 5.28678),
        (1.29776, 0.405782, 4.40602, 0.935314, 5.61425),
        (1.49222, 0.334278, 3.79542, 1.07327, 6.4635),
        (1.46213, 0.394533, 2.7755, 1.16577, 7.45665),
    ),
    "csf_lums": (0.002, 0.02, 0.2, 2.0, 20.0, 150.0),
    "csf_sa": (30.162, 4.0627, 1.6596, 0.2712),
    "csf_sr_par": (1.1732, 1.1478, 1.2167, 0.5547, 2.9899, 1.1414),
    "mtf_params_a": (_MTF_PAR[1] * 0.426, _MTF_PAR[1] * 0.574,
                     (1 - _MTF_PAR[1]) * _MTF_PAR[0], (1 - _MTF_PAR[1]) * (1 - _MTF_PAR[0])),
    "mtf_params_b": (0.028, 0.37, 37.0, 360.0),
    "quality_band_freq": (60, 30, 15, 7.5, 3.75, 1.875, 0.9375, 0.4688, 0.2344, 0.1172),
    "quality_band_w": (0, 0.2832, 0.2832, 0.2142, 0.2690, 0.0398, 0.0003, 0.0003, 0, 0),
}

# Parsed by 2.2.2 but read nowhere in its computation: accepted so MATLAB calls port unchanged.
NO_EFFECT = frozenset({
    "viewing_distance", "debug", "orient_count", "noise_model", "beta", "si_slope", "si_sigma",
    "si_ampl", "cvi_sens_drop", "cvi_trans_slope", "cvi_low_slope", "cvi_sens_drop_rod",
    "csf_m1_f_max", "csf_m1_s_high", "csf_m1_s_low", "csf_m1_exp_low", "quality_logistic_q1",
    "quality_logistic_q2", "calibration_date",
})

_BOOLS = ("do_masking", "do_mtf", "do_spatial_pooling", "do_si_gauss", "disable_lowvals_warning")
_FLOATS = ("peak_sensitivity", "sensitivity_correction", "mask_p", "mask_self", "mask_xo",
           "mask_xn", "mask_q", "si_size", "psych_func_slope", "rod_sensitivity")
RGB_DISPLAYS = ("crt", "ccfl-lcd", "led-lcd")


def parse_options(options: dict[str, Any]) -> dict[str, Any]:
    """Defaults overridden by ``options``; raises ValueError for unknown names or bad values."""
    par = dict(DEFAULTS)
    for name, value in options.items():
        if name in ("pixels_per_degree", "color_encoding"):
            raise ValueError(f"option '{name}': pass it as the positional argument of hdr_vdp2")
        if name in NO_EFFECT:
            continue
        if name not in DEFAULTS and name != "sensitivity_correction":
            raise ValueError(f"unknown HDR-VDP 2.2.2 option '{name}'")
        par[name] = value
    if "sensitivity_correction" in options and "peak_sensitivity" in options:
        raise ValueError("give either 'peak_sensitivity' or 'sensitivity_correction', not both")
    for name in _BOOLS:
        if not isinstance(par[name], (bool, np.bool_)):
            raise ValueError(f"option '{name}' must be True or False, got {par[name]!r}")
    for name in _FLOATS:
        if name in par and not (isinstance(par[name], (int, float, np.number))
                                and not isinstance(par[name], bool) and math.isfinite(par[name])):
            raise ValueError(f"option '{name}' must be a finite number, got {par[name]!r}")
    if "sensitivity_correction" not in par:
        par["sensitivity_correction"] = DALY_PEAK_CONTRAST_SENS / 10.0 ** (-par["peak_sensitivity"])
    if par["do_si_gauss"]:
        # 2.2.2 calls blur_gaussian(), which the toolbox does not define: MATLAB fails too
        raise ValueError("option 'do_si_gauss'=True is broken in HDR-VDP 2.2.2 and not ported")
    if par["steerpyr_filter"] != "sp3Filters":
        raise ValueError("option 'steerpyr_filter': only 'sp3Filters' is ported, "
                         f"got {par['steerpyr_filter']!r}")
    if par["rgb_display"] is not None and par["rgb_display"] not in RGB_DISPLAYS:
        raise ValueError(f"option 'rgb_display' must be one of {RGB_DISPLAYS}, got {par['rgb_display']!r}")
    se = par["spectral_emission"]
    if se is not None and not isinstance(se, (str, Path, np.ndarray)):
        raise ValueError("option 'spectral_emission' must be a CSV path or a 2-D array")
    return par


class MaskingConstants(NamedTuple):
    """The masking, psychometric and pooling constants both execution paths derive from options."""

    p: float
    q: float
    pf: float
    k_self: float
    k_xo: float
    k_xn: float
    qbf: np.ndarray
    qbw: np.ndarray
    epsilon: float


def masking_constants(par: dict[str, Any]) -> MaskingConstants:
    """Exponents (10 ** the log10 options), band weights and the pooling epsilon of hdrvdp.m."""
    p = 10.0 ** par["mask_p"]
    return MaskingConstants(
        p=p, q=10.0 ** par["mask_q"], pf=10.0 ** par["psych_func_slope"] / p,
        k_self=10.0 ** par["mask_self"], k_xo=10.0 ** par["mask_xo"], k_xn=10.0 ** par["mask_xn"],
        qbf=np.asarray(par["quality_band_freq"], dtype=np.float64),
        qbw=np.asarray(par["quality_band_w"], dtype=np.float64), epsilon=1e-12)
