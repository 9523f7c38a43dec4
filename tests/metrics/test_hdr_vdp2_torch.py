"""The torch path of HDR-VDP 2.2.2 (``hdr_vdp2(..., device=...)``) against the numpy path.

Every committed MATLAB vector case runs on torch (CPU here; CUDA too where there is one) and
must match the numpy port to |ΔQ| <= 1e-8 and |ΔP_det| <= 1e-10, and the MATLAB vectors with
the tolerances of ``test_hdr_vdp2.py``. The primitives are checked one by one on odd sizes,
steps and starts, so a wrong edge rule shows up where it is, not only in Q.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hdrvdp2_cases as cases  # noqa: E402
from selfhdr.metrics import HDRVDP2Result, hdr_vdp2  # noqa: E402
from selfhdr.metrics.hdrvdp import pyramid, resize, vision  # noqa: E402
from selfhdr.metrics.hdrvdp import torch_ops as T  # noqa: E402

VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "hdrvdp2" / "vectors.npz"
CPU = torch.device("cpu")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    # these images are tiny: on a shared machine intra-op threads only add spinning
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def vectors() -> dict[str, np.ndarray]:
    with np.load(VECTORS) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(cases.CASES))
def test_torch_matches_numpy_and_matlab(name: str, device: str, vectors: dict[str, np.ndarray]) -> None:
    test, ref, enc, ppd, opts = cases.make_case(name)
    a = hdr_vdp2(test, ref, enc, ppd, disable_lowvals_warning=True, **opts)
    b = hdr_vdp2(test, ref, enc, ppd, device=device, disable_lowvals_warning=True, **opts)
    assert isinstance(b, HDRVDP2Result) and isinstance(b.P_map, np.ndarray)
    assert b.P_map.dtype == np.float64 and b.P_map.shape == test.shape[:2] == b.C_map.shape
    assert abs(b.Q - a.Q) <= 1e-8 and abs(b.P_det - a.P_det) <= 1e-10
    assert b.C_max == pytest.approx(a.C_max, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(b.P_map, a.P_map, rtol=0, atol=1e-10)
    assert b.Q == pytest.approx(float(vectors[f"{name}/Q"]), abs=1e-8)
    assert b.P_det == pytest.approx(float(vectors[f"{name}/P_det"]), abs=1e-10)
    step = int(vectors["p_map_step"])
    np.testing.assert_allclose(b.P_map[::step, ::step], vectors[f"{name}/P_map"], rtol=0, atol=1e-10)


def test_device_object_and_identical_images() -> None:
    ref = cases.scene(40, 56, 3)
    res = hdr_vdp2(ref, ref.copy(), "rgb-bt.709", 30.0, device=CPU)
    assert res.Q == 100.0 and res.P_det == 0.0 and res.C_max == 0.0


def test_options_are_still_checked_on_the_torch_path() -> None:
    img = np.full((32, 32, 3), 50.0)
    with pytest.raises(ValueError, match="mask_pp"):
        hdr_vdp2(img, img, "rgb-bt.709", 30.0, device="cpu", mask_pp=0.5)


def _rand(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return cases.hash_uniform(int(np.prod(shape)), seed).reshape(shape) - 0.5


@pytest.mark.parametrize("shape", [(17, 23), (20, 21), (34, 45)])
@pytest.mark.parametrize("step, start", [(1, 0), (2, 0), (2, 1)])
@pytest.mark.parametrize("fname", ["lo0", "hi0", "lo"])
def test_corr_dn_and_up_conv_match_numpy(shape: tuple[int, int], step: int, start: int, fname: str) -> None:
    filt = getattr(pyramid.sp3_filters(), fname)
    if max(filt.shape) > min(shape):
        pytest.skip("filter larger than the image")
    im = _rand(shape, 3)
    want = pyramid.corr_dn(im, filt, step=step, start=start)
    got = T.corr_dn(T.to_tensor(im, CPU)[None], T.to_tensor(filt, CPU)[None, None], step, start)[0]
    np.testing.assert_allclose(T.to_numpy(got), want, rtol=0, atol=1e-13)
    want_up = pyramid.up_conv(want, filt, shape, step=step, start=start)
    filt_t = T.to_tensor(filt, CPU)[None, None]
    got_up = T.up_conv(T.to_tensor(want, CPU)[None], filt_t, shape, step, start)[0]
    np.testing.assert_allclose(T.to_numpy(got_up), want_up, rtol=0, atol=1e-13)


def test_corr_dn_reflects_about_the_edge_pixel() -> None:
    im = np.arange(20 * 21, dtype=np.float64).reshape(20, 21) ** 1.5
    filt = np.zeros((3, 3))
    filt[1, 0] = 1.0  # picks the left neighbour
    out = T.to_numpy(T.corr_dn(T.to_tensor(im, CPU)[None], T.to_tensor(filt, CPU)[None, None])[0])
    np.testing.assert_array_equal(out[:, 0], im[:, 1])  # reflect1: column -1 is column 1
    np.testing.assert_array_equal(out[:, 1:], im[:, :-1])


def test_pyramid_round_trip_matches_numpy() -> None:
    im = _rand((67, 90), 5)
    want = pyramid.build_spyr(im)
    got = T.build_spyr(T.to_tensor(im, CPU))
    assert [tuple(lv.shape) for lv in got] == [(len(lv),) + lv[0].shape for lv in want]
    for lv_t, lv_n in zip(got, want):
        np.testing.assert_allclose(T.to_numpy(lv_t), np.stack(lv_n), rtol=0, atol=1e-13)
    np.testing.assert_allclose(T.to_numpy(T.recon_spyr(got)), pyramid.recon_spyr(want), rtol=0, atol=1e-12)


def test_lookups_resize_and_fft_match_numpy() -> None:
    a = _rand((67, 90), 7) + 1.0
    for shape in [(34, 45), (17, 23), (67, 90), (134, 45)]:
        np.testing.assert_allclose(T.to_numpy(T.imresize(T.to_tensor(a, CPU), shape)),
                                   resize.imresize(a, shape), rtol=0, atol=1e-14)
    x = vision.linspace(-5.0, 5.0, 256)
    y = np.cos(x) ** 2
    xi = np.concatenate([x[:3], x[-2:], _rand((50,), 8) * 10.0])
    np.testing.assert_allclose(T.to_numpy(T.interp1_linear(T.to_tensor(x, CPU), T.to_tensor(y, CPU),
                                                           T.to_tensor(xi, CPU))),
                               np.interp(xi, x, y), rtol=0, atol=1e-15)
    lut = np.cumsum(np.abs(_rand((40,), 9)))
    im = _rand((9, 11), 10) * 100.0  # beyond both ends: the end segments extrapolate
    got = T.point_op(T.to_tensor(im, CPU), T.to_tensor(lut, CPU), -30.0, 1.5)
    np.testing.assert_allclose(T.to_numpy(got), vision.point_op(im, lut, -30.0, 1.5), rtol=0, atol=1e-13)
    fh = vision.mtf(vision.create_cycdeg_image((2 * 67, 2 * 90), 30.0), {
        "mtf_params_a": (0.4, 0.5, 0.05, 0.05), "mtf_params_b": (0.028, 0.37, 37.0, 360.0)})
    got = T.fast_conv_fft(T.to_tensor(a, CPU), T.to_tensor(fh, CPU), T.to_tensor(2.5, CPU))
    np.testing.assert_allclose(T.to_numpy(got), vision.fast_conv_fft(a, fh, 2.5), rtol=0, atol=1e-13)
