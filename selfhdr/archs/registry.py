"""The backbone registry: one name → constructor table shared by configs, scripts and tests."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Type, TypeVar

from torch import nn

from ..errors import ConfigError

M = TypeVar("M", bound=Type[nn.Module])

_BACKBONES: Dict[str, Type[nn.Module]] = {}


def register_backbone(name: str) -> Callable[[M], M]:
    """Class decorator registering a reconstruction backbone under ``name``.

    A backbone takes ``forward(x1, x2, x3)`` on B×6×H×W frames ``[linear, LDR]`` (frame 2 is
    the reference) and returns B×3×H×W in [0, 1]. It declares ``size_divisor``: the input
    height and width must be multiples of it (see :func:`selfhdr.inference.pad_to_multiple`).
    """

    def deco(cls: M) -> M:
        if name in _BACKBONES:
            raise ValueError(f"backbone {name!r} is registered twice")
        divisor = getattr(cls, "size_divisor", None)
        if not isinstance(divisor, int) or divisor < 1:
            raise TypeError(f"backbone {name!r} must declare an integer size_divisor >= 1")
        _BACKBONES[name] = cls
        return cls

    return deco


def list_backbones() -> List[str]:
    """Names of every registered backbone, in registration order."""
    return list(_BACKBONES)


def backbone_class(name: str) -> Type[nn.Module]:
    """The class registered under ``name``; a clear error lists the valid names."""
    try:
        return _BACKBONES[name]
    except KeyError:
        raise ConfigError(
            f"unknown backbone {name!r}; choose one of {', '.join(list_backbones())}"
        ) from None


def build_backbone(name: str, **kwargs: Any) -> nn.Module:
    """Build the backbone registered under ``name`` with constructor ``kwargs``."""
    cls = backbone_class(name)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"backbone {name!r}: bad constructor arguments {kwargs}: {exc}") from exc


def check_node(node: Any, path: str = "model") -> None:
    """Validate a config node ``{type: Name, **constructor_kwargs}`` without building it.

    Unknown keyword arguments are reported by their config path (``model.nff``) together with
    the arguments the constructor accepts.
    """
    import inspect

    if not isinstance(node, dict) or "type" not in node:
        raise ConfigError(f"{path}: expected a mapping with a 'type' key, got {node!r}")
    try:
        cls = backbone_class(node["type"])
    except ConfigError as exc:
        raise ConfigError(f"{path}.type: {exc}") from None
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    valid = [n for n in params if n != "self"]
    for key in node:
        if key != "type" and key not in valid:
            raise ConfigError(f"unknown config key '{path}.{key}' for backbone {node['type']}; "
                              f"valid: {', '.join(valid)}")


def build_from_node(node: Dict[str, Any], path: str = "model") -> nn.Module:
    """Build a backbone from a config node ``{type: Name, **constructor_kwargs}`` (validated)."""
    check_node(node, path)
    return build_backbone(node["type"], **{k: v for k, v in node.items() if k != "type"})
