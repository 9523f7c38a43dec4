"""Reconstruct HDR images from your own brackets: one bracket, or every bracket of a folder.

One bracket (three or more exposures, any order; exposures from EXIF, or EV stops with
``--exposures`` in the images' order)::

    selfhdr-predict --checkpoint model.pth --images a.jpg b.jpg c.jpg --out result.exr

Without ``--checkpoint`` the weights that ship with selfhdr are used, and the command says so:
a small AHDRNet trained on synthetic scenes only (model card: ``pretrained/SHIPPED.md``), good
for trying the tools on a bracket right after installing, not for best quality on photographs.

Every bracket of a folder: ``selfhdr-import``'s output (its Training/ and Test/ scenes), any
Kalantari-layout split, or camera files read as the importer reads them (one sub-folder per
bracket, or a flat folder grouped by EXIF capture time; JPEG, PNG, TIFF, RAW with the extra)::

    selfhdr-predict --checkpoint model.pth --input photos --out predicted

Each output is an .hdr (or .exr, ``--format exr``) with a tonemapped .png beside it. Output
locations are checked before any work; frames whose brightness contradicts their declared
exposures are refused by name (``--allow-mismatch`` skips that check).
"""

from __future__ import annotations

import logging
import sys
from typing import List, Optional
from pathlib import Path

from selfhdr.cli import add_tile_option, parser
from selfhdr.archs import list_backbones
from selfhdr.archs.shipped import SHIPPED_CARD, SHIPPED_WEIGHTS, shipped_weights
from selfhdr.engine.device import keep_freed_memory, resolve_device
from selfhdr.engine.predict import predict_folder, predict_hdr
from selfhdr.engine.testing import load_for_inference, read_bracket
from selfhdr.errors import SelfHDRError
from selfhdr.io import check_hdr_output, write_hdr_with_preview


def main(argv: Optional[List[str]] = None) -> int:
    p = parser(__name__, __doc__)
    p.add_argument("--checkpoint", help="a model.pth or .safetensors (default: the shipped weights, "
                                        f"pretrained/{SHIPPED_WEIGHTS}; see pretrained/{SHIPPED_CARD})")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", nargs="+", metavar="IMG", help="one bracket: 3 or more exposures, any order")
    src.add_argument("--input", metavar="DIR", help="a folder of brackets (import layout or camera files)")
    p.add_argument("--exposures", nargs="+", type=float, metavar="EV",
                   help="EV stops: in the images' order with --images; with --input, in file-name order "
                        "for every camera bracket of that many frames")
    p.add_argument("--out", required=True, help="output .hdr/.exr with --images; a folder with --input")
    p.add_argument("--format", default="hdr", choices=["hdr", "exr"], help="output format with --input")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="skip the check that frame brightness agrees with the declared exposures")
    p.add_argument("--backbone", choices=list_backbones())
    p.add_argument("--channel-order", choices=["rgb", "bgr"])
    add_tile_option(p)
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
    try:
        if a.images:
            check_hdr_output(out)
            ldrs, times, order = read_bracket(a.images, a.exposures, a.allow_mismatch)
        checkpoint = a.checkpoint
        if checkpoint is None:
            checkpoint = shipped_weights()
            print(f"no --checkpoint: using the shipped weights {checkpoint} (a small AHDRNet trained on "
                  f"synthetic scenes; model card: pretrained/{SHIPPED_CARD})")
        net, bgr, _ = load_for_inference(checkpoint, a.backbone, a.channel_order, resolve_device(a.device))
        kwargs = dict(tile=a.tile, overlap=a.overlap, bgr=bgr, precision=a.precision)
        if a.input:
            result = predict_folder(net, a.input, out, suffix=f".{a.format}", tonemap=a.tonemap,
                                    exposures=a.exposures, allow_mismatch=a.allow_mismatch, **kwargs)
        else:
            write_hdr_with_preview(out, predict_hdr(net, ldrs, times, **kwargs), a.tonemap)
    except SelfHDRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if a.input:
        print("\n".join(result.lines()))
        if result.written:
            print(f"wrote {len(result.written)} outputs (.{a.format} + .png) to {out}")
        return 0 if result.written else 2
    print(f"frames (short → long): {', '.join(p.name for p in order)}; relative times {times.tolist()}")
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
