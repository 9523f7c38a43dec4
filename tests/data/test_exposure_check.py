"""Declared exposures against brightness: accepted cameras, refused swaps and repeats."""

from __future__ import annotations

import numpy as np
import pytest

from selfhdr.camera import hdr_to_ldr
from selfhdr.data import exposure_check as ec
from selfhdr.data.synthetic import SyntheticSpec, make_scene
from selfhdr.errors import InputError


@pytest.fixture(scope="module")
def radiance() -> list:
    scene = make_scene(SyntheticSpec(height=64, width=96), np.random.default_rng([5, 1]))
    return scene.radiance


def _bracket(radiance, stops, curve="gamma 2.2 (the model)", quality=None, gain=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return [ec.render_frame(radiance[k] * gain, 2.0 ** stops[k], ec.STUDY_CURVES[curve], (8000.0, 0.0015),
                            quality, rng) for k in range(3)]


@pytest.mark.parametrize("curve", list(ec.STUDY_CURVES))
@pytest.mark.parametrize("stops,quality", [((0, 1, 2), 75), ((0, 2, 4), None), ((0, 3, 6), 90)])
def test_accepts_other_cameras(radiance, curve: str, stops, quality) -> None:
    frames = _bracket(radiance, stops, curve, quality)
    checks = ec.measure_exposure_pairs(frames, [2.0**s for s in stops])
    assert [(c.i, c.j) for c in checks] == [(0, 1), (1, 2)]
    assert all(c.ok for c in checks), checks
    assert all(c.measured_stops is not None and c.measured_stops > 0 for c in checks)


def test_gamma_22_is_measured_closely(radiance) -> None:
    checks = ec.measure_exposure_pairs(_bracket(radiance, (0, 2, 4)), [1, 4, 16])
    for c in checks:
        assert c.declared_stops == pytest.approx(2.0)
        assert abs(c.measured_stops - 2.0) < 0.15
        assert c.pixels > 500


def test_refuses_swapped_and_repeated(radiance) -> None:
    frames = _bracket(radiance, (0, 2, 4), quality=85)
    times = [1, 4, 16]
    swapped = ec.measure_exposure_pairs([frames[0], frames[2], frames[1]], times)
    assert not swapped[1].ok and swapped[1].measured_stops < 0
    rng = np.random.default_rng(3)
    repeated = [ec.render_frame(radiance[1], 4.0, ec.STUDY_CURVES["sRGB"], (8000.0, 0.0015), 85, rng)
                for _ in range(3)]
    assert not any(c.ok for c in ec.measure_exposure_pairs(repeated, times))
    # A loose tolerance still refuses a step that does not grow.
    assert not ec.agrees(2.0, -0.1, tolerance_stops=10.0)
    assert not ec.agrees(-2.0, 0.0, tolerance_stops=10.0)
    assert ec.agrees(-2.0, -2.1)


def test_tolerance_rule() -> None:
    assert ec.allowed_deviation(2.0) == pytest.approx(ec.DEFAULT_TOLERANCE_STOPS + 2.0 * ec.RELATIVE_TOLERANCE)
    for declared in (0.5, 1.0, 2.0, 3.0, -2.0):
        d = ec.allowed_deviation(declared)
        hi = declared + d if declared > 0 else declared - d
        lo = max(abs(declared) - d, ec.MIN_GROWTH * abs(declared)) * np.sign(declared)
        assert ec.agrees(declared, hi * (1 - 1e-9)) and not ec.agrees(declared, hi * (1 + 1e-6))
        assert ec.agrees(declared, lo * (1 + 1e-9)) and not ec.agrees(declared, lo * (1 - 1e-6))
    assert ec.agrees(2.0, None)
    assert ec.agrees(0.0, 0.2) and not ec.agrees(0.0, 0.3)
    # The defaults in words: from a quarter of the declared step to 1.75× it plus 0.25 stop.
    assert ec.accepted_range(1.0) == pytest.approx((0.25, 2.0))
    assert ec.accepted_range(2.0) == pytest.approx((0.5, 3.75))
    assert ec.accepted_range(3.0) == pytest.approx((0.75, 5.5))
    assert ec.accepted_range(-2.0) == pytest.approx((-3.75, -0.5))
    assert ec.accepted_range(2.0, tolerance_stops=10.0) == pytest.approx((0.5, 13.5))


def test_too_few_pixels_cannot_tell() -> None:
    # Short frame black, long frame white: no pixel is usable in both.
    frames = [np.zeros((32, 32, 3), np.float32), np.full((32, 32, 3), 0.5, np.float32),
              np.ones((32, 32, 3), np.float32)]
    checks = ec.measure_exposure_pairs(frames, [1, 4, 16])
    assert checks[0].measured_stops is None and checks[0].pixels == 0 and checks[0].ok
    assert checks[1].measured_stops is None and checks[1].ok
    # Exactly at the limit: 64 usable pixels of 32×32 (0.5 % would be 6) are judged.
    a = np.zeros((32, 32, 3), np.float32)
    a[:2, :] = 0.3
    b = np.zeros((32, 32, 3), np.float32)
    b[:2, :] = hdr_to_ldr(np.float32(0.3) ** 2.2, 4.0)
    c = ec.measure_exposure_pairs([a, b], [1, 4])[0]
    assert c.pixels == 64 and c.measured_stops == pytest.approx(2.0, abs=1e-4)
    a[1, :] = 0.0
    assert ec.measure_exposure_pairs([a, b], [1, 4])[0].measured_stops is None


def test_check_exposures_names_files(radiance) -> None:
    frames = _bracket(radiance, (0, 2, 4))
    paths = ["dir/IMG_1.jpg", "dir/IMG_2.jpg", "dir/IMG_3.jpg"]
    assert len(ec.check_exposures(frames, [1, 4, 16], paths)) == 2
    with pytest.raises(InputError) as info:
        ec.check_exposures([frames[0], frames[2], frames[1]], [1, 4, 16], paths, where="dir")
    msg = str(info.value)
    assert msg.startswith("dir: ") and "\n" not in msg
    assert "IMG_2.jpg is declared +2.00 stops from IMG_1.jpg but measures +3." in msg
    assert "; IMG_3.jpg is declared +2.00 stops from IMG_2.jpg but measures -" in msg
    assert "--exposures" in msg and "--allow-mismatch" in msg
    with pytest.raises(ValueError, match="positive"):
        ec.measure_exposure_pairs(frames, [0, 4, 16])
    with pytest.raises(ValueError, match="one size"):
        ec.measure_exposure_pairs([frames[0], frames[1][:10]], [1, 4])


def test_study_smoke() -> None:
    result = ec.tolerance_study(n_scenes=1, height=48, width=64, curves=["gamma 1.8"])
    rec = result["gamma 1.8"]
    deltas, declared = np.abs(rec["delta"]), np.asarray(rec["declared"])
    assert deltas.size > 0
    assert (deltas <= [ec.allowed_deviation(d) for d in declared]).all()
    assert not any(rec["swapped_ok"]) and not any(rec["repeated_ok"])
    assert "| gamma 1.8 |" in ec.study_table(result)
