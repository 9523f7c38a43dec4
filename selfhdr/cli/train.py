"""Run a configured job end to end: ``python scripts/train.py --config configs/demo.yaml``.

SelfHDR runs Y_color preparation (if missing) → stage 1 → Y_stru → stage 2 → test in one
command, with or without ground truth (``HDRImg.hdr``) in the dataset: rows that need labels
are skipped, and validation uses a label-free proxy where scenes are unlabelled.
``--resume`` continues an interrupted run from its last checkpoint, whatever stage it was in.
"""

from __future__ import annotations

import logging
import sys
from typing import List, Optional
from pathlib import Path

from selfhdr.cli import parser
from selfhdr.config import load_config
from selfhdr.engine.pipeline import run
from selfhdr.errors import SelfHDRError

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


def main(argv: Optional[List[str]] = None) -> int:
    p = parser(__name__, __doc__)
    p.add_argument("--config", default=str(DEFAULT), help="YAML config (default: the demo)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.batch_size=8 (repeatable)")
    p.add_argument("--resume", action="store_true",
                        help="continue the run named by the config from its last checkpoint; --set may "
                             "change only settings that cannot alter what is already computed (logging, "
                             "workers, devices, eval, report); others are refused by name")
    p.add_argument("--make-data", action="store_true",
                        help="with a synthetic config and --set data.root=NEW: generate the dataset at NEW "
                             "(without it, a data.root that does not exist is an error, not a new dataset)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, args.overrides)
        run(cfg, resume=args.resume, overrides=args.overrides, make_data=args.make_data)
    except SelfHDRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
