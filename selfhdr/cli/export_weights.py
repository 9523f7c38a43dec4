"""Export a trained network as a small, pickle-free ``.safetensors`` file for sharing::

    selfhdr-export-weights --checkpoint runs/cpu_long/stage2/model.pth \\
        --out pretrained/selfhdr-ahdrnet-small-synthetic.safetensors

Keeps the weights and what loading needs (backbone node, channel order, method, stage, the
resolved training config); drops nothing the network computes with, so the exported file
reconstructs exactly what the checkpoint does. When the checkpoint sits in a run folder
(``<run>/<stage>/model.pth``) with a ``results.json``, the run's test table goes into the
header too (``test_results``: row → metric means), so the file says how good it is.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from torch import Tensor

from selfhdr.cli import parser
from selfhdr.errors import CheckpointError, SelfHDRError

_KEPT = ("backbone", "channel_order", "method", "stage", "config")
"""Metadata of our checkpoints that the exported file keeps."""


def weights_digest(state: Mapping[str, Tensor]) -> str:
    """SHA-256 over the sorted keys and their tensors' bytes: names the function, not the file."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def export_weights(checkpoint: Path, out: Path) -> Dict[str, Any]:
    """Write ``out`` (.safetensors) from ``checkpoint``; returns the metadata written."""
    from selfhdr.archs import read_state_dict, save_weights

    if out.suffix != ".safetensors":
        raise CheckpointError(f"{out}: the exported file must end in .safetensors")
    state, meta = read_state_dict(checkpoint)
    if not isinstance(meta.get("backbone"), dict):
        raise CheckpointError(f"{checkpoint}: no backbone recorded; export only checkpoints written by "
                              f"selfhdr-train (runs/<name>/<stage>/model.pth)")
    kept = {k: meta[k] for k in _KEPT if k in meta}
    kept["source"] = "/".join(checkpoint.resolve().parts[-3:])  # <run>/<stage>/model.pth
    results = checkpoint.resolve().parent.parent / "results.json"
    if results.is_file():
        rows = json.loads(results.read_text())
        kept["test_results"] = {row: v["mean"] for row, v in rows.items()
                                if isinstance(v, dict) and isinstance(v.get("mean"), dict)}
    kept["weights_sha256"] = weights_digest(state)
    save_weights(state, out, meta=kept)
    return kept


def main(argv: Optional[List[str]] = None) -> int:
    p = parser(__name__, __doc__)
    p.add_argument("--checkpoint", required=True, type=Path, help="a model.pth written by selfhdr-train")
    p.add_argument("--out", required=True, type=Path, help="the .safetensors file to write")
    a = p.parse_args(argv)
    try:
        meta = export_weights(a.checkpoint, a.out)
    except SelfHDRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = a.out.stat().st_size
    print(f"wrote {a.out} ({size / 1024:.0f} KiB; {meta['backbone']}, {meta.get('channel_order', '?').upper()} "
          f"order, weights sha256 {meta['weights_sha256'][:12]}…)")
    if "test_results" in meta:
        print(f"test results recorded for rows: {', '.join(meta['test_results'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
