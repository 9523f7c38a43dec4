"""The backbone registry: one name → constructor table shared by configs, scripts and tests."""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from typing import Any, Callable, Dict, List, Optional, Type, TypeVar, Union

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
    the arguments the constructor accepts; a value of the wrong type for the constructor's
    annotation (or, unannotated, its default's type) is reported by its path too, so
    ``model.nf=abc`` fails when the config loads rather than when the network is built.
    """
    if not isinstance(node, dict) or "type" not in node:
        raise ConfigError(f"{path}: expected a mapping with a 'type' key, got {node!r}")
    try:
        cls = backbone_class(node["type"])
    except ConfigError as exc:
        raise ConfigError(f"{path}.type: {exc}") from None
    params = inspect.signature(cls.__init__).parameters
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError):  # an annotation that does not resolve: use defaults only
        hints = {}
    open_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    valid = [n for n, p in params.items()
             if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    for key, value in node.items():
        if key == "type":
            continue
        if key not in valid:
            if open_kwargs:
                continue
            raise ConfigError(f"unknown config key '{path}.{key}' for backbone {node['type']}; "
                              f"valid: {', '.join(valid)}")
        expected = hints.get(key)
        if expected is None and params[key].default is not inspect.Parameter.empty \
                and params[key].default is not None:
            expected = type(params[key].default)
        problem = _type_problem(value, expected) if expected is not None else None
        if problem:
            raise ConfigError(f"{path}.{key}: {problem}, got {value!r} ({type(value).__name__}) "
                              f"for backbone {node['type']}")


def _type_problem(value: Any, tp: Any) -> Optional[str]:
    """None if ``value`` (as YAML gives it) fits annotation ``tp``, else what was expected.

    Annotations this cannot judge are accepted: the constructor still checks them.
    """
    if tp is Any:
        return None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union or origin is types.UnionType:  # Optional[X], Union[X, Y], X | Y
        if value is None and type(None) in args:
            return None
        problems = [_type_problem(value, a) for a in args if a is not type(None)]
        return None if any(p is None for p in problems) else " or ".join(p for p in problems if p)
    if origin is typing.Literal:
        return None if value in args else f"expected one of {', '.join(map(repr, args))}"
    # bool is an int in Python, but `nf: true` is a typo, not a width.
    if tp is bool:
        return None if isinstance(value, bool) else "expected true or false"
    if tp is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "expected an integer"
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else "expected a number"
    if tp is str:
        return None if isinstance(value, str) else "expected a string"
    seq = origin if origin is not None else tp
    if isinstance(seq, type) and issubclass(seq, (list, tuple, collections.abc.Sequence)) \
            and not issubclass(seq, str):
        if not isinstance(value, (list, tuple)):
            return "expected a list"
        # Sequence[X], List[X] and Tuple[X, ...] constrain every item; fixed tuples are left alone.
        item = args[0] if len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis) else None
        for v in value if item is not None else ():
            sub = _type_problem(v, item)
            if sub:
                return f"expected a list of items that each fit: {sub}"
        return None
    return None


def build_from_node(node: Dict[str, Any], path: str = "model") -> nn.Module:
    """Build a backbone from a config node ``{type: Name, **constructor_kwargs}`` (validated)."""
    check_node(node, path)
    return build_backbone(node["type"], **{k: v for k, v in node.items() if k != "type"})
