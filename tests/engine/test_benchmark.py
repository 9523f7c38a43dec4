"""The benchmark runs end to end on tiny settings and writes the JSON and Markdown it promises.

No timing assertions: only the schema, the comparisons with the eager run, and rendering.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from selfhdr.engine.benchmark import BenchConfig, measure, run_benchmark
from selfhdr.engine.benchmark_report import markdown, save

TINY = {
    "AHDRNet": dict(nf=4, growth=4, n_dense=1, n_rdb=1),
    "SCTNet": dict(embed_dim=12, depths=(1,), num_heads=(2,), channel_heads=2),
}


def _quick(**kw: object) -> BenchConfig:
    # AHDRNet's radius is 9 here (exact tiles need overlap 18); SCTNet blends 64 pixels.
    base = dict(backbones=list(TINY), model_kwargs=TINY, sizes=[(88, 64)], isolate=False,
                tiles={"AHDRNet": 48, "SCTNet": 80}, train_batch={"AHDRNet": 2, "SCTNet": 2},
                train_modes=["fp32", "auto"], train_patch=32, demo_batch=2, demo_patch=16,
                color_size=(64, 96), data_size=(64, 96),
                data_steps=2, checkpoint=None)
    base.update(kw)
    return BenchConfig.quick(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def result() -> dict:
    import selfhdr.engine.device as device

    # In-process workers (isolate=False): fake an AVX2-only CPU so 'auto' is fp32 on any machine
    # (a module fixture runs before conftest's per-test fake).
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(device, "_cpu_flags", lambda: frozenset({"avx2"}))
        return run_benchmark(_quick(), progress=lambda _: None)


def test_inference_records(result: dict) -> None:
    recs = result["inference"]
    assert {(r["backbone"], r["mode"]) for r in recs} == {
        (b, m) for b in TINY for m in ("eager", "default", "fp32", "fp32-tiled", "bf16")}
    for r in recs:
        assert "error" not in r, r
        for key in ("seconds", "cpu_seconds", "s_per_mp", "peak_rss_mb", "speedup_vs_eager", "macs", "x_floor"):
            assert isinstance(r[key], float) and r[key] > 0 and math.isfinite(r[key]), key
        assert r["sys_seconds"] >= 0 and r["minor_faults"] >= 0
        if r["mode"] == "eager":
            assert r["speedup_vs_eager"] == 1.0
        else:
            # Exact for fp32 except blended transformer tiles (their context is global).
            blended = r["tiled"] and r["backbone"] == "SCTNet"
            tol = 1e-5 if r["precision"] == "fp32" and not blended else 2e-2
            assert r["max_abs_diff_vs_eager"] <= tol, r
    assert all(r["tile"] == (48 if r["backbone"] == "AHDRNet" else 80) for r in recs if r["tiled"])


def test_tiled_modes_only_where_the_image_exceeds_the_tile(tmp_path: Path) -> None:
    from selfhdr.engine.benchmark import _inference_specs

    specs = _inference_specs(_quick(sizes=[(40, 40)]), tmp_path)
    assert specs and not any(s["tiled"] for s in specs)


def test_train_color_data_records(result: dict) -> None:
    assert sorted((r["backbone"], r["setup"], r["mode"]) for r in result["train"]) == sorted(
        (b, s, m) for b in TINY for s in ("demo", "paper") for m in ("fp32", "auto"))
    for r in result["train"]:
        assert "error" not in r and r["seconds"] > 0 and r["batch"] == 2, r
        assert r["patch"] == (16 if r["setup"] == "demo" else 32)
        assert r["speedup_vs_fp32"] > 0 and (r["mode"] != "fp32" or r["speedup_vs_fp32"] == 1.0)
        # auto on the faked AVX2 CPU: what the Trainer picks (fp32, channels-last for the CNN)
        cl = r["mode"] == "auto" and r["backbone"] == "AHDRNet"
        assert r["resolved"] == ("fp32-cl" if cl else "fp32"), r
    (color,) = result["color"]
    assert "error" not in color and color["seconds"] > 0
    (data,) = result["data"]
    assert "error" not in data and 0.0 <= data["wait_share"] <= 1.0 and len(data["waits"]) == 2


def test_floor_and_stream_records(result: dict) -> None:
    (floor,) = result["floor"]
    assert floor["gflops"] > 0.1
    for r in result["inference"]:  # each row's MACs are of the whole image, whatever the mode
        same = [q["macs"] for q in result["inference"] if q["backbone"] == r["backbone"]]
        assert r["macs"] == same[0] and r["x_floor"] == pytest.approx(r["seconds"] * floor["gflops"] * 1e9
                                                                       / (2 * r["macs"]))
    assert [(r["scenes"], "error" in r) for r in result["stream"]] == [(1, False), (3, False)]
    assert all(r["seconds_per_scene"] > 0 and r["peak_rss_mb"] > 0 for r in result["stream"])
    wino = floor["winograd"]  # the probe of a route below the direct-MAC floor
    assert (wino["channels"], wino["size"]) == (64, 256) and wino["max_abs_diff"] < 1e-4
    assert all(wino[k] > 0 for k in ("direct_seconds", "winograd_seconds", "winograd_gemm_seconds",
                                     "winograd_transform_seconds"))
    assert "Below the floor? One 64→64 3×3 layer at 256², fp32: direct (oneDNN)" in markdown(result)


def test_fusion_records(result: dict) -> None:
    """FusionNet and Mertens on one 96×128 pair: seconds per megapixel and peak memory."""
    assert [(r["method"], r["size"], "error" in r) for r in result["fusion"]] == [
        ("network", "96×128", False), ("network-wide", "96×128", False), ("mertens", "96×128", False)]
    for r in result["fusion"]:
        assert r["seconds"] > 0 and r["s_per_mp"] == pytest.approx(r["seconds"] / (96 * 128 / 1e6))
    text = markdown(result)
    assert "two-exposure fusion of one 96×128 pair, FusionNet (widths 16-32-64-128, fp32)" in text
    assert "two-exposure fusion of one 96×128 pair, FusionNet (widths 32-64-128-256, fp32)" in text
    assert "two-exposure fusion of one 96×128 pair, OpenCV Mertens" in text


def test_json_and_markdown(result: dict, tmp_path: Path) -> None:
    md_path = save(result, tmp_path / "bench" / "benchmark.json")
    loaded = json.loads((tmp_path / "bench" / "benchmark.json").read_text())
    assert set(loaded) == {"machine", "config", "inference", "train", "color", "data", "precision", "floor", "stream",
                           "vdp", "fusion"}
    text = md_path.read_text()
    assert text == markdown(loaded)
    assert "| backbone | size | mode | s | s/MP | × eager | × floor |" in text
    assert "| AHDRNet | 88×64 | default |" in text
    assert "selfhdr-test over 1 scenes of 64×96, AHDRNet (reduced widths)" in text
    assert "| AHDRNet | 88×64 | fp32-tiled 48 |" in text
    assert "Y_color preparation, 64×96 scene" in text and "data wait, AHDRNet" in text
    assert "| backbone | setup | batch | mode | s/step | samples/s | × fp32 |" in text
    assert "| AHDRNet | demo | 2×16² | fp32 |" in text and "| SCTNet | paper | 2×32² | auto (fp32) |" in text
    (fp32_row,) = [l for l in text.splitlines() if l.startswith("| AHDRNet | demo | 2×16² | fp32 |")]
    assert "| 1.00× |" in fp32_row
    # Every table row has as many cells as its header.
    for block in text.split("\n\n"):
        rows = [l for l in block.splitlines() if l.startswith("|")]
        assert len({l.count("|") for l in rows}) <= 1, block


def test_precision_row_keeps_the_table_intact(result: dict) -> None:
    """A bf16-vs-fp32 row (needs a trained checkpoint, so made up here) renders as one row."""
    rec = {"checkpoint": "runs/demo/stage2/model.pth", "split": "data/synthetic/Test",
           "psnr_mu_fp32": 35.07, "psnr_mu_bf16": 35.06, "psnr_mu_change": -0.016, "max_abs_diff": 7.1e-3}
    text = markdown({**result, "precision": [rec]})
    (row,) = [l for l in text.splitlines() if l.startswith("| bf16 vs fp32")]
    assert row.count("|") == 3 and "-0.016 dB" in row and "7.1e-03" in row


def test_failures_are_recorded_not_raised() -> None:
    rec = measure({"kind": "infer", "backbone": "NoSuchNet", "inputs": "missing.npz"}, _quick())
    assert rec["backbone"] == "NoSuchNet" and "error" in rec


def test_worker_runs_in_its_own_process(tmp_path: Path) -> None:
    """The real isolation path: one measurement in a fresh interpreter, one JSON line back."""
    cfg = _quick(isolate=True)
    rec = measure({"kind": "train", "backbone": "AHDRNet", "kwargs": TINY["AHDRNet"], "mode": "fp32",
                   "precision": "fp32", "channels_last": True, "batch": 1, "patch": 16, "repeats": 1,
                   "threads": 1, "malloc": "keep"}, cfg)
    assert "error" not in rec, rec
    assert rec["threads"] == 1 and rec["malloc_kept"] in (True, False) and rec["peak_rss_mb"] > 0


def test_demo_setup_matches_the_demo_config() -> None:
    from selfhdr.config import load_config
    from selfhdr.engine.benchmark import DEMO_BATCH, DEMO_PATCH

    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml")
    assert (cfg.train.batch_size, cfg.data.patch_size) == (DEMO_BATCH, DEMO_PATCH)


def test_compile_mode_compiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compile row goes through torch.compile (here Dynamo's cheap 'eager' backend)."""
    import torch

    from selfhdr.engine.benchmark import TRAIN_MODES, run_worker

    real, made = torch.compile, []
    monkeypatch.setattr(torch, "compile", lambda m, **_: made.append(real(m, backend="eager")) or made[-1])
    torch._dynamo.reset()
    rec = run_worker({"kind": "train", "backbone": "AHDRNet", "kwargs": TINY["AHDRNet"], "mode": "compile",
                      **TRAIN_MODES["compile"], "batch": 1, "patch": 16, "repeats": 1, "threads": 1})
    torch._dynamo.reset()
    assert len(made) == 1 and rec["resolved"] == "fp32-cl+compile" and rec["first_step_seconds"] > 0


