"""Data: Kalantari-format scenes, torch datasets (brackets, motion/exposure-cue samples,
exposure pairs), and the synthetic scene generator."""

from .cues import CuesDataset, IlluminationConfig, PatchConfig, WarpConfig, classify_patches
from .dataset import GT, BracketDataset, label_path
from .pairs import ExposurePairs, PairFiles, find_pairs, read_pair
from .scene import (
    N_FRAMES, REFERENCE, Scene, SceneFiles, find_scene_files, is_scene_dir, list_scenes,
    read_scene,
)
from .synthetic import SyntheticSpec, write_dataset

__all__ = [
    "GT", "N_FRAMES", "REFERENCE", "BracketDataset", "CuesDataset", "ExposurePairs",
    "IlluminationConfig", "PairFiles", "PatchConfig", "Scene", "SceneFiles", "SyntheticSpec",
    "WarpConfig", "classify_patches", "find_pairs", "find_scene_files", "is_scene_dir",
    "label_path", "list_scenes", "read_pair", "read_scene", "write_dataset",
]
