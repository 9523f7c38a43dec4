"""Opening a run folder: a new run, the same run again, ``--resume``, and what may change.

A run folder ``<output_dir>/<name>`` holds the resolved ``config.yaml``. Opening it again
with a config that differs only in settings that cannot change a result already computed
(:data:`SAFE_TO_CHANGE`: logging, checkpoint cadence, workers, devices, evaluation and report
rows) continues the run and records the new values. ``--resume`` continues with the saved
config plus those ``--set`` overrides that are safe, and refuses the others by name. A run that
stopped before any stage made progress (a failed start: missing data, a typo) never blocks the
fixed config: its folder is reset and the new config starts over.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from ..config import Config, apply_override, from_dict, load_config, save_config, to_dict
from ..errors import ConfigError
from ..io import check_output_dir

log = logging.getLogger(__name__)

SAFE_TO_CHANGE: Tuple[str, ...] = (
    "device", "threads", "dist_timeout_s", "deterministic",
    "train.log_every", "train.image_every", "train.checkpoint_every", "train.val_every",
    "train.max_nonfinite", "data.num_workers", "data.prepare_workers", "eval", "report",
    # Speed settings, like device: they change how the rest trains (the Trainer warns when the
    # resolved precision or layout differs from the checkpoint's), not results already computed.
    "train.amp", "train.channels_last", "train.compile",
)
"""Config paths (a section name covers its keys) that a started run may change."""

STAGE_DIRS = ("stage1", "stage2", "stru", "supervised", "cues", "fusion")
"""Run sub-folders whose contents are training progress."""


def is_safe(path: str) -> bool:
    """True if config key ``path`` (dotted) may change in a started run."""
    return any(path == s or path.startswith(s + ".") for s in SAFE_TO_CHANGE)


def config_diff(a: Dict[str, Any], b: Dict[str, Any], prefix: str = "") -> List[Tuple[str, Any, Any]]:
    """Every leaf ``(path, a_value, b_value)`` where two config dicts differ."""
    out: List[Tuple[str, Any, Any]] = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict) and not _is_node(va, vb):
            out.extend(config_diff(va, vb, f"{prefix}{k}."))
        elif va != vb:
            out.append((f"{prefix}{k}", va, vb))
    return out


def _is_node(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    # A backbone node {type: ...} is compared whole: a different type is one change.
    return "type" in a or "type" in b


def has_progress(run_dir: Path) -> bool:
    """True if any training stage of the run wrote a checkpoint, weights or outputs."""
    for name in STAGE_DIRS:
        d = run_dir / name
        if d.is_dir() and any(d.iterdir()):
            return True
    return False


def _reset(run_dir: Path) -> None:
    # Results of a run that never trained were computed for the old config: drop them.
    for name in ("test", "tb"):
        shutil.rmtree(run_dir / name, ignore_errors=True)
    for name in ("results.json", "results.md", "history.jsonl"):
        (run_dir / name).unlink(missing_ok=True)
    for png in run_dir.glob("curves_*.png"):
        png.unlink()


def _describe(changes: List[Tuple[str, Any, Any]]) -> str:
    return ", ".join(f"{p}: {a!r} → {b!r}" for p, a, b in changes[:4]) + (" …" if len(changes) > 4 else "")


def open_run(cfg: Config, resume: bool = False, overrides: Sequence[str] = ()) -> Config:
    """Create or reopen the run folder and return the config to use (see the module doc)."""
    run_dir = Path(cfg.output_dir) / cfg.name
    check_output_dir(run_dir)
    saved = run_dir / "config.yaml"
    if not saved.exists():
        if resume:
            raise ConfigError(f"--resume: no run to resume at {run_dir} (no config.yaml)")
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, saved)
        return cfg
    old = load_config(saved)
    if resume:
        return _resume(old, overrides, saved)
    changes = config_diff(to_dict(old), to_dict(cfg))
    if not changes:
        return cfg
    unsafe = [c for c in changes if not is_safe(c[0])]
    if unsafe and has_progress(run_dir):
        raise ConfigError(f"{run_dir} holds a started run with a different config ({_describe(unsafe)}); "
                          f"pass --resume to continue it, or choose another name (--set name=...)")
    if unsafe:
        log.info("%s: the earlier run there stopped before training (%s); starting over with this config",
                 run_dir, _describe(unsafe))
        _reset(run_dir)
    save_config(cfg, saved)
    return cfg


def _resume(old: Config, overrides: Sequence[str], saved: Path) -> Config:
    raw = to_dict(old)
    for item in overrides:
        apply_override(raw, item)
    new = from_dict(Config, raw)
    changes = config_diff(to_dict(old), to_dict(new))
    unsafe = [c for c in changes if not is_safe(c[0])]
    if unsafe:
        names = ", ".join(p for p, _, _ in unsafe)
        raise ConfigError(f"--resume: cannot change {names} in a started run ({_describe(unsafe)}); "
                          f"start a new run instead (--set name=...) or drop the override")
    for path, a, b in changes:
        log.info("--resume: %s changed %r → %r", path, a, b)
    if changes:
        save_config(new, saved)
    return new


__all__ = ["SAFE_TO_CHANGE", "config_diff", "has_progress", "is_safe", "open_run"]
