"""Measure inference, training-step, Y_color and data-loading speed and memory; write JSON + Markdown.

Example: ``python scripts/benchmark.py`` (the README's performance table, about an hour on
2 cores), ``python scripts/benchmark.py --quick`` (small sizes: a smoke test), or
``python scripts/benchmark.py --backbones AHDRNet --sizes 1000x1500 --parts infer``;
``python scripts/benchmark.py --parts vdp --hdrvdp-toolbox DIR`` times HDR-VDP-2 on one
1000×1500 pair, the numpy port and the MATLAB code of DIR (hdrvdp-2.2.2) under Octave.
Every measurement runs in its own process so its peak RSS is its own; run it on an otherwise
idle machine (the load average is recorded with the results).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional, Tuple

from selfhdr.cli import parser
from selfhdr.archs import list_backbones
from selfhdr.engine.benchmark import MODES, TRAIN_MODES, TRAIN_SETUPS, BenchConfig, run_benchmark
from selfhdr.engine.benchmark_report import markdown, save


def _sizes(text: str) -> List[Tuple[int, int]]:
    out = []
    for part in text.split(","):
        h, _, w = part.strip().lower().partition("x")
        out.append((int(h), int(w or h)))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    p = parser(__name__, __doc__)
    p.add_argument("--out", type=Path, default=Path("runs/benchmark/benchmark.json"),
                   help="JSON results; the Markdown table is written beside it (.md)")
    p.add_argument("--quick", action="store_true", help="small sizes and steps only (smoke test)")
    p.add_argument("--backbones", nargs="+", choices=list_backbones())
    p.add_argument("--sizes", type=_sizes, help="comma-separated HxW (or N for N×N), e.g. 256,1000x1500")
    p.add_argument("--modes", nargs="+", choices=list(MODES), help="inference modes")
    p.add_argument("--train-modes", nargs="+", choices=list(TRAIN_MODES), help="training-step modes")
    p.add_argument("--train-setups", nargs="+", choices=list(TRAIN_SETUPS),
                   help="training batches: the demo's (8×64²) and/or the paper's")
    p.add_argument("--parts", nargs="+",
                   choices=["infer", "train", "color", "data", "precision", "stream", "fusion", "vdp"],
                   help="default: all but vdp (HDR-VDP-2, port against Octave)")
    p.add_argument("--threads", type=int, help="torch threads per measurement (default: all cores)")
    p.add_argument("--repeats", type=int, help="timed repeats per measurement (median reported)")
    p.add_argument("--tile", type=int, help="tile side of the tiled modes, for every backbone")
    p.add_argument("--stream-scenes", type=int, nargs="+", help="split sizes of the stream part (default 2 20)")
    p.add_argument("--stream-widths", choices=["published", "demo"], default="published",
                   help="the streamed AHDRNet: published widths, or the demo's (configs/demo.yaml)")
    p.add_argument("--vdp-size", type=_sizes, help="HxW of the vdp part's pair (default 1000x1500)")
    p.add_argument("--hdrvdp-toolbox", type=Path,
                   help="unmodified hdrvdp-2.2.2 folder: the vdp part also times it under Octave")
    p.add_argument("--octave", default="octave", help="the Octave executable (default: octave on PATH)")
    a = p.parse_args(argv)
    if a.hdrvdp_toolbox is not None and not (a.hdrvdp_toolbox / "hdrvdp.m").is_file():
        p.error(f"--hdrvdp-toolbox {a.hdrvdp_toolbox}: no hdrvdp.m there (want the hdrvdp-2.2.2 folder)")
    overrides = {k: v for k, v in (("backbones", a.backbones), ("sizes", a.sizes), ("modes", a.modes),
                                   ("parts", a.parts), ("threads", a.threads), ("repeats", a.repeats),
                                   ("train_modes", a.train_modes), ("train_setups", a.train_setups))
                 if v is not None}
    cfg = BenchConfig.quick(**overrides) if a.quick else BenchConfig(**overrides)
    if a.vdp_size:
        cfg.vdp_size = a.vdp_size[0]
    cfg.hdrvdp_toolbox = str(a.hdrvdp_toolbox) if a.hdrvdp_toolbox else None
    cfg.octave = a.octave
    if a.tile:
        cfg.tiles = {name: a.tile for name in list_backbones()}
    if a.stream_scenes:
        cfg.stream_scenes = a.stream_scenes
    if a.stream_widths == "demo":
        from selfhdr.config import load_config

        node = dict(load_config(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml").model)
        cfg.stream_backbone = node.pop("type")
        cfg.stream_kwargs = node
    result = run_benchmark(cfg, progress=lambda msg: print(msg, flush=True))
    md = save(result, a.out)
    print()
    print(markdown(result))
    print(f"wrote {a.out} and {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
