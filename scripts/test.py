"""Evaluate a checkpoint on a Kalantari-format split: metrics.json, one .hdr and .png per scene.

Example: ``python scripts/test.py --checkpoint runs/demo/stage2/model.pth --data-root
data/synthetic --out runs/demo/test_again``. Released SelfHDR weights load as they are; the
backbone is read from the checkpoint or detected from its shapes (``--backbone`` overrides),
and files without a recorded channel order are fed B, G, R frames as they were trained.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selfhdr.archs import list_backbones  # noqa: E402
from selfhdr.engine.device import keep_freed_memory, resolve_device  # noqa: E402
from selfhdr.engine.evaluate import evaluate_predictor, markdown_table  # noqa: E402
from selfhdr.engine.predict import predict_hdr  # noqa: E402
from selfhdr.engine.testing import load_for_inference  # noqa: E402
from selfhdr.errors import SelfHDRError  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data-root", required=True)
    p.add_argument("--split", default="Test")
    p.add_argument("--out", required=True, help="folder for metrics.json, .hdr outputs and .png previews")
    p.add_argument("--backbone", choices=list_backbones(), help="override the checkpoint's backbone")
    p.add_argument("--channel-order", choices=["rgb", "bgr"], help="override the checkpoint's channel order")
    p.add_argument("--tile", type=int, help="run in overlapping tiles of this side (bounded memory)")
    p.add_argument("--overlap", type=int, help="tile overlap (default: exact for the CNNs)")
    p.add_argument("--aligned-inputs", action="store_true",
                   help="feed the flow-aligned <split>_align frames (the published FSHDR protocol)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                   help="bf16: autocast on AMX/AVX512-BF16 CPUs or CUDA (faster, outputs change by "
                        "~1e-2); fp16: CUDA only")
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    keep_freed_memory()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        device = resolve_device(a.device)
        net, bgr, _ = load_for_inference(a.checkpoint, a.backbone, a.channel_order, device)
        root = Path(a.data_root)
        result = evaluate_predictor(
            root / a.split,
            lambda s: predict_hdr(net, s.ldrs, s.times, tile=a.tile, overlap=a.overlap, bgr=bgr,
                                  precision=a.precision),
            Path(a.out), desc="test",
            inputs_dir=root / f"{a.split}_align" if a.aligned_inputs else None)
    except SelfHDRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = {name: m for name, m in result["scenes"].items()}
    rows["**mean**"] = result["mean"]
    print(markdown_table(rows))
    print(f"wrote {Path(a.out) / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
