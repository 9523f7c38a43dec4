"""Shared fixtures: a tiny synthetic Kalantari-format dataset, made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from selfhdr.data.synthetic import SyntheticSpec, write_dataset

torch.set_num_threads(2)

TINY = SyntheticSpec(height=48, width=64, n_train=3, n_test=2, seed=7)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-train/2-test synthetic dataset of 48×64 scenes (read-only: copy before mutating)."""
    root = tmp_path_factory.mktemp("synthetic") / "root"
    write_dataset(root, TINY, progress=False)
    return root
