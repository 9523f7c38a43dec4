"""Loading a checkpoint for inference (ours or the released SelfHDR weights) and reading
user brackets with their exposure times."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..archs.checkpoint import load_checkpoint, read_state_dict
from ..archs.registry import build_from_node, list_backbones
from ..errors import CheckpointError, InputError
from ..data.bracket_load import bracket_from_files, load_bracket
from ..io.exif import exif_exposure  # noqa: F401  (re-exported: one EXIF reader)

PathLike = Union[str, "os.PathLike[str]"]
log = logging.getLogger(__name__)
CHANNEL_ORDERS = ("rgb", "bgr")


def detect_backbone(state: Dict[str, torch.Tensor]) -> Dict[str, Any]:
    """The registered backbone (published widths) whose parameters match ``state`` exactly."""
    for name in list_backbones():
        own = build_from_node({"type": name}).state_dict()
        params = {k for k in own}
        if all(k in state and tuple(state[k].shape) == tuple(own[k].shape) for k in params) and \
                all(k in params or k.rsplit(".", 1)[-1] in ("relative_position_index", "attn_mask") for k in state):
            return {"type": name}
    raise CheckpointError("cannot tell which backbone these weights belong to; pass --backbone")


def load_for_inference(checkpoint: PathLike, backbone: Optional[str] = None,
                       channel_order: Optional[str] = None,
                       device: Optional[torch.device] = None) -> Tuple[nn.Module, bool, Dict[str, Any]]:
    """Build the checkpoint's backbone, load it, and decide its channel order.

    The backbone comes from ``backbone`` (published widths), else the checkpoint's metadata
    (our checkpoints record their config node), else is detected from the parameter shapes.
    Channel order: ``channel_order`` if given, else the metadata's, else 'bgr': files without
    it are the released SelfHDR weights, trained on B, G, R frames. Returns (net, bgr, meta).
    """
    state, meta = read_state_dict(checkpoint)
    if backbone is not None:
        node: Dict[str, Any] = {"type": backbone}
        recorded = meta.get("backbone")
        if isinstance(recorded, dict) and recorded.get("type") == backbone:
            node = dict(recorded)
    elif isinstance(meta.get("backbone"), dict):
        node = dict(meta["backbone"])
    else:
        node = detect_backbone(state)
    order = channel_order or meta.get("channel_order") or "bgr"
    if order not in CHANNEL_ORDERS:
        raise CheckpointError(f"{checkpoint}: unknown channel order {order!r} (rgb or bgr)")
    net = build_from_node(node)
    load_checkpoint(net, checkpoint)
    net = net.to(device or torch.device("cpu")).eval()
    log.info("loaded %s (%s) from %s, %s input order", node["type"], node, checkpoint, order.upper())
    return net, order == "bgr", meta


def read_bracket(paths: Sequence[PathLike], exposures: Optional[Sequence[float]] = None,
                 allow_mismatch: bool = False) -> Tuple[List[np.ndarray], np.ndarray, List[Path]]:
    """Frames of one bracket in any order → (3 LDRs short to long, times with shortest = 1, paths).

    ``exposures`` are EV stops given in the same order as ``paths``; without them each file's
    EXIF exposure (time × ISO / f-number²) is used. The importer's rules apply
    (:mod:`selfhdr.data.bracket_load`): EXIF orientation, camera RAW, 3 of N frames, and the
    brightness check against the exposures unless ``allow_mismatch``.
    """
    files = [Path(p) for p in paths]
    if len(files) < 3:
        raise InputError(None, f"a bracket needs at least 3 images, got {len(files)}")
    if exposures is not None and len(exposures) != len(files):
        raise InputError(None, f"--exposures needs {len(files)} EV values (one per image), got {len(exposures)}")
    # The planner reads exposures in file-name order; ours come in the order the user gave.
    by_name = sorted(range(len(files)), key=lambda i: files[i].name)
    evs = None if exposures is None else [float(exposures[i]) for i in by_name]
    loaded = load_bracket(bracket_from_files(files), evs, allow_mismatch)
    return loaded.ldrs, loaded.times, loaded.paths
