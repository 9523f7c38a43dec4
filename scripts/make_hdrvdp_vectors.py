"""Regenerate tests/fixtures/hdrvdp2/vectors.npz by running HDR-VDP 2.2.2 itself under GNU Octave.

    python scripts/make_hdrvdp_vectors.py --toolbox /path/to/hdrvdp-2.2.2

``--toolbox`` is an unmodified copy of the MATLAB toolbox (e.g. ``Metrics/hdrvdp-2.2.2`` of
github.com/mtntruong/LRT-HDR). It is copied to a scratch folder and made to run in Octave by
``selfhdr.metrics.hdrvdp.octave`` (needs ``octave``, ``octave-image`` and ``liboctave-dev``).

The inputs come from ``tests/metrics/hdrvdp2_cases.py``; the file stores Q, P_det, C_max, a
4x subsampled P_map and input checksums per case. The port's agreement is printed at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "metrics"))
sys.path.insert(0, str(ROOT))

import hdrvdp2_cases as cases  # noqa: E402
from selfhdr.metrics import hdr_vdp2  # noqa: E402
from selfhdr.metrics.hdrvdp.octave import prepare_toolbox, run_cases  # noqa: E402

P_MAP_STEP = 4


def main() -> None:
    """Parse arguments, run Octave on every case, write the vectors file."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--toolbox", type=Path, required=True, help="unmodified hdrvdp-2.2.2 folder")
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "hdrvdp2" / "vectors.npz")
    ap.add_argument("--octave", default="octave")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="hdrvdp_octave_") as tmp:
        work = Path(tmp)
        tb, shims = prepare_toolbox(args.toolbox.resolve(), work, args.octave)
        made = {name: cases.make_case(name) for name in cases.CASES}
        t0 = time.time()
        out, log = run_cases(made, tb, shims, work, args.octave)
        seconds = time.time() - t0
        print(log.strip())

    vectors: dict[str, np.ndarray] = {
        "octave_version": np.array(str(out["octave_version"])),
        "image_pkg_version": np.array(str(out["image_pkg_version"])),
        "p_map_step": np.array(P_MAP_STEP),
    }
    worst_q = worst_p = 0.0
    for name, (test, ref, enc, ppd, opts) in made.items():
        r = out[name]
        vectors[f"{name}/Q"] = np.array(float(r.Q))
        vectors[f"{name}/P_det"] = np.array(float(r.P_det))
        vectors[f"{name}/C_max"] = np.array(float(r.C_max))
        vectors[f"{name}/P_map"] = np.asarray(r.P_map, dtype=np.float64)[::P_MAP_STEP, ::P_MAP_STEP]
        vectors[f"{name}/input_checksum"] = np.concatenate([cases.checksum(test), cases.checksum(ref)])
        ours = hdr_vdp2(test, ref, enc, ppd, disable_lowvals_warning=True, **opts)
        dq, dp = abs(ours.Q - float(r.Q)), abs(ours.P_det - float(r.P_det))
        worst_q, worst_p = max(worst_q, dq), max(worst_p, dp)
        print(f"{name:28s} Q={float(r.Q):10.5f} dQ={dq:.2e} P_det={float(r.P_det):.6f} dP={dp:.2e}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **vectors)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes); Octave took {seconds:.1f} s; "
          f"port max |dQ| = {worst_q:.2e}, max |dP_det| = {worst_p:.2e}")


if __name__ == "__main__":
    main()
