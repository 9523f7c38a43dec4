"""Build the fusion network's real training pairs and the MEFB evaluation split in one command::

    selfhdr-fusion-data --git-root repos --out data/mef_real

``--git-root`` holds a git copy (a clone, or a bare mirror) of each source repository, as
``<owner>+<name>`` or ``<name>`` (the command names any that is missing and the ``git clone``
that fetches it). Each source is read at its pinned commit (``selfhdr.data.mef_sources``);
MEFB scenes and same-shot copies are left out of training, and MEFB is written only as
``<out>/mefb``. Writes ``<out>/train``, ``<out>/val``, ``<out>/mefb``, ``<out>/pairs.json``
(which file of which repository each pair came from) and ``<out>/mefb_published.json`` (MEFB's
own mean MEF-SSIM of its 21 methods, from its ``output/evaluation_metrics``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

from selfhdr.cli import parser
from selfhdr.errors import SelfHDRError


def main(argv: Optional[List[str]] = None) -> int:
    p = parser(__name__, __doc__)
    p.add_argument("--git-root", required=True, type=Path, help="folder of the source repositories' git copies")
    p.add_argument("--out", required=True, type=Path, help="output folder (train/, val/, mefb/, pairs.json)")
    a = p.parse_args(argv)
    import json

    from selfhdr.data.mef_sources import build_mefb, build_training_pairs, mefb_published

    try:
        written = build_training_pairs(a.git_root, a.out)
        mefb = build_mefb(a.git_root, a.out / "mefb")
        published = mefb_published(a.git_root)
    except SelfHDRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written['train'])} training and {len(written['val'])} validation pairs, "
          f"disjoint by scene, and MEFB's {len(mefb)} evaluation pairs to {a.out}")
    (a.out / "mefb_published.json").write_text(json.dumps(published, indent=1))
    best = ", ".join(f"{m} {v:.4f}" for m, v in list(published.items())[:3])
    print(f"MEFB's own mean MEF-SSIM, best three of its 21 methods: {best} ({a.out / 'mefb_published.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
