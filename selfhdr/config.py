"""Validated configuration: YAML → typed dataclasses, ``--set a.b=value`` overrides.

Every section is a dataclass whose defaults are the paper's values. Loading checks every key:
an unknown or misspelt key, or a value of the wrong type, raises :class:`ConfigError` naming
its dotted path (with a suggestion when a key is close to a valid one). The resolved config
is written into each run folder with :func:`save_config`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Sequence, Type, TypeVar, Union

import yaml

from .align.config import AlignConfig
from .archs.registry import check_node
from .data.dataset import check_augment
from .data.synthetic import SyntheticSpec
from .engine.evaluate import METRIC_KEYS, HDRVDP2Config, check_metrics
from .engine.trainer import TrainConfig
from .errors import ConfigError
from .io.atomic import atomic_write_text
from .methods.cues import CuesConfig
from .methods.fusion import FusionConfig
from .methods.selfhdr import SelfHDRConfig

T = TypeVar("T")
PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class DataConfig:
    """Where the Kalantari-format dataset lives, and how training samples it."""

    root: str = "data/synthetic"
    synthetic: Optional[SyntheticSpec] = None
    """If set, a synthetic dataset with this spec is made at ``root`` when it is missing."""
    train_split: str = "Training"
    test_split: str = "Test"
    patch_size: int = 128
    augment: List[str] = field(default_factory=list)
    """Augmentations of the training crops of SelfHDR's stages and the supervised row, any of
    flip, rot90, channels, gain, tint (see selfhdr.data.dataset.BracketDataset); the published
    code uses none."""
    gain_stops: float = 1.0
    """The ``gain`` augmentation brightens each channel's radiance by up to this many stops;
    ``tint`` shifts the channels apart by up to this many stops (the least one unchanged)."""
    saturated_crops: float = 0.0
    """Share of those crops drawn around a pixel where the reference frame is saturated (the
    rest uniform); 0: all uniform, as published."""
    num_workers: int = 0
    """DataLoader worker processes for training (0: load in the training process)."""
    prepare_workers: Optional[int] = None
    """Processes for Y_color preparation (None: one per CPU core; 1: in this process)."""
    val_fraction: Optional[float] = None
    """Training scenes held out for validation (and testing when there is no test split);
    None: 0.1 when the root has no test split, else 0 (validate on the test split)."""

    def validate(self) -> None:
        """Reject impossible values."""
        if self.val_fraction is not None and not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in [0, 1), got {self.val_fraction}")
        check_augment(self.augment, self.saturated_crops, self.gain_stops)


@dataclass
class EvalConfig:
    """Test-time settings (validation during training and the final test)."""

    tile: Union[Literal["auto"], int, None] = "auto"
    """Tile side for full images: 'auto' (the default: 512, exact for the CNNs, blended for the
    transformers; see selfhdr.inference), a side in pixels, or null/0 for the whole image at once."""
    overlap: Optional[int] = None
    """Tile overlap; None: the backbone's exact default (see selfhdr.inference)."""
    val_crop: Optional[int] = 512
    """Validation PSNR-μ on the top-left val_crop × val_crop of each test image (SelfHDR)."""
    aligned_inputs: bool = False
    """Test on flow-aligned inputs (``<test_split>_align``), as the published code does for FSHDR."""
    metrics: List[str] = field(default_factory=lambda: list(METRIC_KEYS))
    """Columns of the test step's metrics.json and table, any of psnr_mu, psnr_l, ssim_mu, ssim_l,
    hdr_vdp2 (HDR-VDP-2's Q: seconds per megapixel, so not a default)."""
    hdr_vdp2: HDRVDP2Config = field(default_factory=HDRVDP2Config)
    """How hdr_vdp2 is called: {scale: 65535.0, pixels_per_degree: 30.0, color_encoding: rgb-bt.709},
    LRT-HDR's Metrics/eval_HDRv.m (SelfHDR's paper does not state its call)."""

    def validate(self) -> None:
        """Reject unknown metric names (before any work starts)."""
        try:
            check_metrics(self.metrics)
        except ValueError as exc:
            raise ConfigError(f"eval.metrics: {exc}") from None


@dataclass
class ReportConfig:
    """What the final table compares the trained model with (all on the test split)."""

    baselines: bool = True
    """Reference alone and the unaligned triangle merge."""
    color: bool = True
    """Y_color itself (flow-aligned merge of the test brackets; uses no network)."""
    supervised: bool = False
    """Also train the same backbone on the ground truth with the same budget (an upper bound)."""
    cues: bool = False
    """Also train the same backbone with the motion-and-exposure-cues method, same budget."""


METHODS = ("selfhdr", "supervised", "cues", "fusion")


