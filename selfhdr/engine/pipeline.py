"""The one-command job behind ``scripts/train.py``: data → (training stages) → test table."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict

from ..config import Config, save_config
from ..data.synthetic import write_dataset
from ..methods.classical import BASELINES
from .evaluate import evaluate_predictor, markdown_table, save_json

log = logging.getLogger(__name__)


def ensure_data(cfg: Config) -> Path:
    """Make the synthetic dataset at ``cfg.data.root`` if the config asks for one."""
    root = Path(cfg.data.root)
    if cfg.data.synthetic is not None:
        write_dataset(root, cfg.data.synthetic)
    return root


def run_dir(cfg: Config) -> Path:
    """The run folder ``<output_dir>/<name>``."""
    return Path(cfg.output_dir) / cfg.name


def evaluate_baselines(root: Path, split: str, out_dir: Path) -> Dict[str, Dict]:
    """Score every classical baseline on ``root/split``; writes ``out_dir/<baseline>/``."""
    results = {}
    for name, fn in BASELINES.items():
        sub = out_dir / name.replace(" ", "_")
        results[name] = evaluate_predictor(root / split, fn, sub, desc=name)
    return results


def run(cfg: Config) -> Dict[str, Dict]:
    """Run the configured job and return ``{method: {"scenes": ..., "mean": ...}}``."""
    out = run_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    root = ensure_data(cfg)
    results = evaluate_baselines(root, cfg.data.test_split, out / "baselines")
    save_json(out / "results.json", results)
    print(f"\nTest split {root / cfg.data.test_split} ({len(next(iter(results.values()))['scenes'])} scenes)")
    print(markdown_table({k: v["mean"] for k, v in results.items()}))
    return results
