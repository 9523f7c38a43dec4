"""Where an HDR prediction's error lies: static unclipped, static clipped and moving pixels.

A synthetic scene is re-rendered from its dataset's ``synthetic.json`` (scenes depend only on
(seed, split, index)), which gives its moving objects' masks per frame. A pixel is *moving*
when an object covers it in any of the three frames (grown by ``GROW`` pixels: the objects'
soft edges and the camera shake); a static pixel is *clipped* when the reference frame is
over- or under-exposed there (its largest channel above ``HIGH`` or below ``LOW``), where the
other frames must supply the radiance. Per region: PSNR-μ and PSNR-l, the share of the image's
squared μ-law and linear error that lies there, and the share of pixels.

``python -m selfhdr.engine.regions --data-root data/synthetic --split Test NAME=DIR ...``
prints the table for the predictions in each ``DIR`` (``<scene>.hdr``, as test.py writes).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import cv2
import numpy as np

from ..data.scene import REFERENCE, list_scenes, read_scene
from ..data.synthetic import MANIFEST, SyntheticSpec, make_scene, scene_rng
from ..io import read_hdr
from ..tonemap import mu_law

REGIONS = ("static unclipped", "static clipped", "moving")
GROW = 3
HIGH = 0.95
LOW = 0.05


def synthetic_regions(root: Path, split: str, scene: str) -> Dict[str, np.ndarray]:
    """Boolean H×W masks of the three regions of one scene of a synthetic dataset."""
    manifest = Path(root) / MANIFEST
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: not a synthetic dataset (region masks need its spec)")
    spec = SyntheticSpec(**json.loads(manifest.read_text()))
    index = int(scene.rsplit("_", 1)[1]) - 1
    rendered = make_scene(spec, scene_rng(spec.seed, split, index))
    label = Path(root) / split / scene / "HDRImg.hdr"
    if label.is_file() and not np.allclose(read_hdr(label), rendered.hdr, atol=1e-2, rtol=1e-2):
        raise ValueError(f"{label}: differs from the scene its synthetic.json renders (edited dataset?)")
    moving = np.max(np.stack(rendered.object_masks), axis=0) > 0.01
    if GROW:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * GROW + 1, 2 * GROW + 1))
        moving = cv2.dilate(moving.astype(np.uint8), kernel) > 0
    peak = rendered.ldrs[1].max(axis=-1)
    clipped = (peak > HIGH) | (peak < LOW)
    return {"static unclipped": ~moving & ~clipped, "static clipped": ~moving & clipped, "moving": moving}


def region_scores(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray],
                  masks: Sequence[Mapping[str, np.ndarray]]) -> Dict[str, Dict[str, float]]:
    """Per region over all scenes: PSNR-μ of the pooled pixels, share of squared μ error, of pixels."""
    sq = {(d, r): 0.0 for d in ("mu", "l") for r in REGIONS}
    count = {r: 0 for r in REGIONS}
    for pred, gt, m in zip(preds, gts, masks):
        p, g = np.clip(pred, 0, 1), np.clip(gt, 0, 1)
        errs = {"mu": (mu_law(p) - mu_law(g)) ** 2, "l": (p - g) ** 2}
        for r in REGIONS:
            for d, err in errs.items():
                sq[d, r] += float(err[m[r]].sum())
            count[r] += int(m[r].sum()) * p.shape[-1]
    total_n = sum(count.values())
    out: Dict[str, Dict[str, float]] = {}
    for r in REGIONS:
        out[r] = {"pixel_share": count[r] / max(total_n, 1)}
        for d in ("mu", "l"):
            mse = sq[d, r] / max(count[r], 1)
            total = sum(sq[d, q] for q in REGIONS)
            out[r][f"psnr_{d}"] = float(10 * np.log10(1.0 / max(mse, 1e-12)))
            out[r]["error_share" if d == "mu" else "error_share_l"] = sq[d, r] / max(total, 1e-30)
    return out


def region_table(root: Path, split: str, methods: Mapping[str, Path],
                 score: Callable[..., Dict[str, Dict[str, float]]] = region_scores,
                 with_reference: bool = False) -> Dict[str, Dict[str, Dict[str, float]]]:
    """``{method: score(preds, gts, masks)}`` for the predictions ``<dir>/<scene>.hdr`` of each
    method (``with_reference``: ``score(preds, gts, masks, reference LDR frames)``)."""
    dirs = list_scenes(Path(root) / split)
    scenes = [d.name for d in dirs]
    masks = [synthetic_regions(root, split, s) for s in scenes]
    gts = [read_hdr(Path(root) / split / s / "HDRImg.hdr") for s in scenes]
    extra = ([read_scene(d).ldrs[REFERENCE] for d in dirs],) if with_reference else ()
    out = {}
    for name, folder in methods.items():
        missing = [s for s in scenes if not (Path(folder) / f"{s}.hdr").is_file()]
        if missing:
            raise FileNotFoundError(f"{folder}: no prediction for {', '.join(missing)}")
        preds = [read_hdr(Path(folder) / f"{s}.hdr") for s in scenes]
        out[name] = score(preds, gts, masks, *extra)
    return out


BANDS = ((0.0, 1e-3), (1e-3, 1e-2), (1e-2, 1e-1), (1e-1, 1.0))
"""Label brightness bands (linear, of the label's pixel mean) for :func:`band_scores`."""


def band_scores(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], masks: Sequence[Mapping[str, np.ndarray]],
                region: str = "static unclipped") -> Dict[str, Dict[str, float]]:
    """Within one region, per label-brightness band: share of the region's pixels, PSNR-μ, mean μ
    error, PSNR-l and the band's share of the region's squared linear error."""
    errs, lin, levels = [], [], []
    for pred, gt, m in zip(preds, gts, masks):
        p, g = np.clip(pred, 0, 1), np.clip(gt, 0, 1)
        errs.append((mu_law(p) - mu_law(g))[m[region]])
        lin.append((p - g)[m[region]])
        levels.append(g[m[region]].mean(axis=-1))
    e, el, g = np.concatenate(errs), np.concatenate(lin), np.concatenate(levels)
    total_l = float((el ** 2).sum())
    out = {}
    for lo, hi in BANDS:
        k = (g >= lo) & (g < hi) if hi < 1.0 else (g >= lo)
        mse = float((e[k] ** 2).mean()) if k.any() else float("nan")
        mse_l = float((el[k] ** 2).mean()) if k.any() else float("nan")
        out[f"{lo:g}-{hi:g}"] = {"pixel_share": float(k.mean()), "psnr_mu": float(10 * np.log10(1.0 / max(mse, 1e-12))),
                                  "bias_mu": float(e[k].mean()) if k.any() else float("nan"),
                                  "psnr_l": float(10 * np.log10(1.0 / max(mse_l, 1e-12))),
                                  "error_share_l": float((el[k] ** 2).sum()) / max(total_l, 1e-30)}
    return out


