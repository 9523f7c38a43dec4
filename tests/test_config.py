"""Config loading: validation with key paths, overrides, saving the resolved config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
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


@pytest.mark.parametrize("override,match", [
    ("model.nf=abc", r"model\.nf: expected an integer, got 'abc'"),
    ("model.nf=true", r"model\.nf: expected an integer, got True"),
    ("model.nf=4.5", r"model\.nf: expected an integer, got 4\.5"),
    ("model.n_rdb=[1]", r"model\.n_rdb: expected an integer"),
    ("model={type: HDR-Transformer, depths: 2}", r"model\.depths: expected a list, got 2"),
    ("model={type: HDR-Transformer, depths: [2, x]}", r"model\.depths: .*expected an integer"),
    ("model={type: SCTNet, mlp_ratio: two}", r"model\.mlp_ratio: expected a number"),
    ("model={type: FSHDR, n_sdc: '2'}", r"model\.n_sdc: expected an integer, got '2'"),
])
def test_backbone_argument_types_are_checked_when_the_config_loads(override: str, match: str) -> None:
    """A wrong-typed backbone argument is a ConfigError naming its path at load time."""
    with pytest.raises(ConfigError, match=match):
        load_config(REPO / "configs" / "demo.yaml", [override])


@pytest.mark.parametrize("override", [
    "model.nf=8",
    "model={type: HDR-Transformer, embed_dim: 16, depths: [2], num_heads: [2], mlp_ratio: 2}",
    "model={type: SCTNet, depths: [2, 2], num_heads: [2, 2], drop_path_rate: 0}",
])
def test_well_typed_backbone_arguments_load_and_build(override: str) -> None:
    """Lists for Sequence[int] and ints for float arguments are accepted (YAML gives those)."""
    from selfhdr.archs import build_from_node

    cfg = load_config(REPO / "configs" / "demo.yaml", [override])
    assert isinstance(build_from_node(cfg.model), torch.nn.Module)


def test_backbone_override_without_a_config_file_refines_the_default_node() -> None:
    assert load_config(None, ["model.nf=8"]).model == {"type": "AHDRNet", "nf": 8}
    with pytest.raises(ConfigError, match=r"model\.nf: expected an integer, got 'abc'"):
        load_config(None, ["model.nf=abc"])
