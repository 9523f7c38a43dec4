"""The torch execution path of ``hdr_vdp2(..., device=...)``: visual pathway, masking, pooling.

It follows ``visual_pathway.py`` and ``metric.py`` step by step, in float64 on the requested
device, with the test and reference images stacked into one batch of two so every pyramid
convolution and FFT runs once for both. What stays numpy, and why:

* option parsing, input checks and the colour encodings (done by ``metric.hdr_vdp2`` before it
  calls here: cheap per-pixel arithmetic on the caller's numpy arrays);
* the small tables: spectra and the LMSR matrix, the photoreceptor JND tables, the 256-entry
  CSF table per band, the imresize weight matrices, the per-band quality weights;
* the neural CSF of the base band: a grid of twice the base band's size (a few hundred
  values), so it is built by ``vision.ncsf`` and moved to the device.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from . import torch_ops as T
from . import vision
from .options import masking_constants


def _cycdeg_image(im_size: tuple[int, int], pix_per_deg: float, device: torch.device) -> torch.Tensor:
    # the per-axis frequencies come from vision (MATLAB's linspace rounding); the 2-D grid,
    # as large as the padded image, is built on the device
    fy, fx = (T.to_tensor(v, device) for v in vision.cycdeg_axes(im_size, pix_per_deg))
    return torch.sqrt(fx[None, :] ** 2 + fy[:, None] ** 2)


def _visual_pathway(imgs: torch.Tensor, par: Mapping[str, Any], emission: np.ndarray,
                    surround: np.ndarray) -> tuple[list[torch.Tensor], torch.Tensor, np.ndarray]:
    """Pathway of a (N, H, W, C) batch whose last image is the reference: (levels, L_adapt, freqs)."""
    device = imgs.device
    n, h, w, ch = imgs.shape
    ppd = float(par["pix_per_deg"])

    if par["do_mtf"]:
        rho = _cycdeg_image((2 * h, 2 * w), ppd, device)
        mtf = torch.zeros_like(rho)
        for a, b in zip(par["mtf_params_a"], par["mtf_params_b"]):
            mtf = mtf + a * torch.exp(-b * rho)
        planes = imgs.permute(0, 3, 1, 2)  # (N, C, H, W): each channel padded with its surround
        l_o = torch.clamp(T.fast_conv_fft(planes, mtf, T.to_tensor(surround, device)), 1e-5, 1e10)
        l_o = l_o.permute(0, 2, 3, 1)
    else:
        l_o = imgs

    r_lmsr = l_o @ T.to_tensor(vision.lmsr_matrix(emission), device)  # (N, H, W, 4)
    l_adapt = r_lmsr[..., 0] + r_lmsr[..., 1]

    luts = vision.photoreceptor_luts(par)
    p_lmr = []
    for k, (log_y, jnd) in ((0, luts[0]), (1, luts[0]), (3, luts[1])):
        lut = T.to_tensor(jnd * par["sensitivity_correction"], device)
        x = torch.log10(torch.clamp(r_lmsr[..., k], 10.0 ** log_y[0], 10.0 ** log_y[-1]))
        p_lmr.append(T.point_op(x, lut, float(log_y[0]), float(log_y[1] - log_y[0])))
    p_c = p_lmr[0] + p_lmr[1]
    p_c = p_c - p_c.mean(dim=(-2, -1), keepdim=True)
    p_r = p_lmr[2] - p_lmr[2].mean(dim=(-2, -1), keepdim=True)

    levels = T.build_spyr(p_c + p_r)
    band_freq = 2.0 ** -np.arange(len(levels), dtype=np.float64) * ppd / 2.0

    # base band CSF at each image's mean adapting luminance; the pad value is the reference's
    bb = levels[-1]  # (N, 1, h, w)
    rho_bb = vision.create_cycdeg_image((2 * bb.shape[-2], 2 * bb.shape[-1]),
                                        band_freq[-1] * 2 * np.sqrt(2))
    l_means = T.to_numpy(l_adapt.mean(dim=(-2, -1)))
    csf_bb = torch.stack([T.to_tensor(vision.ncsf(rho_bb, float(m), par), device) for m in l_means])
    pad = bb[-1].mean().expand(n)
    levels[-1] = T.fast_conv_fft(bb.squeeze(-3), csf_bb, pad).unsqueeze(-3)
    return levels, l_adapt, band_freq


def _sign_pow(x: torch.Tensor, e: float) -> torch.Tensor:
    return torch.sign(x) * torch.abs(x) ** e


def _mutual_masking(t: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    # min(|T|, |R|) blurred by conv2(m, ones(3)/9, 'same'): zeros outside
    m = torch.minimum(torch.abs(t), torch.abs(r)).unsqueeze(-3)
    box = m.new_full((1, 1, 3, 3), 1.0 / 9.0)
    return F.conv2d(m.reshape((-1,) + tuple(m.shape[-3:])), box, padding=1).reshape(t.shape)


def _orientations(m: torch.Tensor, count: int) -> torch.Tensor:
    # band o of a neighbour level, or its only band (hi0, base): metric.py's min(o, len - 1)
    return m[[min(o, m.shape[0] - 1) for o in range(count)]]


def hdr_vdp2_torch(test: np.ndarray, ref: np.ndarray, par: Mapping[str, Any], emission: np.ndarray,
                   surround: np.ndarray, device: torch.device | str) -> tuple[float, float, float,
                                                                             np.ndarray, np.ndarray]:
    """(Q, P_det, C_max, P_map, C_map) of encoded (H, W, C) images, computed on ``device``."""
    device = torch.device(device)
    imgs = torch.stack([T.to_tensor(test, device), T.to_tensor(ref, device)])
    levels, l_adapt_n, band_freq = _visual_pathway(imgs, par, emission, surround)
    b_t = [lv[0] for lv in levels]  # per level a (bands, h, w) tensor
    b_r = [lv[1] for lv in levels]
    l_adapt = (l_adapt_n[0] + l_adapt_n[1]) / 2.0

    csf_la = vision.logspace(-5.0, 5.0, 256)
    csf_log_la = T.to_tensor(np.log10(csf_la), device)
    b_count = len(b_t)
    log_la = torch.log10(torch.clamp(l_adapt, float(csf_la[0]), float(csf_la[-1])))

    t_img, r_img = imgs[0], imgs[1]
    # x/0 -> inf (counted), 0/0 -> nan (not), as in numpy
    diff_mask = torch.any(torch.abs(t_img - r_img) / r_img > 0.001, dim=-1).to(T.DTYPE)

    p, q, pf, k_self, k_xo, k_xn, qbf, qbw, epsilon = masking_constants(par)

    # mutual masking of every band once; single-band levels (hi0, base) broadcast over orientations
    mm = [_mutual_masking(b_t[b], b_r[b]) for b in range(b_count)]
    d_levels: list[torch.Tensor] = []
    q_sum = torch.zeros((), dtype=T.DTYPE, device=device)
    for b in range(b_count):
        n_o, shape = b_t[b].shape[0], tuple(b_t[b].shape[-2:])
        mask_xo = mm[b].sum(dim=0)
        log_la_rs = torch.clamp(T.imresize(log_la, shape), csf_log_la[0], csf_log_la[-1])
        csf_table = T.to_tensor(vision.ncsf(band_freq[b], csf_la, par), device)
        csf_b = T.interp1_linear(csf_log_la, csf_table, log_la_rs)
        band_norm = 2.0 ** b
        n_ncsf = 1.0 if b == b_count - 1 else 1.0 / csf_b  # the base band is CSF-filtered already
        w_f = float(vision.interp1_linear(qbf, qbw, np.clip(band_freq[b], qbf[-1], qbf[0])))
        diff_mask_b = T.imresize(diff_mask, shape)

        ex_diff = _sign_pow((b_t[b] - b_r[b]) / band_norm, p) * band_norm
        if par["do_masking"]:
            self_mask = mm[b]
            mask_xn = torch.zeros_like(self_mask)
            if b > 0:
                below = T.imresize(_orientations(mm[b - 1], n_o), shape)
                mask_xn = torch.clamp(below, min=0) / (band_norm / 2)
            if b < b_count - 2:
                above = T.imresize(_orientations(mm[b + 1], n_o), shape)
                mask_xn = mask_xn + torch.clamp(above, min=0) / (band_norm * 2)
            band_mask_xo = torch.clamp(mask_xo - self_mask, min=0)
            n_mask = band_norm * (k_self * (self_mask / n_ncsf / band_norm) ** q
                                  + k_xo * (band_mask_xo / n_ncsf / band_norm) ** q
                                  + k_xn * (mask_xn / n_ncsf) ** q)
            d = ex_diff / torch.sqrt(n_ncsf ** (2 * p) + n_mask ** 2)
        else:
            d = ex_diff / n_ncsf ** p
        d_levels.append(_sign_pow(d / band_norm, pf) * band_norm)
        # quality: pixels almost identical in test and reference are masked out
        d_p = d * diff_mask_b
        msre = torch.sqrt(torch.sum(d_p ** 2, dim=(-2, -1))) / d_p[0].numel()
        q_sum = q_sum + torch.sum(torch.log(msre + epsilon) - np.log(epsilon)) * w_f

    s_map = torch.abs(T.recon_spyr(d_levels))
    if par["do_spatial_pooling"]:
        s_map = s_map.sum() / (s_map.max() + 1e-12) * s_map
    p_map = 1.0 - torch.exp(np.log(0.5) * s_map)
    p_map_np, s_map_np = T.to_numpy(p_map), T.to_numpy(s_map)
    return (float(100.0 - q_sum.item()), float(p_map_np.max()), float(s_map_np.max()),
            p_map_np, s_map_np)
