"""Data: Kalantari-format scenes, torch datasets, and the synthetic scene generator."""

from .dataset import GT, BracketDataset, label_path
from .scene import (
    N_FRAMES, REFERENCE, Scene, SceneFiles, find_scene_files, is_scene_dir, list_scenes,
    read_scene,
)
from .synthetic import SyntheticSpec, write_dataset

__all__ = [
    "GT", "N_FRAMES", "REFERENCE", "BracketDataset", "Scene", "SceneFiles", "SyntheticSpec",
    "find_scene_files", "is_scene_dir", "label_path", "list_scenes", "read_scene", "write_dataset",
]
