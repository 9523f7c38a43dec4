"""Exception types raised by selfhdr; every message names the file or key at fault."""

from __future__ import annotations

import os
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]


class SelfHDRError(Exception):
    """Base class of every error selfhdr raises on purpose."""


class InputError(SelfHDRError, ValueError):
    """A file or array given to selfhdr is missing, unreadable or malformed."""

    def __init__(self, path: PathLike | None, problem: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class ConfigError(SelfHDRError, ValueError):
    """A configuration value or key is invalid; the message names its dotted path."""


class CheckpointError(SelfHDRError, ValueError):
    """A checkpoint file cannot be read or does not match the model."""


class OutputError(SelfHDRError, OSError):
    """An output location cannot be written (a folder where a file goes, a read-only folder, …)."""

    def __init__(self, path: PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __str__(self) -> str:  # OSError's own __str__ would print the args tuple
        return f"{self.path}: {self.problem}"
