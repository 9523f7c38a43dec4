"""Evaluate two-exposure fusion: the network against the mean and Mertens, by MEF-SSIM."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np

from ..archs.fusion_net import FusionNet, fuse_pair
from ..data.pairs import PairFiles, find_pairs, read_pair
from ..errors import InputError, PathLike
from ..io import atomic_write_text, check_file, quantise, write_ldr
from ..metrics.mef_ssim import mef_ssim

Fuser = Callable[[np.ndarray, np.ndarray], np.ndarray]
NETWORK = "network"


def fuse_mean(under: np.ndarray, over: np.ndarray) -> np.ndarray:
    """Baseline: the per-pixel mean of the two frames."""
    return ((under.astype(np.float32) + over.astype(np.float32)) / 2).astype(np.float32)


def fuse_mertens(under: np.ndarray, over: np.ndarray) -> np.ndarray:
    """Baseline: OpenCV's Mertens exposure fusion with its default weights, clipped to [0, 1].

    OpenCV divides every input by 255 whatever its type, so the [0, 1] float frames are
    scaled up first, and it expects B, G, R (its contrast measure uses a BGR grey).
    """
    frames = [np.ascontiguousarray(f[..., ::-1] * np.float32(255)) for f in (under, over)]
    fused = cv2.createMergeMertens().process(frames)
    return np.clip(fused[..., ::-1], 0.0, 1.0).astype(np.float32)


BASELINES: Dict[str, Fuser] = {"mean": fuse_mean, "mertens": fuse_mertens}


PROTOCOLS = {
    "float": "MEF-SSIM (Ma et al. 2015, 3 scales; float inputs in [0, 1])",
    "mefb": "MEF-SSIM (Ma et al. 2015, 3 scales; MEFB's protocol: 8-bit inputs and fused files, "
            "rgb2gray rounded)",
}
"""How :func:`evaluate_fusion` scores: ``float`` scores the [0, 1] images as computed; ``mefb``
scores what MEFB's ``metricsMEF_SSIM.m`` reads: the 8-bit input files and the 8-bit fused PNG
written here, each turned grey by MATLAB's ``rgb2gray`` on uint8 (which rounds)."""


def _scored(image: np.ndarray, protocol: str) -> np.ndarray:
    return quantise(image, 8) if protocol == "mefb" else image


@dataclass
class FusionReport:
    """Per-pair MEF-SSIM of every fusion method, in pair order."""

    names: List[str] = field(default_factory=list)
    scores: Dict[str, List[float]] = field(default_factory=dict)
    protocol: str = "float"
    """How the scores were computed: a key of :data:`PROTOCOLS`."""

    def means(self) -> Dict[str, float]:
        """Mean MEF-SSIM of each method over the pairs."""
        return {m: float(np.mean(v)) for m, v in self.scores.items()}

    def to_dict(self) -> Dict[str, object]:
        """JSON-ready form: metric, per-pair scores and means."""
        return {
            "metric": PROTOCOLS[self.protocol],
            "protocol": self.protocol,
            "methods": list(self.scores),
            "pairs": {n: {m: v[i] for m, v in self.scores.items()} for i, n in enumerate(self.names)},
            "mean": self.means(),
        }

    def wins(self, method: str = NETWORK, against: str = "mertens") -> int:
        """Pairs on which ``method`` scores strictly above ``against``."""
        return sum(a > b for a, b in zip(self.scores[method], self.scores[against]))

    def table(self) -> str:
        """A plain-text table, one row per pair, a mean row, and the network's wins over Mertens."""
        methods = list(self.scores)
        width = max([len("pair"), len("mean")] + [len(n) for n in self.names])
        lines = ["  ".join([f"{'pair':<{width}}"] + [f"{m:>9}" for m in methods])]
        for i, name in enumerate(self.names):
            lines.append("  ".join([f"{name:<{width}}"] + [f"{self.scores[m][i]:>9.4f}" for m in methods]))
        means = self.means()
        lines.append("  ".join([f"{'mean':<{width}}"] + [f"{means[m]:>9.4f}" for m in methods]))
        if NETWORK in self.scores and "mertens" in self.scores:
            lines.append(f"network above mertens on {self.wins()} of {len(self.names)} pairs "
                         f"(mean difference {means[NETWORK] - means['mertens']:+.4f})")
        return "\n".join(lines)


