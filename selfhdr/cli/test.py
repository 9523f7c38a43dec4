"""Evaluate a checkpoint on a Kalantari-format split: one .hdr and .png per scene, metrics.json.

Scenes with a label (``HDRImg.hdr``) are scored; scenes without one (your own imported
brackets) get their outputs and a note, so the command works on unlabelled data too.

Example: ``python scripts/test.py --checkpoint runs/demo/stage2/model.pth --data-root
data/synthetic --out runs/demo/test_again``. Released SelfHDR weights load as they are; the
backbone is read from the checkpoint or detected from its shapes (``--backbone`` overrides),
and files without a recorded channel order are fed B, G, R frames as they were trained.

``--metrics psnr_mu,psnr_l,ssim_mu,ssim_l,hdr_vdp2`` adds HDR-VDP-2's Q (seconds per scene;
not a default), called as LRT-HDR's ``Metrics/eval_HDRv.m`` does: prediction and label × 65535
as cd/m², 'rgb-bt.709', 30 pixels per degree (``--hdr-vdp2-*`` change them).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional
from pathlib import Path

from selfhdr.cli import add_tile_option, parser
from selfhdr.archs import list_backbones
from selfhdr.engine.device import keep_freed_memory, resolve_device
from selfhdr.engine.evaluate import (METRIC_KEYS, METRICS, HDRVDP2Config, check_metrics, evaluate_predictor,
                                     labelled_scenes, markdown_table)
from selfhdr.engine.predict import predict_hdr
from selfhdr.engine.testing import load_for_inference
from selfhdr.errors import SelfHDRError
from selfhdr.io import check_output_dir


def _metrics(text: str) -> List[str]:
    try:
        return check_metrics([m.strip() for m in text.split(",") if m.strip()])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Optional[List[str]] = None) -> int:
    """Evaluate a checkpoint on a split: outputs for every scene, metrics where labelled."""
    p = parser(__name__, __doc__)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data-root", required=True)
    p.add_argument("--split", default="Test")
    p.add_argument("--out", required=True, help="folder for metrics.json, .hdr outputs and .png previews")
    p.add_argument("--backbone", choices=list_backbones(), help="override the checkpoint's backbone")
    p.add_argument("--channel-order", choices=["rgb", "bgr"], help="override the checkpoint's channel order")
    add_tile_option(p)
    p.add_argument("--overlap", type=int, help="tile overlap (default: exact for the CNNs)")
    p.add_argument("--aligned-inputs", action="store_true",
                   help="feed the flow-aligned <split>_align frames (the published FSHDR protocol)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                   help="bf16: autocast on AMX/AVX512-BF16 CPUs or CUDA (faster, outputs change by "
                        "~1e-2); fp16: CUDA only")
    p.add_argument("--device", default="auto")
    vdp = HDRVDP2Config()
    p.add_argument("--metrics", type=_metrics, default=list(METRIC_KEYS),
                   help=f"comma-separated columns, any of {','.join(METRICS)} (default: "
                        f"{','.join(METRIC_KEYS)}; hdr_vdp2 takes seconds per scene)")
    p.add_argument("--hdr-vdp2-scale", type=float, default=vdp.scale,
                   help=f"cd/m² per label unit for hdr_vdp2 (default {vdp.scale:g}, as eval_HDRv.m)")
    p.add_argument("--hdr-vdp2-ppd", type=float, default=vdp.pixels_per_degree,
                   help=f"pixels per visual degree for hdr_vdp2 (default {vdp.pixels_per_degree:g})")
    p.add_argument("--hdr-vdp2-color-encoding", choices=["rgb-bt.709", "XYZ"], default=vdp.color_encoding,
                   help=f"colour encoding for hdr_vdp2 (default {vdp.color_encoding})")
    a = p.parse_args(argv)
    vdp = HDRVDP2Config(a.hdr_vdp2_scale, a.hdr_vdp2_ppd, a.hdr_vdp2_color_encoding)
    try:
        vdp.validate()
    except ValueError as exc:
        p.error(f"--hdr-vdp2-*: {exc}")
    keep_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = Path(a.out)
    try:
        split_dir = Path(a.data_root) / a.split
        check_output_dir(out)
        labelled = labelled_scenes(split_dir)  # also fails early on a missing or empty split
        device = resolve_device(a.device)
        net, bgr, _ = load_for_inference(a.checkpoint, a.backbone, a.channel_order, device)
        result = evaluate_predictor(
            split_dir,
            lambda s: predict_hdr(net, s.ldrs, s.times, tile=a.tile, overlap=a.overlap, bgr=bgr,
                                  precision=a.precision),
            out, desc="test",
            inputs_dir=Path(a.data_root) / f"{a.split}_align" if a.aligned_inputs else None,
            metrics=a.metrics, vdp=vdp)
    except SelfHDRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if result["scenes"]:
        rows = {name: m for name, m in result["scenes"].items()}
        rows["**mean**"] = result["mean"]
        print(markdown_table(rows, a.metrics))
    unlabelled = result["unlabelled"]
    if unlabelled:
        what = "no scene has a label" if not labelled else \
            f"{len(unlabelled)} of {len(unlabelled) + len(labelled)} scenes have no label"
        print(f"note: {what} (HDRImg.hdr), so there are no metrics for "
              f"{', '.join(unlabelled[:5])}{' …' if len(unlabelled) > 5 else ''}; their outputs are written")
    print(f"wrote {len(result['scenes']) + len(unlabelled)} outputs (.hdr + .png) and {out / 'metrics.json'}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
