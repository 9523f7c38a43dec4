"""Run a configured job end to end: ``python scripts/train.py --config configs/demo.yaml``.

SelfHDR runs Y_color preparation (if missing) → stage 1 → Y_stru → stage 2 → test in one
command; ``--resume`` continues an interrupted run from its last checkpoint, whatever stage it
was in.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selfhdr.config import load_config  # noqa: E402
from selfhdr.engine.pipeline import run  # noqa: E402
from selfhdr.errors import SelfHDRError  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(DEFAULT), help="YAML config (default: the demo)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.batch_size=8 (repeatable)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run named by the config from its last checkpoint")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, args.overrides)
        run(cfg, resume=args.resume)
    except SelfHDRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
