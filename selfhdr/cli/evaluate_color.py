"""Score Y_color against ground truth, next to the reference-alone and unaligned-merge baselines.

One row per flow variant (``NAME`` or ``NAME:PRESET`` for DIS), plus "aligned merge, no
rejection" (the default flow without the rejection test), as a Markdown table of PSNR-μ,
PSNR-l, SSIM-μ and SSIM-l averaged over the split's scenes.

Example: ``python scripts/evaluate_color.py --data-root data/synthetic --split Test``
"""

from __future__ import annotations

import dataclasses
import sys
from typing import List, Optional
from pathlib import Path

from selfhdr.cli import parser
from selfhdr.align import AlignConfig, flow_names
from selfhdr.engine.color_eval import evaluate_color, plain_merge_config
from selfhdr.config import apply_override, from_dict
from selfhdr.engine.evaluate import markdown_table, save_json
from selfhdr.errors import ConfigError, SelfHDRError

DEFAULT_FLOWS = ["dis:ultrafast", "dis:fast", "dis:medium", "farneback"]


def variant(base: AlignConfig, spec: str) -> AlignConfig:
    """``dis:medium`` → base with flow=dis, dis_preset=medium; ``farneback`` → flow=farneback."""
    name, _, preset = spec.partition(":")
    if name not in flow_names():
        raise ConfigError(f"--flow: unknown estimator {name!r}; choose from {', '.join(flow_names())}")
    changes = {"flow": name, **({"dis_preset": preset} if preset else {})}
    return from_dict(AlignConfig, {**dataclasses.asdict(base), **changes}, "align")


def main(argv: Optional[List[str]] = None) -> int:
    p = parser(__name__, __doc__)
    p.add_argument("--data-root", required=True)
    p.add_argument("--split", default="Test")
    p.add_argument("--flow", nargs="+", default=None, metavar="NAME[:PRESET]",
                   help=f"flow variants to score (default: {' '.join(DEFAULT_FLOWS)})")
    p.add_argument("--raft-weights", default=None, help="local torchvision RAFT .pth (for raft_*)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="AlignConfig override applied to every variant (repeatable)")
    p.add_argument("--out", default=None, help="folder for predictions, previews and results.json")
    a = p.parse_args(argv)
    try:
        raw: dict = {}
        for item in a.overrides:
            apply_override(raw, item)
        if a.raft_weights is not None:
            raw["raft_weights"] = a.raft_weights
        base = from_dict(AlignConfig, raw, "align")
        variants = {"aligned merge, no rejection (default flow)": plain_merge_config(base),
                    "Y_color (defaults)": base}
        for spec in a.flow or DEFAULT_FLOWS:
            variants[f"Y_color, {spec}"] = variant(base, spec)
        split_dir = Path(a.data_root) / a.split
        results = evaluate_color(split_dir, variants, out_dir=a.out)
    except SelfHDRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if a.out is not None:
        save_json(Path(a.out) / "results.json", results)
    n = len(next(iter(results.values()))["scenes"])
    rows = {k: v["mean"] for k, v in results.items()}
    print(f"\n{split_dir} ({n} scenes)")
    print(markdown_table(rows, ["psnr_mu", "psnr_l", "ssim_mu", "ssim_l", "seconds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
