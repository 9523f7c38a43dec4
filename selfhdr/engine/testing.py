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
from ..io import read_ldr

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


def exif_exposure(path: PathLike) -> Optional[float]:
    """Relative exposure t · ISO / N² from an image's EXIF, or None if it has no exposure time."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with imageio
        return None
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            sub = exif.get_ifd(0x8769) if hasattr(exif, "get_ifd") else {}
    except Exception:  # noqa: BLE001  (unreadable EXIF just means "not available")
        return None
    tags = {**dict(exif), **dict(sub)}
    t = tags.get(33434)  # ExposureTime
    if t is None or float(t) <= 0:
        return None
    iso = tags.get(34855) or 100  # ISOSpeedRatings
    if isinstance(iso, (tuple, list)):
        iso = iso[0]
    fnum = tags.get(33437) or 1.0  # FNumber
    return float(t) * float(iso) / 100.0 / float(fnum) ** 2


def read_bracket(paths: Sequence[PathLike], exposures: Optional[Sequence[float]] = None
                 ) -> Tuple[List[np.ndarray], np.ndarray, List[Path]]:
    """Three frames in any order → (LDRs sorted short to long, times with shortest = 1, paths).

    ``exposures`` are EV stops given in the same order as ``paths``; without them each file's
    EXIF exposure (time × ISO / f-number²) is used.
    """
    files = [Path(p) for p in paths]
    if len(files) != 3:
        raise InputError(None, f"a bracket needs exactly 3 images, got {len(files)}")
    if exposures is not None:
        if len(exposures) != 3:
            raise InputError(None, f"--exposures needs 3 EV values, got {len(exposures)}")
        rel = np.power(2.0, np.asarray(exposures, dtype=np.float64))
    else:
        vals = []
        for f in files:
            v = exif_exposure(f)
            if v is None:
                raise InputError(f, "no EXIF exposure time; give the EV stops with --exposures")
            vals.append(v)
        rel = np.asarray(vals)
    if not np.all(np.isfinite(rel)) or len(set(np.round(np.log2(rel), 6))) != 3:
        raise InputError(None, f"the three exposures must be finite and distinct, got {rel.tolist()}")
    order = np.argsort(rel)
    ldrs = [read_ldr(files[i]) for i in order]
    for i, img in zip(order, ldrs):
        if img.shape != ldrs[0].shape:
            raise InputError(files[i], f"size {img.shape[1]}×{img.shape[0]} differs from the other frames")
    times = rel[order] / rel[order][0]
    return ldrs, times, [files[i] for i in order]
