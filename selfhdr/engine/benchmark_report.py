"""The benchmark's Markdown tables (the README's Performance section) and its saved files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List

from .benchmark import Record

def _f(v: Any, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def _row(cells: List[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(head: List[str], rows: List[List[str]]) -> List[str]:
    return [_row(head), "|" + "---|" * len(head), *(_row(r) for r in rows)]


def _gib(r: Record) -> str:
    return _f(r.get("peak_rss_mb", 0) / 1024 if r.get("peak_rss_mb") else None)


def markdown(result: Record) -> str:
    from .benchmark_fusion import fusion_rows

    """The README's performance tables from a :func:`run_benchmark` result."""
    m = result["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores ({m.get('capability')}), torch {m['torch']}, "
             f"{m['date']}; load average {m['load_before']:.2f} before, {m.get('load_after', 0):.2f} after.", ""]
    floor = (result.get("floor") or [{}])[0].get("gflops")
    if result["inference"]:
        lines += ["Inference on one bracket (median of the repeats; peak RSS of the measuring process; "
                  "× eager = speed-up over a plain fp32 no_grad NCHW forward of the whole image; default = "
                  "`reconstruct(model, x1, x2, x3)` as documented, in a fresh process; × floor = time over "
                  "the image's multiply-accumulates at this machine's sustained fp32 GEMM rate"
                  + (f", {floor:.0f} GFLOP/s" if floor else "") + "):", ""]
        rows = []
        for r in result["inference"]:
            mode = r["mode"] + (f" {r['tile']}" if r.get("tile") else "")
            if "error" in r:
                rows.append([r["backbone"], r["size"], mode, f"failed: {r['error'][:60]}", "", "", "", "", ""])
                continue
            rows.append([r["backbone"], r["size"], mode, _f(r["seconds"]), _f(r["s_per_mp"]),
                         _f(r.get("speedup_vs_eager"), "{:.2f}×"), _f(r.get("x_floor"), "{:.2f}×"), _gib(r),
                         _f(r.get("max_abs_diff_vs_eager"), "{:.1e}")])
        lines += _table(["backbone", "size", "mode", "s", "s/MP", "× eager", "× floor", "peak GiB",
                         "max abs Δ vs eager"], rows)
        lines.append("")
        wino = (result.get("floor") or [{}])[0].get("winograd")
        if wino:
            lines += [f"Below the floor? One {wino['channels']}→{wino['channels']} 3×3 layer at "
                      f"{wino['size']}², fp32: direct (oneDNN) {wino['direct_seconds'] * 1e3:.1f} ms; Winograd "
                      f"F(2×2, 3×3) in torch operations {wino['winograd_seconds'] * 1e3:.1f} ms, of which its "
                      f"16 batched products (2.25× fewer multiplies) {wino['winograd_gemm_seconds'] * 1e3:.1f} ms "
                      f"and its input transform {wino['winograd_transform_seconds'] * 1e3:.1f} ms "
                      f"(max |Δ| {wino['max_abs_diff']:.1e}).", ""]
    if result["train"]:
        lines += ["One training step (forward, μ-law L1, backward, Adam) at the demo's batch and patch "
                  "(configs/demo.yaml; each backbone at the widths benchmarked here) and at the paper's; "
                  "× fp32 = speed-up over the fp32 NCHW step of the same backbone and batch; -cl: "
                  "channels-last; auto: what train.amp/channels_last=auto pick on this machine (in "
                  "brackets); compile: auto plus train.compile (warm-up step incl. compilation apart):", ""]
        rows = []
        for r in result["train"]:
            mode = r["mode"] + (f" ({r['resolved']})" if r.get("resolved") and r["mode"] in ("auto", "compile") else "")
            head = [r["backbone"], r.get("setup", "paper"), f"{r['batch']}×{r['patch']}²", mode]
            if "error" in r:
                rows.append(head + [f"failed: {r['error'][:60]}", "", "", "", ""])
                continue
            rows.append(head + [_f(r["seconds"]), _f(r["samples_per_s"]), _f(r.get("speedup_vs_fp32"), "{:.2f}×"),
                                _f(r.get("first_step_seconds")), _gib(r)])
        lines += _table(["backbone", "setup", "batch", "mode", "s/step", "samples/s", "× fp32",
                         "first step s", "peak GiB"], rows)
        lines.append("")
    rows = []
    for r in result["color"]:
        rows.append([f"Y_color preparation, {r['size']} scene", "failed" if "error" in r else
                     f"{r['seconds']:.2f} s/scene (CPU {r['cpu_seconds']:.2f} s, peak {_gib(r)} GiB)"])
    for r in result["data"]:
        label = f"data wait, {r['backbone']} batch {r['batch']}×{r['patch']}² on {r['size']} scenes, " \
                f"{r['workers']} workers"
        rows.append([label, "failed: " + r["error"][:60] if "error" in r else
                     f"{100 * r['wait_share']:.1f}% of a step ({r['wait_seconds']:.3f} s wait, "
                     f"{r['step_seconds']:.2f} s step; {100 * r['epoch_wait_share']:.1f}% over a "
                     f"1200-step epoch incl. {r['first_wait_seconds']:.2f} s loader start)"])
    for r in result["precision"]:
        rows.append([f"bf16 vs fp32, {Path(r['checkpoint']).parent.name} checkpoint on "
                     f"{Path(r['split']).parent.name}/Test", "failed: " + r["error"][:60] if "error" in r else
                     f"PSNR-μ {r['psnr_mu_fp32']:.2f} → {r['psnr_mu_bf16']:.2f} dB "
                     f"({r['psnr_mu_change']:+.3f} dB), max abs Δ {r['max_abs_diff']:.1e}"])
    for r in result.get("stream", []):
        rows.append([f"selfhdr-test over {r['scenes']} scenes of {r['size']}, {r['backbone']}"
                     + (" (reduced widths)" if r.get("kwargs") else ""),
                     "failed: " + r["error"][:60] if "error" in r else
                     f"peak {_gib(r)} GiB, {r['seconds_per_scene']:.1f} s/scene"])
    rows += fusion_rows(result.get("fusion", []))
    rows += _vdp_rows(result.get("vdp", []))
    if rows:
        lines += _table(["measurement", "result"], rows)
    return "\n".join(lines) + "\n"


