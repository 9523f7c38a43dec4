"""Make a synthetic dynamic-scene dataset in Kalantari's layout.

Example: ``python scripts/make_synthetic.py --root data/synthetic --n-train 12 --n-test 4``
"""

from __future__ import annotations

import sys
from typing import List, Optional
from pathlib import Path

from selfhdr.cli import parser
from selfhdr.data.synthetic import SyntheticSpec, write_dataset


def main(argv: Optional[List[str]] = None) -> int:
    d = SyntheticSpec()
    p = parser(__name__, __doc__)
    p.add_argument("--root", required=True, help="dataset root to create (Training/ and Test/ inside)")
    p.add_argument("--n-train", type=int, default=d.n_train)
    p.add_argument("--n-test", type=int, default=d.n_test)
    p.add_argument("--height", type=int, default=d.height)
    p.add_argument("--width", type=int, default=d.width)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--stops", default=None, help="force one bracket for all scenes, e.g. 0,2,4")
    a = p.parse_args(argv)
    spec = SyntheticSpec(height=a.height, width=a.width, n_train=a.n_train, n_test=a.n_test, seed=a.seed)
    if a.stops:
        spec.stops = [[float(s) for s in a.stops.split(",")]]
    try:
        root = write_dataset(a.root, spec)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"synthetic dataset ready at {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
