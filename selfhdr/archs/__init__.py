"""Reconstruction backbones (AHDRNet, FSHDR, HDR-Transformer, SCTNet) and their registry."""

from .registry import (
    backbone_class, build_backbone, build_from_node, check_node, list_backbones, register_backbone,
)
from .checkpoint import load_checkpoint, read_state_dict, save_weights
from . import ahdrnet, fshdr, hdr_transformer, sctnet  # noqa: F401  (registers the four)

__all__ = [
    "backbone_class",
    "build_backbone",
    "build_from_node",
    "check_node",
    "list_backbones",
    "load_checkpoint",
    "read_state_dict",
    "register_backbone",
    "save_weights",
]