SMOOTH_SIGMA = 4.0
"""Gaussian σ (pixels) that splits an error into its smooth part and the rest (:func:`saturation_scores`)."""


def saturation_scores(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray],
                      masks: Sequence[Mapping[str, np.ndarray]], refs: Sequence[np.ndarray]) -> Dict[str, Dict[str, float]]:
    """On static pixels where the reference is over-exposed, by how many of its channels are
    (above ``HIGH``): share of those pixels, PSNR-l, share of their squared linear error, and
    PSNR-l of the error's smooth part (the error blurred by :data:`SMOOTH_SIGMA`: a colour or
    level offset rather than texture or noise), and PSNR-l of its chroma part (the error less
    its mean over the channels: a wrong colour at the right brightness)."""
    sq = {k: 0.0 for k in (1, 2, 3)}
    smooth, chroma = dict(sq), dict(sq)
    count = {k: 0 for k in (1, 2, 3)}
    for pred, gt, m, ref in zip(preds, gts, masks, refs):
        err = (np.clip(pred, 0, 1) - np.clip(gt, 0, 1)).astype(np.float32)
        blurred = cv2.GaussianBlur(err, (0, 0), SMOOTH_SIGMA)
        colour = err - err.mean(axis=-1, keepdims=True)
        n_sat = (ref > HIGH).sum(axis=-1)
        for k in (1, 2, 3):
            sel = m["static clipped"] & (n_sat == k)
            sq[k] += float((err[sel] ** 2).sum())
            smooth[k] += float((blurred[sel] ** 2).sum())
            chroma[k] += float((colour[sel] ** 2).sum())
            count[k] += int(sel.sum()) * err.shape[-1]
    total, total_n = sum(sq.values()), sum(count.values())
    out = {}
    for k in (1, 2, 3):
        n = max(count[k], 1)
        out[f"{k} of 3"] = {"pixel_share": count[k] / max(total_n, 1),
                            "psnr_l": float(10 * np.log10(n / max(sq[k], 1e-12))),
                            "error_share_l": sq[k] / max(total, 1e-30),
                            "psnr_l_smooth": float(10 * np.log10(n / max(smooth[k], 1e-12))),
                            "psnr_l_chroma": float(10 * np.log10(n / max(chroma[k], 1e-12)))}
    return out