@dataclass
class Config:
    """The whole configuration of a run."""

    name: str = "run"
    seed: int = 0
    output_dir: str = "runs"
    device: str = "auto"
    """'auto' (CUDA when present), 'cpu' or 'cuda[:n]'."""
    deterministic: bool = False
    threads: Optional[int] = None
    """CPU threads for torch; None: all cores."""
    dist_timeout_s: float = 1800.0
    """Under torchrun: how long any collective may wait for a peer before failing."""
    method: Literal["selfhdr", "supervised", "cues", "fusion"] = "selfhdr"
    """selfhdr | supervised | cues (Nazarczuk et al.) | fusion (two-exposure fusion network)."""
    data: DataConfig = field(default_factory=DataConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    model: Dict[str, Any] = field(default_factory=lambda: {"type": "AHDRNet"})
    """Backbone node: {type: AHDRNet | FSHDR | HDR-Transformer | SCTNet, **constructor kwargs}."""
    train: TrainConfig = field(default_factory=TrainConfig)
    selfhdr: SelfHDRConfig = field(default_factory=SelfHDRConfig)
    cues: CuesConfig = field(default_factory=CuesConfig)
    """Motion-and-exposure-cues self-supervision (Nazarczuk et al. 2022), ``method: cues``."""
    fusion: FusionConfig = field(default_factory=FusionConfig)
    """The unsupervised two-exposure fusion network, ``method: fusion``."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def validate(self) -> None:
        """Check the backbone node against the registry."""
        check_node(self.model, "model")


# ----------------------------------------------------------------------------- loading


def load_config(
    path: Optional[PathLike] = None,
    overrides: Sequence[str] = (),
    schema: Type[T] = Config,  # type: ignore[assignment]
) -> T:
    """Load a YAML file (or only defaults when ``path`` is None), apply overrides, validate."""
    raw: Dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: invalid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping, got {type(loaded).__name__}")
        raw = loaded
    if schema is Config and "model" not in raw and any(o.strip().startswith("model.") for o in overrides):
        # `--set model.nf=8` refines the default backbone node rather than replacing it.
        raw["model"] = dict(Config().model)
    for item in overrides:
        apply_override(raw, item)
    return from_dict(schema, raw)


def apply_override(raw: Dict[str, Any], item: str) -> None:
    """Apply one ``a.b.c=value`` override to a raw config dict (value parsed as YAML)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.path=value")
    key, _, text = item.partition("=")
    parts = [k.strip() for k in key.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: value is not valid YAML ({exc})") from None
    node = raw
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"override {item!r}: '{'.'.join(parts[: i + 1])}' is not a section")
        node = nxt
    node[parts[-1]] = value


def from_dict(cls: Type[T], data: Any, path: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, validating keys and types recursively."""
    where = path or "<config>"
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            full = f"{path}.{key}" if path else str(key)
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(fields)}"
            raise ConfigError(f"unknown config key '{full}'{hint}")
    kwargs = {}
    for name, value in data.items():
        sub = f"{path}.{name}" if path else name
        kwargs[name] = _coerce(hints[name], value, sub)
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if callable(check):
        try:
            check()
        except (ValueError, TypeError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"{where}: {exc}") from None
    return obj


_YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Union:
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, path)
            except ConfigError as exc:
                errors.append(str(exc))
        if len(errors) == 1:
            raise ConfigError(errors[0])
        raise ConfigError(f"{path}: {value!r} is none of {' | '.join(_describe(a) for a in args)}")
    if origin is Literal:
        if isinstance(value, bool) and not any(isinstance(a, bool) for a in args):
            # YAML 1.1 reads an unquoted off/on/no/yes as a boolean: take the word the choices offer.
            words = ("on", "yes", "true") if value else ("off", "no", "false")
            value = next((w for w in words if w in args), value)
        if value not in args:
            raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin in (list, List, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        item = args[0] if args else Any
        return [_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
            # YAML 1.1 reads 4e-3 and 1e5 (no dot in the mantissa) as strings: take the number.
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{path}: unsupported config type {tp}")  # pragma: no cover


_KINDS = {bool: "true/false", int: "an integer", float: "a number", str: "a string", type(None): "null"}


def _describe(tp: Any) -> str:
    """A type as the config accepts it, for error messages ('auto', true/false, an integer)."""
    if typing.get_origin(tp) is Literal:
        return ", ".join(map(repr, typing.get_args(tp)))
    return _KINDS.get(tp, getattr(tp, "__name__", str(tp)))


def to_dict(cfg: Any) -> Dict[str, Any]:
    """The config as plain dicts and lists (what :func:`save_config` writes)."""
    return dataclasses.asdict(cfg)


def save_config(cfg: Any, path: PathLike) -> None:
    """Write the resolved config as YAML, atomically."""
    atomic_write_text(Path(path), yaml.safe_dump(to_dict(cfg), sort_keys=False))
