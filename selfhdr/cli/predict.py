"""Reconstruct an HDR image from your own bracket of three exposures.

Example: ``python scripts/predict.py --checkpoint model.pth --images a.jpg b.jpg c.jpg
--out result.exr`` (exposures from EXIF), or add ``--exposures 0 2 4`` (EV stops, same order
as the images). Writes the .hdr/.exr and a tonemapped PNG preview beside it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional
from pathlib import Path

from selfhdr.archs import list_backbones
from selfhdr.engine.device import keep_freed_memory, resolve_device
from selfhdr.engine.predict import predict_hdr
from selfhdr.engine.testing import load_for_inference, read_bracket
from selfhdr.errors import SelfHDRError
from selfhdr.io import write_hdr, write_preview


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--images", nargs=3, required=True, metavar="IMG", help="three exposures, any order")
    p.add_argument("--exposures", nargs=3, type=float, metavar="EV", help="EV stops in the images' order")
    p.add_argument("--out", required=True, help="output .hdr or .exr")
    p.add_argument("--backbone", choices=list_backbones())
    p.add_argument("--channel-order", choices=["rgb", "bgr"])
    p.add_argument("--tile", type=int, default=512, help="tile side (0: whole image at once)")
    p.add_argument("--overlap", type=int)
    p.add_argument("--tonemap", default="display", choices=["mu", "display"], help="preview tonemapper")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                   help="bf16: autocast on AMX/AVX512-BF16 CPUs or CUDA (faster, outputs change by "
                        "~1e-2); fp16: CUDA only")
    p.add_argument("--device", default="auto")
    a = p.parse_args(argv)
    keep_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = Path(a.out)
    if out.suffix.lower() not in (".hdr", ".exr"):
        print("error: --out must end in .hdr or .exr", file=sys.stderr)
        return 2
    try:
        ldrs, times, order = read_bracket(a.images, a.exposures)
        net, bgr, _ = load_for_inference(a.checkpoint, a.backbone, a.channel_order, resolve_device(a.device))
        hdr = predict_hdr(net, ldrs, times, tile=a.tile or None, overlap=a.overlap, bgr=bgr,
                          precision=a.precision)
        write_hdr(out, hdr)
        write_preview(out.with_suffix(".png"), hdr, tonemap=a.tonemap)
    except SelfHDRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"frames (short → long): {', '.join(p.name for p in order)}; relative times {times.tolist()}")
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
