"""Score the classical baselines (reference alone, unaligned merge) on a Kalantari-format split.

Example: ``python scripts/evaluate_baselines.py --data-root data/synthetic --out runs/baselines``
"""

from __future__ import annotations

import sys
from typing import List, Optional
from pathlib import Path

from selfhdr.cli import parser
from selfhdr.engine.evaluate import markdown_table, save_json
from selfhdr.engine.pipeline import evaluate_baselines
from selfhdr.errors import SelfHDRError


def main(argv: Optional[List[str]] = None) -> int:
    p = parser(__name__, __doc__)
    p.add_argument("--data-root", required=True)
    p.add_argument("--split", default="Test")
    p.add_argument("--out", required=True, help="folder for predictions, previews and JSON")
    a = p.parse_args(argv)
    try:
        results = evaluate_baselines(Path(a.data_root), a.split, Path(a.out))
    except SelfHDRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    save_json(Path(a.out) / "results.json", results)
    print(markdown_table({k: v["mean"] for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
