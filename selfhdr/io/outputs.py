"""Checking output locations before any long work, and writing an HDR with its preview together.

Every command that writes results calls :func:`check_output_dir` / :func:`check_output_file`
first, so a blocked location (a file where a folder must go, a folder where a file must go, a
read-only folder) fails in a second with one line naming the path, not after an hour of
inference. Writability is probed by creating and removing a temporary file, since permission
bits say nothing for root or on read-only mounts.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterable, Union

import numpy as np

from ..errors import OutputError
from .atomic import atomic_path
from .hdr import HDR_SUFFIXES, encode_hdr
from .preview import encode_preview

PathLike = Union[str, "os.PathLike[str]"]


def _probe(folder: Path) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".selfhdr-probe-", dir=folder)
    except OSError as exc:
        raise OutputError(folder, f"folder is not writable ({exc.strerror or exc})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)


def check_output_dir(path: PathLike) -> Path:
    """Check that folder ``path`` exists or can be created, and that files can be written in it."""
    d = Path(path)
    probe = d
    while not probe.exists():
        if probe.is_symlink():
            raise OutputError(probe, "is a broken symbolic link")
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "" if probe == d else f" (needed for {d})"
        raise OutputError(probe, f"is a file, not a folder{where}")
    _probe(probe)
    return d


def check_output_file(path: PathLike, suffixes: Iterable[str] = ()) -> Path:
    """Check that file ``path`` can be (re)written: not a folder, parent writable, known suffix."""
    p = Path(path)
    allowed = tuple(s.lower() for s in suffixes)
    if allowed and p.suffix.lower() not in allowed:
        raise OutputError(p, f"unsupported output suffix {p.suffix or '(none)'!r}; use one of {', '.join(allowed)}")
    if p.is_dir():
        raise OutputError(p, "is a folder; an output file must go here")
    check_output_dir(p.parent)
    return p


def check_hdr_output(path: PathLike) -> Path:
    """Check an HDR output file (``.hdr``/``.exr``) and the ``.png`` preview that goes beside it."""
    p = check_output_file(path, HDR_SUFFIXES)
    check_output_file(p.with_suffix(".png"))
    return p


def write_hdr_with_preview(path: PathLike, hdr: np.ndarray, tonemap: str = "mu") -> Path:
    """Write ``path`` (.hdr/.exr) and its tonemapped ``.png`` together, or neither.

    Both are encoded to temporary files first; nothing is renamed into place unless both
    succeeded. The preview is renamed first and the HDR last, so an existing HDR output always
    has its preview. Returns the preview's path.
    """
    p = Path(path)
    png = p.with_suffix(".png")
    with atomic_path(p) as tmp_hdr:
        with atomic_path(png) as tmp_png:
            encode_hdr(tmp_hdr, hdr, p)
            encode_preview(tmp_png, hdr, tonemap)
    return png


__all__ = ["check_hdr_output", "check_output_dir", "check_output_file", "write_hdr_with_preview"]
