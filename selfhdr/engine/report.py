"""A run's report: ``results.md`` (the table and each stage's learning curves) and ``results.json``.

The curves come from ``<run>/history.jsonl`` (see :mod:`selfhdr.engine.history`), one PNG per
training stage, ``curves_<stage>.png`` beside ``results.md``, so that convergence shows without
TensorBoard. ``results.json`` lists them under ``"curves"`` (stage → file name, relative to
the run folder).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Mapping, Optional

from ..io import atomic_write_text
from .evaluate import save_json
from .history import read_history, stages

log = logging.getLogger(__name__)
HISTORY = "history.jsonl"
"""The scalar history's file name in a run folder."""
CURVES = "curves_{}.png"
"""File name of a stage's learning curves in a run folder."""
COMPARED = "compared"
"""Key (and ``curves_compared.png``) of the figure with every stage's validation score on one panel."""


def write_curves(run_dir: Path, refs: Optional[Mapping[str, float]] = None, refs_key: str = "psnr_mu"
                 ) -> Dict[str, str]:
    """Draw ``curves_<stage>.png`` for every stage in the run's history; returns stage → file name.

    Where two or more stages logged ``refs_key``, ``curves_compared.png`` (key ``"compared"``)
    draws them on one panel.

    ``refs`` (``name → value``) become horizontal lines on the validation panel of each stage
    that logged the validation score ``refs_key``, the one score they are comparable with.
    """
    from .plots import compared_curves, learning_curves, val_keys  # matplotlib only when a report is drawn

    records = read_history(run_dir / HISTORY)
    out: Dict[str, str] = {}
    scored = []
    for stage in stages(records):
        name = CURVES.format(stage)
        lines = refs if refs and refs_key in val_keys(records, stage) else None
        learning_curves(records, run_dir / name, stages=[stage], refs=lines, title=f"{run_dir.name}: {stage}")
        out[stage] = name
        if refs_key in val_keys(records, stage):
            scored.append(stage)
    if len(scored) > 1:  # e.g. SelfHDR's stage 2 against the supervised row of the same budget
        name = CURVES.format(COMPARED)
        compared_curves(records, run_dir / name, scored, refs_key, refs, title=f"{run_dir.name}: every stage")
        out[COMPARED] = name
    return out


def curves_markdown(curves: Mapping[str, str], refs_note: str = "") -> str:
    """The Markdown section that embeds the curve PNGs ('' when there are none)."""
    if not curves:
        return ""
    lines = ["## Learning curves", "",
             "Training loss and validation score against optimiser steps, per stage "
             f"(data: `{HISTORY}`).{(' ' + refs_note) if refs_note else ''}", ""]
    lines += [f"![{stage}]({name})\n" for stage, name in curves.items()]
    return "\n".join(lines).rstrip()


def write_report(run_dir: Path, details: Dict, table: str, what: str, refs: Optional[Mapping[str, float]] = None,
                 refs_key: str = "psnr_mu", refs_note: str = "") -> Dict[str, str]:
    """Write ``results.json`` (``details`` plus ``"curves"``) and ``results.md`` (``table`` and curves).

    ``refs``/``refs_key``: see :func:`write_curves`. Prints the table; returns the curves
    (stage → file name).
    """
    curves = write_curves(run_dir, refs, refs_key)
    save_json(run_dir / "results.json", {**details, "curves": curves})
    section = curves_markdown(curves, refs_note)
    atomic_write_text(run_dir / "results.md", table + "\n" + (f"\n{section}\n" if section else ""))
    print(f"\n{what}; run folder {run_dir}")
    print(table)
    if curves:
        print("Learning curves: " + ", ".join(str(run_dir / n) for n in curves.values()))
    return curves


__all__ = ["COMPARED", "CURVES", "HISTORY", "curves_markdown", "write_curves", "write_report"]