def pairs_from_inputs(inputs: Sequence[PathLike]) -> List[PairFiles]:
    """One folder of pairs (see :mod:`selfhdr.data.pairs`) or exactly two image files."""
    if len(inputs) == 1:
        if not Path(inputs[0]).is_dir():
            raise InputError(inputs[0], "not a folder (give a folder of pairs or two image files)")
        return find_pairs(inputs[0])
    if len(inputs) == 2:
        a, b = (check_file(p) for p in inputs)
        name = re.sub(r"_[AB]$", "", a.stem) or "pair"
        return [PairFiles(name, a, b, True)]
    raise InputError(None, f"give one folder of pairs or two image files, got {len(inputs)} path(s): "
                           f"{', '.join(map(str, inputs))}")


SHEET_HEIGHT = 180
"""Height in pixels of each image on a contact sheet."""


def contact_sheet(report: FusionReport, pairs: Sequence[PairFiles], out_dir: PathLike, out_png: PathLike,
                  count: int = 6) -> Path:
    """A PNG of ``count`` pairs, evenly spaced in the report's order: under, over, then each method's
    fused image (as ``evaluate_fusion`` wrote it to ``out_dir/<method>/``) with its MEF-SSIM."""
    if not report.names:
        raise ValueError("contact_sheet: the report has no pairs")
    n = len(report.names)
    picks = sorted({round(i * (n - 1) / max(count - 1, 1)) for i in range(min(count, n))})
    by_name = {p.name: p for p in pairs}
    methods = list(report.scores)
    rows = []
    for i in picks:
        name = report.names[i]
        under, over = read_pair(by_name[name])
        cells = [(under, f"{name}: under"), (over, "over")]
        for m in methods:
            fused = cv2.imread(str(Path(out_dir) / m / f"{name}.png"), cv2.IMREAD_COLOR)
            if fused is None:
                raise InputError(Path(out_dir) / m / f"{name}.png", "missing: fuse the pairs with an output folder first")
            cells.append((fused[..., ::-1].astype(np.float32) / 255.0, f"{m} {report.scores[m][i]:.4f}"))
        row = []
        for img, label in cells:
            h, w = img.shape[:2]
            tile = cv2.resize(img, (max(1, round(w * SHEET_HEIGHT / h)), SHEET_HEIGHT), interpolation=cv2.INTER_AREA)
            tile = np.ascontiguousarray(quantise(tile[..., ::-1], 8))
            cv2.rectangle(tile, (0, 0), (tile.shape[1], 18), (0, 0, 0), -1)
            cv2.putText(tile, label, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
            row.append(tile)
        rows.append(np.concatenate(row, axis=1))
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    out = Path(out_png)
    write_ldr(out, sheet[..., ::-1].astype(np.float32) / 255.0, bits=8)
    return out


def evaluate_fusion(pairs: Sequence[PairFiles], net: Optional[FusionNet] = None,
                    out_dir: Optional[PathLike] = None,
                    log: Optional[Callable[[str], None]] = None,
                    baselines: Sequence[str] = tuple(BASELINES),
                    protocol: str = "float") -> FusionReport:
    """Fuse every pair with the network (if given) and ``baselines``; score by MEF-SSIM.

    With ``out_dir``, fused images go to ``<out_dir>/<method>/<pair>.png`` (8-bit) and the
    report to ``<out_dir>/metrics.json``. ``protocol`` (see :data:`PROTOCOLS`): ``float``
    scores the float [0, 1] images, ``mefb`` their 8-bit files as MEFB does. For a
    validation hook, ``baselines=()`` scores the network alone.
    """
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {', '.join(BASELINES)}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    fusers: Dict[str, Fuser] = {}
    if net is not None:
        fusers[NETWORK] = lambda u, o: fuse_pair(net, u, o)
    fusers.update((b, BASELINES[b]) for b in baselines)
    if not fusers:
        raise ValueError("nothing to evaluate: no network and no baselines")
    report = FusionReport(scores={m: [] for m in fusers}, protocol=protocol)
    for pair in pairs:
        under, over = read_pair(pair)
        report.names.append(pair.name)
        sources = [_scored(under, protocol), _scored(over, protocol)]
        for method, fuser in fusers.items():
            fused = fuser(under, over)
            report.scores[method].append(mef_ssim(sources, _scored(fused, protocol)))
            if out_dir is not None:
                write_ldr(Path(out_dir) / method / f"{pair.name}.png", fused, bits=8)
        if log is not None:
            log(f"{pair.name}: " + ", ".join(f"{m} {report.scores[m][-1]:.4f}" for m in fusers))
    if out_dir is not None:
        atomic_write_text(Path(out_dir) / "metrics.json", json.dumps(report.to_dict(), indent=2) + "\n")
    return report
