"""Running the MATLAB HDR-VDP 2.2.2 itself under GNU Octave: the reference the port is pinned to.

Used by ``scripts/make_hdrvdp_vectors.py`` (the golden vectors) and the benchmark's ``vdp``
part (speed against the port). :func:`prepare_toolbox` copies an unmodified toolbox folder
(e.g. ``Metrics/hdrvdp-2.2.2`` of github.com/mtntruong/LRT-HDR) to a scratch folder and makes
it run in Octave (needs ``octave``, ``octave-image`` and ``mkoctfile`` from ``liboctave-dev``):

* the MEX files corrDn, upConv and pointOp are compiled with ``mkoctfile --mex``
  (``#include "mex.h"`` in place of ``matrix.h``);
* ``ifft2(..., 'symmetric')`` loses its flag, which Octave lacks (the code takes ``real()``);
* Octave's ``imresize`` (image package) gets MATLAB's per-sample weight normalisation, so that
  non power-of-two resizing matches MATLAB; ``geomean`` is provided for ``surround_l = -1``.

:func:`run_cases` then calls ``hdrvdp`` on each case through ``hdrvdp_octave_driver.m``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

DRIVER = Path(__file__).resolve().parent / "hdrvdp_octave_driver.m"
Case = Tuple[np.ndarray, np.ndarray, str, float, Mapping[str, Any]]
"""(test, reference, color_encoding, pixels_per_degree, options) of one ``hdrvdp`` call."""


def _nice(cmd: Sequence[str], nice: bool) -> list:
    return (["nice", "-n", "19"] if nice else []) + list(cmd)


def find_octave(octave: str = "octave") -> Optional[str]:
    """The Octave executable's path, or None when ``octave`` is not on PATH (or not a file)."""
    return shutil.which(octave)


def run_octave(octave: str, code: str, cwd: Path, nice: bool = True) -> str:
    """Evaluate ``code`` in a fresh Octave in ``cwd``; returns its stdout (RuntimeError on failure)."""
    r = subprocess.run(_nice([octave, "--no-gui", "-q", "--eval", code], nice), cwd=cwd,
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"octave failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r.stdout


def prepare_toolbox(src: Path, work: Path, octave: str = "octave", nice: bool = True) -> Tuple[Path, Path]:
    """Copy the toolbox to ``work/``, patch it for Octave, compile its MEX files; returns (toolbox, shims)."""
    src = Path(src)
    if not (src / "hdrvdp.m").is_file():
        raise FileNotFoundError(f"{src}: not an HDR-VDP 2.2.2 folder (no hdrvdp.m)")
    tb = work / "hdrvdp-2.2.2"
    shutil.copytree(src, tb)
    for name in ("fast_conv_fft.m", "fast_gauss.m"):
        f = tb / name
        f.write_text(f.read_text().replace(", 'symmetric' )", " )"))
    pyr = tb / "matlabPyrTools_1.4_fixed"
    sibling = Path(octave).with_name("mkoctfile")  # the compiler of the Octave we were given
    mkoctfile = str(sibling) if Path(octave).is_absolute() and sibling.is_file() else "mkoctfile"
    for name in ("corrDn", "upConv", "pointOp"):
        c = pyr / "MEX" / f"{name}.c"
        c.write_text(c.read_text().replace("#include <matrix.h>", '#include "mex.h"'))
        srcs = [str(c)] + ([str(pyr / "MEX" / s) for s in ("convolve.c", "edges.c", "wrap.c")]
                           if name != "pointOp" else [])
        subprocess.run(_nice([mkoctfile, "--mex", "-o", str(pyr / f"{name}.mex"), *srcs], nice),
                       check=True, capture_output=True)
    shims = work / "shims"
    shims.mkdir()
    found = run_octave(octave, "pkg load image; disp(which('imresize'))", work, nice).strip().splitlines()[-1]
    text = Path(found).read_text()
    old_init = "  out = zeros (out_shape);\n"
    old_end = "      out += img(:, idx_padded, :) .* kernel (h);\n    endif\n  endfor\n"
    if text.count(old_init) != 1 or text.count(old_end) != 1:
        raise RuntimeError(f"unexpected imresize.m layout in {found}")
    text = text.replace(old_init, old_init + "  wsum = 0;\n")
    text = text.replace("      out += img(idx_padded, :, :) .* kernel (h);\n",
                        "      out += img(idx_padded, :, :) .* kernel (h);\n      wsum += kernel (h);\n")
    text = text.replace(old_end, "      out += img(:, idx_padded, :) .* kernel (h);\n"
                                 "      wsum += kernel (h);\n    endif\n  endfor\n"
                                 "  out ./= wsum;  # MATLAB normalises the weights\n")
    (shims / "imresize.m").write_text(text)
    (shims / "geomean.m").write_text("function g = geomean(x)\n  g = exp(mean(log(x)));\nend\n")
    return tb, shims


def run_cases(cases: Mapping[str, Case], toolbox: Path, shims: Path, work: Path, octave: str = "octave",
              nice: bool = True) -> Tuple[Dict[str, Any], str]:
    """``hdrvdp`` on every case in one Octave process; returns (loadmat of the results, Octave's log).

    Each result has Q, P_det, C_max, P_map and ``seconds`` (the ``hdrvdp`` call alone, tic/toc);
    the mapping also holds ``octave_version`` and ``image_pkg_version``.
    """
    import scipy.io

    inputs: Dict[str, object] = {"case_names": np.array(list(cases), dtype=object)}
    for name, (test, ref, enc, ppd, opts) in cases.items():
        # 1-D object arrays become cell arrays; np.array(list_of_lists, dtype=object)
        # would make a 2-D cell and split a vector option into its elements
        opt_names = np.empty(len(opts), dtype=object)
        opt_values = np.empty(len(opts), dtype=object)
        for j, (key, value) in enumerate(opts.items()):
            opt_names[j] = key
            opt_values[j] = value if isinstance(value, str) else np.asarray(value, dtype=np.float64)
        inputs[name] = {"test": test, "ref": ref, "enc": enc, "ppd": ppd,
                        "opt_names": opt_names, "opt_values": opt_values}
    scipy.io.savemat(work / "in.mat", inputs)
    shutil.copy(DRIVER, work)
    log = run_octave(octave, f"hdrvdp_octave_driver('in.mat', 'out.mat', '{toolbox}', '{shims}')", work, nice)
    out = scipy.io.loadmat(work / "out.mat", squeeze_me=True, struct_as_record=False)
    return out, log


__all__ = ["DRIVER", "find_octave", "prepare_toolbox", "run_cases", "run_octave"]
