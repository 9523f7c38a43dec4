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