def _vdp_rows(records: List[Record]) -> List[List[str]]:
    """HDR-VDP-2 rows: the numpy port, then the MATLAB code in Octave (or why it did not run)."""
    rows = []
    for r in records:
        if r.get("mode") == "numpy":
            label = f"HDR-VDP-2 on one {r['size']} pair, numpy port (selfhdr.metrics.hdr_vdp2)"
            rows.append([label, "failed: " + r["error"][:60] if "error" in r else
                         f"{r['seconds']:.2f} s/pair (CPU {r['cpu_seconds']:.2f} s, peak {_gib(r)} GiB), "
                         f"Q = {r['Q']:.4f}"])
            continue
        label = f"HDR-VDP-2 on one {r['size']} pair, MATLAB hdrvdp.m in GNU Octave"
        if r.get("skipped"):
            rows.append([label, f"not run: {r['skipped']}"])
        elif "error" in r:
            rows.append([label, "failed: " + r["error"][:60]])
        else:
            rows.append([label + f" {r['octave_version']}",
                         f"{r['seconds']:.2f} s/pair ({_f(r.get('octave_over_numpy'), '{:.2f}')}× the port), "
                         f"Q = {r['Q']:.4f}, abs ΔQ vs port = {_f(r.get('abs_dq_vs_numpy'), '{:.1e}')}"])
    return rows


def save(result: Record, out: Path) -> Path:
    """Write ``out`` (JSON) and the Markdown table beside it (``.md``); returns the latter."""
    from ..io import atomic_write_text

    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    md = out.with_suffix(".md")
    atomic_write_text(md, markdown(result))
    return md
