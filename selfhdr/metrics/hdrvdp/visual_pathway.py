"""``hdrvdp_visual_pathway.m``: from absolute image values to CSF-normalised pyramid bands.

Stages: optical MTF (FFT, image padded with the surround luminance) → photoreceptor spectral
responses (L, M, S, rods) → photoreceptor non-linearity (JND look-up) → mean removed per
pathway → steerable pyramid → base band filtered by the neural CSF at the mean luminance.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import numpy as np

from . import pyramid, vision


class PathwayOutput(NamedTuple):
    """Bands ([[hi0], [orientations] per level, [base]]), adapting luminance, band frequencies."""

    bands: list[list[np.ndarray]]
    l_adapt: np.ndarray
    band_freq: np.ndarray
    bb_padvalue: float


def visual_pathway(img: np.ndarray, par: Mapping[str, Any], emission: np.ndarray,
                   surround: np.ndarray, bb_padvalue: float | None = None) -> PathwayOutput:
    """Process one (H, W, C) image of absolute values; bb_padvalue None = this image's own."""
    h, w, ch = img.shape
    ppd = float(par["pix_per_deg"])

    # Optics: MTF of the eye on a 2x sized FFT grid, the outside being the surround luminance.
    if par["do_mtf"]:
        mtf_filter = vision.mtf(vision.create_cycdeg_image((2 * h, 2 * w), ppd), par)
        l_o = np.stack([vision.clamp(vision.fast_conv_fft(img[:, :, k], mtf_filter, surround[k]),
                                     1e-5, 1e10) for k in range(ch)], axis=2)
    else:
        l_o = img

    # Photoreceptor spectral sensitivities.
    m_lmsr = vision.lmsr_matrix(emission)
    r_lmsr = (l_o.reshape(h * w, ch) @ m_lmsr).reshape(h, w, 4)
    l_adapt = r_lmsr[:, :, 0] + r_lmsr[:, :, 1]

    # Photoreceptor non-linearity; S cones do not contribute to luminance and are skipped.
    luts = vision.photoreceptor_luts(par)
    p_lmr = []
    for k, (log_y, jnd) in ((0, luts[0]), (1, luts[0]), (3, luts[1])):
        jnd = jnd * par["sensitivity_correction"]
        x = np.log10(vision.clamp(r_lmsr[:, :, k], 10.0 ** log_y[0], 10.0 ** log_y[-1]))
        p_lmr.append(vision.point_op(x, jnd, log_y[0], log_y[1] - log_y[0]))
    p_c = p_lmr[0] + p_lmr[1]
    p_c = p_c - p_c.mean()
    p_r = p_lmr[2] - p_lmr[2].mean()
    p = p_c + p_r

    # Multi-channel decomposition.
    bands = pyramid.build_spyr(p)
    band_freq = 2.0 ** -np.arange(len(bands), dtype=np.float64) * ppd / 2.0

    # CSF-filter the base band at the mean adapting luminance. The sqrt(2) (rather than 2) is
    # 2.2.2's empirical choice; the pad value is the reference's, shared with the test image.
    bb = bands[-1][0]
    rho_bb = vision.create_cycdeg_image((2 * bb.shape[0], 2 * bb.shape[1]), band_freq[-1] * 2 * np.sqrt(2))
    csf_bb = vision.ncsf(rho_bb, float(l_adapt.mean()), par)
    if bb_padvalue is None:
        bb_padvalue = float(bb.mean())
    bands[-1][0] = vision.fast_conv_fft(bb, csf_bb, bb_padvalue)
    return PathwayOutput(bands, l_adapt, band_freq, bb_padvalue)
