"""Align every scene of a split with optical flow and write Y_color (SelfHDR's ``*_align`` layout).

Writes ``ROOT/<split>_align/<scene>/``: the three frames under their source names (the two
non-reference frames warped onto the reference), ``exposure.txt``, ``HDRImg.hdr`` (Y_color)
and ``HDRImg_preview.png``. Finished scenes are skipped unless ``--force``.

Example: ``python scripts/prepare_color.py --data-root data/synthetic --split Training``
"""

from __future__ import annotations

import sys
from typing import List, Optional
from pathlib import Path

from selfhdr.cli import parser
from selfhdr.align import AlignConfig, flow_names, prepare_color
from selfhdr.config import apply_override, from_dict
from selfhdr.errors import SelfHDRError


def main(argv: Optional[List[str]] = None) -> int:
    p = parser(__name__, __doc__)
    p.add_argument("--data-root", required=True, help="dataset root holding <split>/")
    p.add_argument("--split", default="Training")
    p.add_argument("--flow", default=None, help=f"flow estimator: {', '.join(flow_names())} (default: dis)")
    p.add_argument("--raft-weights", default=None, help="local torchvision RAFT .pth (for --flow raft_*)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="AlignConfig override, e.g. --set dis_preset=medium (repeatable)")
    p.add_argument("--force", action="store_true", help="redo scenes that are already finished")
    p.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    a = p.parse_args(argv)
    try:
        raw: dict = {}
        for item in a.overrides:
            apply_override(raw, item)
        if a.flow is not None:
            raw["flow"] = a.flow
        if a.raft_weights is not None:
            raw["raft_weights"] = a.raft_weights
        cfg = from_dict(AlignConfig, raw, "align")
        summary = prepare_color(a.data_root, a.split, cfg, force=a.force, workers=a.workers)
    except SelfHDRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
