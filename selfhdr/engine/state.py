"""Crash-safe training checkpoints: one atomic file, the previous one kept as a fallback.

A training checkpoint holds the network weights under ``'state_dict'`` (so the published
SelfHDR loader and :func:`selfhdr.archs.load_checkpoint` read it too), the optimiser,
scheduler, position (epoch, iteration, global step), RNG state, divergence counter and the
resolved config. It is written to a temporary file, fsynced and ``os.replace``d; the file it
replaces is first kept as ``<name>.prev.pth``, so a checkpoint damaged after the fact (a full
disk, a copied-over file) still leaves the previous good one to resume from.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch

from ..errors import CheckpointError
from ..io.atomic import atomic_path

PathLike = Union[str, "os.PathLike[str]"]
log = logging.getLogger(__name__)

REQUIRED = ("state_dict", "optimizer", "scheduler", "epoch", "iteration", "step")


def previous_path(path: PathLike) -> Path:
    """Where the checkpoint before ``path`` is kept."""
    p = Path(path)
    return p.with_name(p.stem + ".prev" + p.suffix)


def save_training_state(path: PathLike, state: Dict[str, Any]) -> None:
    """Atomically write ``state`` to ``path``, keeping the file it replaces as the fallback."""
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise ValueError(f"training state lacks {missing}")
    p = Path(path)
    with atomic_path(p) as tmp:
        torch.save(state, tmp)
        if p.exists():
            os.replace(p, previous_path(p))


def read_training_state(path: PathLike) -> Dict[str, Any]:
    """Load one training checkpoint (never unpickling code), checking it is complete."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise CheckpointError(f"{p}: unreadable or truncated checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{p}: not a training checkpoint (a {type(state).__name__})")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"{p}: not a training checkpoint (missing {', '.join(missing)})")
    return state


def load_latest_state(path: PathLike) -> Optional[Dict[str, Any]]:
    """The newest readable checkpoint at ``path`` or its fallback, or None if neither exists.

    A damaged newest checkpoint is reported and the previous good one used; if both exist but
    neither reads, the error of the newest is raised.
    """
    p = Path(path)
    prev = previous_path(p)
    if not p.exists() and not prev.exists():
        return None
    first_error: Optional[CheckpointError] = None
    for cand in (p, prev):
        if not cand.exists():
            continue
        try:
            return read_training_state(cand)
        except CheckpointError as exc:
            log.warning("%s; trying the previous checkpoint", exc)
            first_error = first_error or exc
    assert first_error is not None
    raise first_error