def test_auto_mode_on_a_bf16_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """auto follows the Trainer's rules: bf16, channels-last for the CNN only."""
    import selfhdr.engine.device as device
    from selfhdr.engine.benchmark import TRAIN_MODES, run_worker

    monkeypatch.setattr(device, "_cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    got = {name: run_worker({"kind": "train", "backbone": name, "kwargs": TINY[name], "mode": "auto",
                             **TRAIN_MODES["auto"], "batch": 1, "patch": 16, "repeats": 1, "threads": 1})["resolved"]
           for name in TINY}
    assert got == {"AHDRNet": "bf16-cl", "SCTNet": "bf16"}


def test_vdp_part_without_octave(tmp_path: Path) -> None:
    """HDR-VDP-2 on a tiny pair: the port's time and Q, and an Octave row that says why it is missing."""
    from selfhdr.engine.benchmark_vdp import make_pair
    from selfhdr.metrics import hdr_vdp2

    for octave, toolbox, why in (
            ("no-such-octave", str(tmp_path), "Octave not found ('no-such-octave' is not on PATH)"),
            ("sh", None, "no toolbox folder given (--hdrvdp-toolbox DIR)")):
        res = run_benchmark(_quick(parts=["vdp"], vdp_size=(32, 48), octave=octave, hdrvdp_toolbox=toolbox),
                            progress=lambda _: None)
        ours, theirs = res["vdp"]
        assert "error" not in ours and ours["mode"] == "numpy" and ours["seconds"] > 0
        test, ref = make_pair(32, 48, 65535.0)
        assert ours["Q"] == hdr_vdp2(test, ref, "rgb-bt.709", 30.0).Q < 100.0
        assert theirs == {"kind": "vdp_octave", "mode": "octave", "size": "32×48", "skipped": why}
        md = markdown(res)
        assert f"numpy port (selfhdr.metrics.hdr_vdp2) | {ours['seconds']:.2f} s/pair" in md
        assert f"MATLAB hdrvdp.m in GNU Octave | not run: {why} |" in md
        assert all(l.count("|") == 3 for l in md.splitlines() if l.startswith("| HDR-VDP-2"))


def test_vdp_part_with_octave(tmp_path: Path) -> None:
    """Opt-in (HDRVDP_TOOLBOX=<hdrvdp-2.2.2 folder> and octave on PATH): the Octave row and its ΔQ."""
    import os
    import shutil

    toolbox = os.environ.get("HDRVDP_TOOLBOX")
    if not toolbox or shutil.which("octave") is None:
        pytest.skip("set HDRVDP_TOOLBOX to an unmodified hdrvdp-2.2.2 folder (needs octave, octave-image)")
    res = run_benchmark(_quick(parts=["vdp"], vdp_size=(32, 48), hdrvdp_toolbox=toolbox), progress=lambda _: None)
    ours, theirs = res["vdp"]
    assert "error" not in theirs, theirs
    assert theirs["seconds"] > 0 and theirs["abs_dq_vs_numpy"] < 1e-6
    assert theirs["octave_over_numpy"] == pytest.approx(theirs["seconds"] / ours["seconds"])
    md = markdown(res)
    assert "abs ΔQ vs port = " in md and all(l.count("|") == 3 for l in md.splitlines() if l.startswith("| HDR-VDP-2"))
