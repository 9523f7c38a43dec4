"""Config loading: validation with key paths, overrides, saving the resolved config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from selfhdr.config import Config, load_config, save_config
from selfhdr.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_defaults_and_overrides() -> None:
    cfg = load_config(None, ["seed=3", "data.patch_size=64", "data.synthetic.n_train=2"])
    assert cfg.seed == 3 and cfg.data.patch_size == 64
    assert cfg.data.synthetic is not None and cfg.data.synthetic.n_train == 2


@pytest.mark.parametrize("override,match", [
    ("data.rot=x", r"unknown config key 'data\.rot'; did you mean 'root'"),
    ("daat.root=x", r"unknown config key 'daat'"),
    ("data.patch_size=big", r"data\.patch_size: expected an integer"),
    ("data.patch_size=true", r"data\.patch_size: expected an integer"),
    ("seed", r"must look like key\.path=value"),
    ("data.synthetic.height=8", r"data\.synthetic: synthetic images must be at least 32"),
])
def test_errors_name_the_key(override: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, [override])


def test_yaml_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  root: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    nested = tmp_path / "nested.yaml"
    nested.write_text("data:\n  synthetic:\n    widht: 64\n")
    with pytest.raises(ConfigError, match=r"data\.synthetic\.widht.*width"):
        load_config(nested)


def test_save_and_reload_round_trip(tmp_path: Path) -> None:
    cfg = load_config(REPO / "configs" / "demo.yaml", ["name=x"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == cfg
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["name"] == "x"


def test_every_shipped_config_loads() -> None:
    for path in sorted((REPO / "configs").glob("*.yaml")):
        assert isinstance(load_config(path), Config), path
