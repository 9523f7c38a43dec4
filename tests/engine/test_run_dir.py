"""Run folders: what a started run may change, --resume with --set, failed starts that do not block."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfhdr.config import load_config
from selfhdr.engine.run_dir import SAFE_TO_CHANGE, config_diff, has_progress, is_safe, open_run
from selfhdr.config import to_dict
from selfhdr.errors import ConfigError


def _cfg(tmp_path: Path, *extra: str):  # type: ignore[no-untyped-def]
    return load_config(None, ["name=r", f"output_dir={tmp_path}", *extra])


def _start(tmp_path: Path) -> None:
    (tmp_path / "r" / "stage1").mkdir(parents=True)
    (tmp_path / "r" / "stage1" / "checkpoint.pth").write_bytes(b"x")


def test_safe_keys() -> None:
    assert is_safe("train.log_every") and is_safe("report.cues") and is_safe("eval.tile")
    assert not is_safe("train.lr") and not is_safe("model") and not is_safe("data.root")
    assert not is_safe("train.log_every_x") and "train.epochs" not in SAFE_TO_CHANGE


def test_diff_compares_backbone_nodes_whole(tmp_path: Path) -> None:
    a = to_dict(_cfg(tmp_path, "model={type: AHDRNet, nf: 8}"))
    b = to_dict(_cfg(tmp_path, "model={type: FSHDR}", "train.lr=0.5"))
    assert [p for p, _, _ in config_diff(a, b)] == ["model", "train.lr"]


def test_resume_applies_safe_overrides_and_refuses_the_rest(tmp_path: Path) -> None:
    open_run(_cfg(tmp_path))
    _start(tmp_path)
    cfg = open_run(_cfg(tmp_path), resume=True, overrides=["train.log_every=7", "report.cues=true"])
    assert cfg.train.log_every == 7 and cfg.report.cues
    assert load_config(tmp_path / "r" / "config.yaml").train.log_every == 7  # recorded
    with pytest.raises(ConfigError, match=r"--resume: cannot change data.root, train.lr in a started run \(data.root: .data/synthetic. → .elsewhere., train.lr: 0.0001 → 0.5\)"):
        open_run(_cfg(tmp_path), resume=True, overrides=["train.lr=0.5", "data.root=elsewhere", "train.log_every=3"])
    assert load_config(tmp_path / "r" / "config.yaml").train.log_every == 7  # nothing applied


def test_started_run_refuses_a_different_config_but_takes_safe_changes(tmp_path: Path) -> None:
    open_run(_cfg(tmp_path))
    _start(tmp_path)
    assert open_run(_cfg(tmp_path, "data.num_workers=2")).data.num_workers == 2
    with pytest.raises(ConfigError, match="holds a started run with a different config .*train.batch_size"):
        open_run(_cfg(tmp_path, "train.batch_size=4"))


def test_failed_start_does_not_block_the_fixed_config(tmp_path: Path) -> None:
    open_run(_cfg(tmp_path, "data.root=data/typo"))
    (tmp_path / "r" / "test" / "reference_alone").mkdir(parents=True)  # stale rows of the failed start
    (tmp_path / "r" / "stage1").mkdir()  # a stage that failed before its first checkpoint
    assert not has_progress(tmp_path / "r")
    cfg = open_run(_cfg(tmp_path, "data.root=data/fixed"))
    assert cfg.data.root == "data/fixed" and load_config(tmp_path / "r" / "config.yaml").data.root == "data/fixed"
    assert not (tmp_path / "r" / "test").exists()


def test_resume_without_a_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no run to resume"):
        open_run(_cfg(tmp_path), resume=True)
