"""Do the frames' brightnesses agree with their declared exposure times?

This is the one place that compares declared exposures with the pixels (the importer, scene
loading and prediction all call it). For each adjacent pair of frames (i, i + 1):

* usable pixels are those unclipped in *both* frames: every channel above ``LOW`` (0.02,
  about 5/255: below it 8-bit quantisation and noise dominate) and every channel below
  ``HIGH`` (0.95: above it the camera clips or rolls highlights off);
* each frame's value at a pixel is its linear value (``selfhdr.camera.ldr_to_hdr``, the
  gamma-2.2 response the training data uses) averaged over the three channels;
* measured stops = log2(median_{i+1} / median_i) over the usable pixels, compared with the
  declared log2(t_{i+1} / t_i).

A pair agrees when the measured stops have the declared sign and
``|measured − declared| ≤ tolerance_stops + RELATIVE_TOLERANCE · |declared|``. The relative
part exists because a camera whose real response is not gamma 2.2 scales every measured
step by roughly the ratio of the exponents (gamma 1.8 read as 2.2 measures 2.2/1.8 = 1.22×
the declared stops), so the error grows with the step. Fewer than ``MIN_PIXELS`` (64) or
``MIN_FRACTION`` (0.5 %) usable pixels: the pair cannot be judged; it is reported with
``measured_stops=None`` and accepted.

Measured tolerance (``tolerance_study()``; ``python -m selfhdr.data.exposure_check`` prints
it): 24 synthetic scenes (96×144, moving objects and camera shake) rendered at EV 0/1/2,
0/2/4 and 0/3/6, scene brightness ×2**-2, ×1 and ×2, through six camera curves, two noise
levels (full well 8000 e⁻ / read noise 0.0015, and 1000 e⁻ / 0.004), stored as 16-bit or as
8-bit JPEG at quality 75, 85 and 95: 31104 adjacent pairs, 31104 judged.

=====================  =======  ===========  ===========  ===========  ================
camera curve           pairs    median |Δ|   p99 |Δ|      max |Δ|      max |Δ| / decl.
=====================  =======  ===========  ===========  ===========  ================
gamma 2.2 (the model)  5184     0.005        0.063        0.116        0.06
sRGB                   5184     0.072        0.248        0.286        0.14
gamma 1.8              5184     0.410        1.246        1.369        0.23
gamma 2.6              5184     0.259        0.765        0.826        0.14
mild S-curve           5184     0.129        0.482        0.525        0.18
filmic shoulder        5184     0.203        0.648        0.760        0.25
=====================  =======  ===========  ===========  ===========  ================

(Δ = measured − declared stops; declared steps 1, 2 and 3 stops.) The worst case allowed by
the defaults, 0.5 + 0.5 · declared, is 2× the worst deviation seen at every step size, so
real cameras, whose tone curves lie within this family, are not refused; the "max |Δ| /
decl." column is the largest deviation as a fraction of its declared step, and it never
exceeds 0.25 where the rule allows 0.5 (plus 0.5 stop). The same study always refuses a
bracket whose frames are swapped (declared 0 2 4 given to frames at 0 4 2: the second pair
measures −2) and a bracket of one frame repeated (measures 0 where 2 is declared).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..camera import hdr_to_ldr, ldr_to_hdr
from ..errors import InputError

PathLike = Union[str, "os.PathLike[str]"]

LOW = 0.02
"""Every channel must exceed this LDR value for a pixel to be usable (noise, quantisation)."""
HIGH = 0.95
"""Every channel must stay below this LDR value (clipping, highlight roll-off)."""
MIN_PIXELS = 64
MIN_FRACTION = 0.005
"""A pair with fewer usable pixels than max(MIN_PIXELS, MIN_FRACTION · H·W) is not judged."""
MAX_SAMPLES = 2**19
"""Frames above this many pixels are judged on a regular grid of about this many."""
LEVELS = np.linspace(0.01, 0.99, 99)
MAX_LEVEL_SAMPLES = 2**18
"""The per-level view compares these quantiles of each channel, from at most this many pixels."""

DEFAULT_TOLERANCE_STOPS: float = 0.25
"""Absolute part of the allowed deviation, in stops (see the module docstring for the study)."""
RELATIVE_TOLERANCE: float = 0.75
"""Relative part: this fraction of the declared step is added to the allowed deviation."""
MIN_GROWTH: float = 0.25
"""A step must measure at least this fraction of the declared one (with the declared sign)."""

HINT = ("check the frames and their order, give the right EV stops with --exposures, or skip this check "
        "with --allow-mismatch")
"""The default end of the error message (for commands that take those flags)."""


@dataclass(frozen=True)
class PairCheck:
    """The comparison of one adjacent pair of frames (i, j = i + 1)."""

    i: int
    j: int
    declared_stops: float
    measured_stops: Optional[float]
    pixels: int
    ok: bool


def allowed_deviation(declared_stops: float, tolerance_stops: float = DEFAULT_TOLERANCE_STOPS) -> float:
    """The largest |measured − declared| accepted for a step of ``declared_stops``."""
    return tolerance_stops + RELATIVE_TOLERANCE * abs(declared_stops)


def accepted_range(declared_stops: float, tolerance_stops: float = DEFAULT_TOLERANCE_STOPS) -> Tuple[float, float]:
    """The measured steps (lowest, highest) accepted for a declared step, in stops.

    ``declared ± allowed_deviation``, but never less than ``MIN_GROWTH · declared`` (mirrored
    for a negative step): swapped or repeated frames fail whatever the tolerance, since a
    longer exposure is never darker, and one that is not clearly brighter was not longer.
    """
    d = abs(declared_stops)
    dev = allowed_deviation(d, tolerance_stops)
    lo, hi = (max(d - dev, MIN_GROWTH * d), d + dev) if d > 0 else (-dev, dev)
    return (lo, hi) if declared_stops >= 0 else (-hi, -lo)


def agrees(declared_stops: float, measured_stops: Optional[float],
           tolerance_stops: float = DEFAULT_TOLERANCE_STOPS) -> bool:
    """True if a measured step is consistent with the declared one (None: cannot tell, True)."""
    if measured_stops is None:
        return True
    lo, hi = accepted_range(declared_stops, tolerance_stops)
    return lo <= measured_stops <= hi


def usable_mask(ldr: np.ndarray) -> np.ndarray:
    """Per channel (H×W×3): values of an RGB LDR frame inside (LOW, HIGH)."""
    return (ldr > LOW) & (ldr < HIGH)


def measure_exposure_pairs(ldrs: Sequence[np.ndarray], times: Sequence[float],
                           tolerance_stops: float = DEFAULT_TOLERANCE_STOPS) -> List[PairCheck]:
    """Measure the brightness step of every adjacent pair of frames and judge it (see module)."""
    if len(ldrs) != len(times):
        raise ValueError(f"{len(ldrs)} frames but {len(times)} exposure times")
    if len(ldrs) < 2:
        return []
    shape = np.shape(ldrs[0])
    if len(shape) != 3 or shape[2] != 3 or any(np.shape(x) != shape for x in ldrs):
        raise ValueError(f"frames must be H×W×3 of one size, got {[np.shape(x) for x in ldrs]}")
    t = np.asarray(times, dtype=np.float64)
    if not (np.isfinite(t).all() and (t > 0).all()):
        raise ValueError(f"exposure times must be positive and finite, got {t.tolist()}")
    need = max(MIN_PIXELS, int(math.ceil(MIN_FRACTION * shape[0] * shape[1])))
    # Large frames are judged on a regular grid of pixels (every k-th row and column): the
    # statistics are medians, and a grid keeps each sample a real, unmixed pixel.
    step = max(1, int(math.ceil(math.sqrt(shape[0] * shape[1] / MAX_SAMPLES))))
    frames = [np.asarray(x, dtype=np.float32)[::step, ::step] for x in ldrs]
    scale = step * step
    masks = [usable_mask(x) for x in frames]
    linear = [ldr_to_hdr(x, 1.0) for x in frames]
    levels = [_levels(x) for x in frames]
    out = []
    for i in range(len(ldrs) - 1):
        j = i + 1
        declared = float(np.log2(t[j] / t[i]))
        both = masks[i] & masks[j]
        pixels = int(both.any(axis=-1).sum()) * scale
        measured = None
        if pixels >= need:
            views = [_per_sample_step(linear[i], linear[j], both), _per_level_step(levels[i], levels[j])]
            measured = min((v for v in views if v is not None), key=lambda v: abs(v - declared))
        out.append(PairCheck(i, j, declared, measured, pixels, agrees(declared, measured, tolerance_stops)))
    return out


def _per_sample_step(lin_a: np.ndarray, lin_b: np.ndarray, both: np.ndarray) -> float:
    """Median log2 ratio of linear values over the (pixel, channel) samples usable in both.

    Per channel, so strongly coloured pixels (one channel clipped or black) still count; per
    pixel, not the ratio of the two frames' medians, which jumps between the flat regions of
    a scene when shake moves their borders.
    """
    ratio = lin_b[both] / lin_a[both]  # > 0: every sample exceeds LOW
    return float(np.median(np.log2(ratio)))


def _levels(ldr: np.ndarray) -> np.ndarray:
    """Each channel's brightness quantiles (LEVELS) over the frame, at most MAX_LEVEL_SAMPLES."""
    flat = ldr.reshape(-1, 3)
    step = max(1, flat.shape[0] // MAX_LEVEL_SAMPLES)
    return np.quantile(flat[::step], LEVELS, axis=0)


def _per_level_step(qa: np.ndarray, qb: np.ndarray) -> Optional[float]:
    """Median log2 ratio of the two frames' linearised quantiles where both are unclipped.

    Compares brightness distributions, not pixels, so it holds when the frames are not
    aligned (a hand-held bracket of a starry sky); None with fewer than 5 usable levels.
    """
    ok = (qa > LOW) & (qa < HIGH) & (qb > LOW) & (qb < HIGH)
    if ok.sum() < 5:
        return None
    ratio = ldr_to_hdr(qb[ok].astype(np.float64), 1.0) / ldr_to_hdr(qa[ok].astype(np.float64), 1.0)
    return float(np.median(np.log2(ratio)))


def check_exposures(ldrs: Sequence[np.ndarray], times: Sequence[float], paths: Sequence[PathLike],
                    tolerance_stops: float = DEFAULT_TOLERANCE_STOPS,
                    where: Optional[PathLike] = None, hint: str = HINT) -> List[PairCheck]:
    """Like :func:`measure_exposure_pairs`, but raise InputError naming the files of a bad pair.

    ``hint`` ends the message: how to fix it where the frames came from (a command's flags,
    a dataset's ``exposure.txt``).
    """
    if len(paths) != len(ldrs):
        raise ValueError(f"{len(ldrs)} frames but {len(paths)} paths")
    checks = measure_exposure_pairs(ldrs, times, tolerance_stops)
    bad = [c for c in checks if not c.ok]
    if bad:
        name = [os.path.basename(os.fspath(p)) for p in paths]
        pairs = "; ".join(
            f"{name[c.j]} is declared {c.declared_stops:+.2f} stops from {name[c.i]} but measures "
            f"{c.measured_stops:+.2f} (accepted {_range_text(c.declared_stops, tolerance_stops)})" for c in bad)
        raise InputError(where, f"brightness contradicts the declared exposures: {pairs}; {hint}")
    return checks


def _range_text(declared_stops: float, tolerance_stops: float) -> str:
    lo, hi = accepted_range(declared_stops, tolerance_stops)
    return f"{lo:+.2f} to {hi:+.2f}"


# ----------------------------------------------------------------------------- the study
# Camera curves the study renders with (linear in [0, 1] → LDR). The check itself always
# assumes selfhdr.camera's gamma 2.2; these are the "wrong" cameras it must tolerate.


def _srgb(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _s_curve(x: np.ndarray) -> np.ndarray:
    y = np.power(x, 1 / 2.2)
    return 0.7 * y + 0.3 * (3 * y**2 - 2 * y**3)  # mild contrast boost around mid-grey


def _filmic(x: np.ndarray) -> np.ndarray:
    # Highlight shoulder like a camera JPEG engine: Reinhard-style roll-off, white at 1.
    return np.power(x * 1.5 / (1 + 0.5 * x), 1 / 2.2).clip(0, 1)


STUDY_CURVES = {
    "gamma 2.2 (the model)": lambda x: hdr_to_ldr(x, 1.0),
    "sRGB": _srgb,
    "gamma 1.8": lambda x: np.power(x, 1 / 1.8),
    "gamma 2.6": lambda x: np.power(x, 1 / 2.6),
    "mild S-curve": _s_curve,
    "filmic shoulder": _filmic,
}
STUDY_STOPS = ((0.0, 1.0, 2.0), (0.0, 2.0, 4.0), (0.0, 3.0, 6.0))
STUDY_GAINS = (0.25, 1.0, 2.0)
STUDY_NOISE = ((8000.0, 0.0015), (1000.0, 0.004))
STUDY_CODECS = (None, 75, 85, 95)  # None: 16-bit; else 8-bit JPEG quality


def render_frame(radiance: np.ndarray, t: float, curve, noise: Tuple[float, float],
                 quality: Optional[int], rng: np.random.Generator) -> np.ndarray:
    """One study frame: exposure t, Poisson–Gaussian noise, a camera curve, 16 bits or JPEG."""
    import cv2

    full_well, read = noise
    e = rng.poisson(np.clip(radiance * t, 0.0, 2.0) * full_well).astype(np.float32) / full_well
    e += rng.normal(0.0, read, size=e.shape).astype(np.float32)
    ldr = np.asarray(curve(np.clip(e, 0.0, 1.0)), dtype=np.float32)
    if quality is None:
        return (np.round(ldr * 65535.0) / 65535.0).astype(np.float32)
    ok, buf = cv2.imencode(".jpg", np.round(ldr * 255.0).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV always has a JPEG codec
        raise RuntimeError("OpenCV cannot encode JPEG")
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0


def tolerance_study(n_scenes: int = 12, height: int = 96, width: int = 144, seed: int = 0,
                    curves: Optional[Iterable[str]] = None) -> Dict[str, Dict[str, List[float]]]:
    """Render the study's brackets and measure them (see the module docstring).

    Returns ``{curve: {"declared": [...], "delta": [...], "swapped_ok": [...],
    "repeated_ok": [...]}}``: ``delta`` is measured − declared for every judged pair; the
    ``*_ok`` lists say whether a swapped bracket (frames at 0, 2s, s declared 0, s, 2s) or a
    repeated one (three frames, with their shake and motion, all at the middle exposure) was
    wrongly accepted.
    """
    from .synthetic import SyntheticSpec, make_scene

    spec = SyntheticSpec(height=height, width=width)
    scenes = [make_scene(spec, np.random.default_rng([seed, 99, k])).radiance for k in range(n_scenes)]
    names = list(curves) if curves is not None else list(STUDY_CURVES)
    result: Dict[str, Dict[str, List[float]]] = {}
    for ci, name in enumerate(names):
        curve = STUDY_CURVES[name]
        rec: Dict[str, List[float]] = {"declared": [], "delta": [], "swapped_ok": [], "repeated_ok": []}
        for si, rad in enumerate(scenes):
            for stops in STUDY_STOPS:
                times = [2.0 ** s for s in stops]
                for gain in STUDY_GAINS:
                    for noise in STUDY_NOISE:
                        for quality in STUDY_CODECS:
                            rng = np.random.default_rng([seed, ci, si, int(stops[1]), int(gain * 4),
                                                         int(noise[0]), quality or 0])

                            def shot(k: int, t: float) -> np.ndarray:
                                return render_frame(rad[k] * gain, t, curve, noise, quality, rng)

                            frames = [shot(k, times[k]) for k in range(3)]
                            for c in measure_exposure_pairs(frames, times, tolerance_stops=1e9):
                                if c.measured_stops is not None:
                                    rec["declared"].append(c.declared_stops)
                                    rec["delta"].append(c.measured_stops - c.declared_stops)
                            swapped = [frames[0], frames[2], frames[1]]
                            rec["swapped_ok"].append(all(c.ok for c in measure_exposure_pairs(swapped, times)))
                            repeated = [shot(k, times[1]) for k in range(3)]  # shake and motion too
                            rec["repeated_ok"].append(all(c.ok for c in measure_exposure_pairs(repeated, times)))
        result[name] = rec
    return result


def study_table(result: Dict[str, Dict[str, List[float]]]) -> str:
    """The study as a Markdown table: |measured − declared| per curve and declared step.

    "worst / allowed" is the largest deviation as a fraction of what the default rule
    accepts on that side of the declared step (1 would be a refusal).
    """
    steps = sorted({float(d) for rec in result.values() for d in rec["declared"]})
    head = " | ".join(f"max at {s:g}" for s in steps)
    rows = [f"| camera curve | pairs judged | median | p99 | {head} | worst / allowed | swapped accepted "
            "| repeated accepted |", "|---|" + "---|" * (len(steps) + 6)]
    for name, rec in result.items():
        delta, dec = np.asarray(rec["delta"]), np.asarray(rec["declared"])
        d = np.abs(delta)
        per = " | ".join(f"{d[dec == s].max():.2f}" if (dec == s).any() else "–" for s in steps)
        used = max(_used_fraction(x, m) for x, m in zip(dec, delta)) if d.size else 0.0
        rows.append(f"| {name} | {d.size} | {np.median(d):.3f} | {np.percentile(d, 99):.2f} | {per} "
                    f"| {used:.2f} | {sum(rec['swapped_ok'])}/{len(rec['swapped_ok'])} "
                    f"| {sum(rec['repeated_ok'])}/{len(rec['repeated_ok'])} |")
    return "\n".join(rows)


def _used_fraction(declared: float, delta: float) -> float:
    lo, hi = accepted_range(float(declared))
    room = (hi - declared) if delta >= 0 else (declared - lo)
    return abs(delta) / room if room > 0 else math.inf


if __name__ == "__main__":  # pragma: no cover - the measurement, run by hand
    print(study_table(tolerance_study()))
