"""Fuse under/over exposure pairs and score them by MEF-SSIM against the mean and Mertens.

Examples::

    python scripts/fuse.py --checkpoint runs/fusion/fusion/model.pth --input data/pairs --out runs/fused
    python scripts/fuse.py --input under.png over.png --out runs/fused     # baselines only

Writes ``<out>/<method>/<pair>.png`` and ``<out>/metrics.json`` and prints a table.
"""

from __future__ import annotations

import sys
from typing import List, Optional
from pathlib import Path

from selfhdr.cli import parser
from selfhdr.archs.fusion_net import load_fusion_net
from selfhdr.engine.fusion_eval import PROTOCOLS, contact_sheet, evaluate_fusion, pairs_from_inputs
from selfhdr.errors import SelfHDRError


def main(argv: Optional[List[str]] = None) -> int:
    p = parser(__name__, __doc__)
    p.add_argument("--checkpoint", help="FusionNet weights; omit to run only the baselines")
    p.add_argument("--input", nargs="+", required=True, metavar="PATH",
                   help="a folder of pairs (<scene>/*_A.png + *_B.png, or Kalantari scenes) or two images")
    p.add_argument("--out", required=True, help="folder for fused PNGs and metrics.json")
    p.add_argument("--sheet", type=int, default=0, metavar="N",
                   help="also write <out>/contact_sheet.png: N pairs (evenly spaced) as inputs and fusions")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="float",
                   help="float (default): score the fused images as computed, in [0, 1]; mefb: score the "
                        "8-bit files, inputs and fused PNGs, as MEFB's MATLAB evaluation reads them")
    a = p.parse_args(argv)
    try:
        net = load_fusion_net(a.checkpoint) if a.checkpoint else None
        pairs = pairs_from_inputs(a.input)
        report = evaluate_fusion(pairs, net, Path(a.out), log=lambda s: print(s, file=sys.stderr),
                                 protocol=a.protocol)
        if a.sheet:
            sheet = contact_sheet(report, pairs, Path(a.out), Path(a.out) / "contact_sheet.png", a.sheet)
    except SelfHDRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    if a.sheet:
        print(f"contact sheet: {sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