def saturation_markdown(table: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """Rows: methods; per saturated-channel count PSNR-l / error share / PSNR-l of the smooth
    part / PSNR-l of the chroma part."""
    first = next(iter(table.values()))
    rows = ["| method | " + " | ".join(f"{k} channels saturated ({v['pixel_share']:.0%})" for k, v in first.items()) + " |",
            "|---|" + "---:|" * len(first)]
    for name, parts in table.items():
        rows.append(f"| {name} | " + " | ".join(
            f"{v['psnr_l']:.2f} / {v['error_share_l']:.0%} / {v['psnr_l_smooth']:.2f} / {v['psnr_l_chroma']:.2f}"
            for v in parts.values()) + " |")
    return "\n".join(rows)


def markdown(table: Mapping[str, Mapping[str, Mapping[str, float]]], domain: str = "mu") -> str:
    """Rows: methods; per region PSNR (``domain`` 'mu' or 'l') and that error's share."""
    first = next(iter(table.values()))
    label, share = ("PSNR-μ", "error_share") if domain == "mu" else ("PSNR-l", "error_share_l")
    head = "| method | " + " | ".join(f"{r} ({first[r]['pixel_share']:.0%} of pixels): {label} / error share"
                                       for r in REGIONS) + " |"
    rows = [head, "|---|" + "---:|" * len(REGIONS)]
    for name, scores in table.items():
        rows.append(f"| {name} | " + " | ".join(f"{scores[r][f'psnr_{domain}']:.2f} / {scores[r][share]:.0%}"
                                                 for r in REGIONS) + " |")
    return "\n".join(rows)


def band_markdown(table: Mapping[str, Mapping[str, Mapping[str, float]]], domain: str = "mu") -> str:
    """Rows: methods; per band (its share of the region's pixels) PSNR-μ / mean μ error, or with
    ``domain`` 'l' PSNR-l / the band's share of the region's squared linear error."""
    first = next(iter(table.values()))
    rows = ["| method | " + " | ".join(f"label {b} ({v['pixel_share']:.0%})" for b, v in first.items()) + " |",
            "|---|" + "---:|" * len(first)]
    for name, bands in table.items():
        cells = [f"{v['psnr_mu']:.1f} / {v['bias_mu']:+.4f}" if domain == "mu" else
                 f"{v['psnr_l']:.1f} / {v['error_share_l']:.0%}" for v in bands.values()]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: Optional[List[str]] = None) -> int:
    """Print the region table of the given prediction folders."""
    p = argparse.ArgumentParser(prog="python -m selfhdr.engine.regions", description=__doc__.split("\n")[0])
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--split", default="Test")
    p.add_argument("methods", nargs="+", help="NAME=DIR: a folder of <scene>.hdr predictions")
    p.add_argument("--bands", action="store_true",
                   help="instead: per label-brightness band within one region (--region), PSNR-μ / mean "
                        "μ-law error, then PSNR-l / share of the region's squared linear error")
    p.add_argument("--region", default="static unclipped", choices=REGIONS, help="the region --bands splits")
    p.add_argument("--saturation", action="store_true",
                   help="instead: static pixels where the reference is over-exposed, by how many of its "
                        "channels are: PSNR-l / share of their squared linear error / PSNR-l of the "
                        "error's smooth part (blurred by SMOOTH_SIGMA) / PSNR-l of its chroma part "
                        "(less its mean over the channels)")
    args = p.parse_args(argv)
    methods = {}
    for item in args.methods:
        name, eq, folder = item.partition("=")
        if not eq:
            p.error(f"{item!r}: expected NAME=DIR")
        methods[name] = Path(folder)
    try:
        if args.saturation:
            table = region_table(args.data_root, args.split, methods, saturation_scores, with_reference=True)
            print(saturation_markdown(table))
        elif args.bands:
            score = functools.partial(band_scores, region=args.region)
            table = region_table(args.data_root, args.split, methods, score)
            print(band_markdown(table, "mu") + "\n\n" + band_markdown(table, "l"))
        else:
            table = region_table(args.data_root, args.split, methods)
            print(markdown(table, "mu") + "\n\n" + markdown(table, "l"))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
