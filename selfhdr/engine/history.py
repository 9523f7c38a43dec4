"""A plain-text record of every logged scalar dict, beside TensorBoard: ``<run>/history.jsonl``.

One JSON line per :meth:`RunLogger.scalars` call, ``{"tag", "step", "values"}``, appended with a
single ``write`` on an ``O_APPEND`` descriptor so that lines never interleave or tear short of
a crash mid-write. Resume is exact (a resumed stage replays every step after its checkpoint),
so when a stage (re)starts at step ``s`` its lines with a step above ``s`` are dropped first:
the replayed steps then appear once. A torn last line (a crash mid-write) is skipped on reading
and removed by the next rewrite.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Union

from ..io.atomic import atomic_write_text

log = logging.getLogger(__name__)
PathLike = Union[str, "os.PathLike[str]"]
Record = Dict[str, Any]
"""One history line: ``{"tag": str, "step": int, "values": {name: float}}``."""


def stage_of(tag: str) -> str:
    """The training stage a tag belongs to (``stage2/val`` → ``stage2``)."""
    return tag.split("/", 1)[0]


class History:
    """Appends records to a ``.jsonl`` file (create with ``enabled=False`` on ranks other than 0)."""

    def __init__(self, path: PathLike, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def append(self, tag: str, step: int, values: Mapping[str, float]) -> None:
        """Add one record as one line."""
        if not self.enabled:
            return
        line = json.dumps({"tag": tag, "step": int(step), "values": {k: float(v) for k, v in values.items()}})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
        finally:
            os.close(fd)

    def restart(self, stage: str, step: int) -> None:
        """Drop the records of ``stage`` above ``step``: the stage is about to (re)run from there."""
        if not self.enabled or not self.path.exists():
            return
        text = self.path.read_text(encoding="utf-8")
        records = read_history(self.path)
        keep = [r for r in records if stage_of(r["tag"]) != stage or r["step"] <= step]
        if len(keep) == len(records) and (not text or text.endswith("\n")):
            return
        log.debug("%s: %d records of %s after step %d dropped", self.path, len(records) - len(keep), stage, step)
        if keep:
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in keep))
        else:  # an atomic write refuses an empty file
            self.path.unlink()


def read_history(path: PathLike) -> List[Record]:
    """Every well-formed record of a history file, in file order ([] if there is none)."""
    p = Path(path)
    if not p.is_file():
        return []
    out: List[Record] = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            out.append({"tag": str(rec["tag"]), "step": int(rec["step"]), "values": dict(rec["values"])})
        except (ValueError, KeyError, TypeError):
            log.warning("%s line %d: not a history record (a write cut short?); skipped", p, n)
    return out


def series(records: Iterable[Record], tag: str, key: str) -> List[List[float]]:
    """``[steps, values]`` of ``key`` under ``tag``, sorted by step; a repeated step keeps its last value."""
    points: Dict[int, float] = {}
    for r in records:
        if r["tag"] == tag and key in r["values"]:
            points[r["step"]] = float(r["values"][key])
    steps = sorted(points)
    return [[float(s) for s in steps], [points[s] for s in steps]]


def stages(records: Iterable[Record]) -> List[str]:
    """The stages present, in order of first appearance."""
    return list(dict.fromkeys(stage_of(r["tag"]) for r in records))


__all__ = ["History", "Record", "read_history", "series", "stage_of", "stages"]
