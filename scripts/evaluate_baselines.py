"""Score the classical baselines (reference alone, unaligned merge) on a Kalantari-format split.

Example: ``python scripts/evaluate_baselines.py --data-root data/synthetic --out runs/baselines``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selfhdr.engine.evaluate import markdown_table, save_json  # noqa: E402
from selfhdr.engine.pipeline import evaluate_baselines  # noqa: E402
from selfhdr.errors import SelfHDRError  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", required=True)
    p.add_argument("--split", default="Test")
    p.add_argument("--out", required=True, help="folder for predictions, previews and JSON")
    a = p.parse_args()
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
