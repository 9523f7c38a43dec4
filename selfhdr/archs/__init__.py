"""Reconstruction backbones (AHDRNet, FSHDR, HDR-Transformer, SCTNet) and their registry."""

from .registry import backbone_class, build_backbone, list_backbones, register_backbone
from . import ahdrnet, fshdr, hdr_transformer, sctnet  # noqa: F401  (registers the four)

__all__ = ["backbone_class", "build_backbone", "list_backbones", "register_backbone"]
