"""HDR-VDP 2.2.2 port: golden values from the MATLAB toolbox, identities, input handling.

``tests/fixtures/hdrvdp2/vectors.npz`` holds what the unmodified MATLAB code (only made to
run in GNU Octave, see ``scripts/make_hdrvdp_vectors.py``) returns for the cases of
``hdrvdp2_cases.py``: Q, P_det, C_max and P_map sampled every 4th pixel. When they were
made, the port agreed to |ΔQ| < 5e-12 and |ΔP_det| < 3e-14 on every case.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hdrvdp2_cases as cases  # noqa: E402
from selfhdr.metrics import HDRVDP2Result, hdr_vdp2  # noqa: E402
from selfhdr.metrics.hdrvdp import pyramid, vision  # noqa: E402

VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "hdrvdp2" / "vectors.npz"


@pytest.fixture(scope="module")
def vectors() -> dict[str, np.ndarray]:
    with np.load(VECTORS) as z:
        return {k: z[k] for k in z.files}


def test_vectors_cover_every_case(vectors: dict[str, np.ndarray]) -> None:
    names = {k.split("/")[0] for k in vectors if "/" in k}
    assert names == set(cases.CASES)


@pytest.mark.parametrize("name", sorted(cases.CASES))
def test_matches_matlab_toolbox(name: str, vectors: dict[str, np.ndarray]) -> None:
    test, ref, enc, ppd, opts = cases.make_case(name)
    # the inputs are those the MATLAB code saw
    np.testing.assert_allclose(np.concatenate([cases.checksum(test), cases.checksum(ref)]),
                               vectors[f"{name}/input_checksum"], rtol=1e-12)
    res = hdr_vdp2(test, ref, enc, ppd, disable_lowvals_warning=True, **opts)
    assert res.Q == pytest.approx(float(vectors[f"{name}/Q"]), abs=1e-8)
    assert res.P_det == pytest.approx(float(vectors[f"{name}/P_det"]), abs=1e-10)
    assert res.C_max == pytest.approx(float(vectors[f"{name}/C_max"]), rel=1e-9, abs=1e-12)
    step = int(vectors["p_map_step"])
    np.testing.assert_allclose(res.P_map[::step, ::step], vectors[f"{name}/P_map"], rtol=0, atol=1e-10)
    assert res.P_map.shape == test.shape[:2]


@pytest.mark.parametrize("enc", ["luminance", "luma-display", "sRGB-display", "rgb-bt.709", "XYZ"])
def test_identical_images_are_perfect(enc: str) -> None:
    ref = cases.scene(40, 56, 3)
    if enc in ("luminance", "luma-display"):
        ref = cases.luminance(ref)
    if enc.endswith("display"):
        ref = cases.display_encode(ref, float(ref.max()))
    res = hdr_vdp2(ref, ref.copy(), enc, 30.0, disable_lowvals_warning=True)
    assert isinstance(res, HDRVDP2Result)
    assert res.Q == 100.0 and res.P_det == 0.0 and res.C_max == 0.0
    assert not res.P_map.any() and not res.C_map.any()


def test_result_is_frozen_and_consistent() -> None:
    test, ref, enc, ppd, opts = cases.make_case("rgb_exposure_64x96")
    res = hdr_vdp2(test, ref, enc, ppd, **opts)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.Q = 0.0  # type: ignore[misc]
    assert res.P_det == res.P_map.max() and res.C_max == res.C_map.max()
    np.testing.assert_allclose(res.P_map, 1 - 0.5 ** res.C_map, atol=1e-15)


def test_defaults_are_matlabs() -> None:
    test, ref, _, _, _ = cases.make_case("rgb_faint_noise_96x80")
    a = hdr_vdp2(test, ref)  # 'rgb-bt.709', 30 pixels per degree
    b = hdr_vdp2(test, ref, "rgb-bt.709", 30.0, rgb_display="ccfl-lcd", surround_l=1e-5,
                 peak_sensitivity=2.4, mask_p=0.544068, do_mtf=True)
    assert a.Q == b.Q and a.P_det == b.P_det


def test_options_change_results_and_no_effect_options_do_not() -> None:
    test, ref, enc, ppd, _ = cases.make_case("rgb_faint_noise_96x80")
    base = hdr_vdp2(test, ref, enc, ppd)
    assert hdr_vdp2(test, ref, enc, ppd, peak_sensitivity=2.8).P_det > base.P_det
    assert hdr_vdp2(test, ref, enc, ppd, do_mtf=False).Q != base.Q
    same = hdr_vdp2(test, ref, enc, ppd, viewing_distance=2.0, noise_model=False)
    assert same.Q == base.Q


@pytest.mark.parametrize("opts, match", [
    ({"mask_pp": 0.5}, "mask_pp"),
    ({"surround": 10.0}, "surround"),
    ({"pix_per_deg": 40}, "pix_per_deg"),
    ({"do_mtf": "yes"}, "do_mtf"),
    ({"mask_q": float("nan")}, "mask_q"),
    ({"rgb_display": "oled"}, "rgb_display"),
    ({"do_si_gauss": True}, "do_si_gauss"),
    ({"steerpyr_filter": "sp5Filters"}, "steerpyr_filter"),
    ({"peak_sensitivity": 2.0, "sensitivity_correction": 1.0}, "sensitivity_correction"),
    ({"surround_l": [1.0, 2.0]}, "surround_l"),
])
def test_bad_options_raise(opts: dict, match: str) -> None:
    img = np.full((32, 32, 3), 50.0)
    with pytest.raises(ValueError, match=match):
        hdr_vdp2(img, img, "rgb-bt.709", 30.0, **opts)


@pytest.mark.parametrize("test, ref, enc, match", [
    (np.ones((32, 40, 3)) * 50, np.ones((32, 41, 3)) * 50, "rgb-bt.709", "same size"),
    (-np.ones((32, 40)), np.ones((32, 40)), "luminance", "negative"),
    (np.full((32, 40), np.nan), np.ones((32, 40)), "luminance", "NaN"),
    (np.ones((32, 40)), np.full((32, 40), np.inf), "luminance", "NaN or infinite"),
    (np.ones((32, 40, 3)), np.ones((32, 40, 3)), "luminance", "1 channel"),
    (np.ones((32, 40)), np.ones((32, 40)), "sRGB-display", "3 channel"),
    (np.ones((32, 40)), np.ones((32, 40)), "linear", "unknown color encoding"),
    (np.ones((12, 40)), np.ones((12, 40)), "luminance", "at least 15"),
    (np.ones((2, 3, 4, 5)), np.ones((2, 3, 4, 5)), "luminance", "array"),
])
def test_bad_inputs_raise(test: np.ndarray, ref: np.ndarray, enc: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        hdr_vdp2(test, ref, enc, 30.0)


def test_bad_pixels_per_degree_raises() -> None:
    img = np.full((32, 32), 50.0)
    with pytest.raises(ValueError, match="pixels_per_degree"):
        hdr_vdp2(img, img, "luminance", 0.0)


def test_low_values_warn_like_matlab() -> None:
    img = np.full((32, 32), 0.5)
    with pytest.warns(UserWarning, match="low physical values"):
        hdr_vdp2(img, img * 1.1, "luminance", 30.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hdr_vdp2(img, img * 1.1, "luminance", 30.0, disable_lowvals_warning=True)


def test_pyramid_layout_matches_matlab_pind() -> None:
    # pind of buildSpyr(rand(67, 90), 'auto', 'sp3Filters') in Octave: maxPyrHt gives 2 levels,
    # corrDn's step-2 output has ceil(n/2) samples
    bands = pyramid.build_spyr(np.zeros((67, 90)))
    shapes = [[b.shape for b in level] for level in bands]
    assert shapes == [[(67, 90)], [(67, 90)] * 4, [(34, 45)] * 4, [(17, 23)]]


def test_corr_dn_reflects_about_the_edge_pixel() -> None:
    im = np.arange(20 * 21, dtype=np.float64).reshape(20, 21) ** 1.5
    filt = np.zeros((3, 3))
    filt[1, 0] = 1.0  # picks the left neighbour
    out = pyramid.corr_dn(im, filt)
    np.testing.assert_array_equal(out[:, 0], im[:, 1])  # reflect1: column -1 is column 1
    np.testing.assert_array_equal(out[:, 1:], im[:, :-1])


def test_spectral_emission_file_equals_named_display() -> None:
    test, ref, enc, ppd, _ = cases.make_case("rgb_faint_noise_96x80")
    path = vision.DATA / "emission_spectra_led-lcd.csv"
    named = hdr_vdp2(test, ref, enc, ppd, rgb_display="led-lcd")
    from_file = hdr_vdp2(test, ref, enc, ppd, spectral_emission=str(path))
    from_array = hdr_vdp2(test, ref, enc, ppd, spectral_emission=vision.spectral_table(path))
    assert named.Q == from_file.Q == from_array.Q
    assert named.Q != hdr_vdp2(test, ref, enc, ppd).Q


def test_generic_encoding_takes_the_spectra_given() -> None:
    test, ref, _, ppd, _ = cases.make_case("rgb_faint_noise_96x80")
    table = vision.spectral_table(vision.DATA / "emission_spectra_crt.csv")
    generic = hdr_vdp2(test, ref, "generic", ppd, spectral_emission=table)
    assert generic.Q == hdr_vdp2(test, ref, "rgb-bt.709", ppd, rgb_display="crt").Q
    two = hdr_vdp2(test[:, :, :2], ref[:, :, :2], "generic", ppd, spectral_emission=table[:, :3])
    assert 0 < two.P_det < 1
    with pytest.raises(ValueError, match="spectral_emission"):
        hdr_vdp2(test, ref, "generic", ppd)
