"""The README's runnable commands: what each needs first, adds and leaves (``JOBS``), run two at a time."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch

from conftest import write_camera_brackets
from test_readme import REPO, section
from selfhdr.archs import build_backbone, save_weights
from selfhdr.cli import COMMANDS
from selfhdr.data.synthetic import SyntheticSpec, make_scene, scene_rng, write_dataset
from selfhdr.io import read_hdr, write_ldr
from readme_table import FUSION_TINY, HDR_TINY, TIME, TINY_NET, entry_for, examples, substituted

# ----------------------------------------------------------------------------- commands that run


@dataclass
class Job:
    """A run entry's command: what it needs first, what it adds to the README's line, what it leaves."""

    deps: Tuple[str, ...] = ()
    extra: List[str] = field(default_factory=list)
    files: Tuple[str, ...] = ()
    printed: Tuple[str, ...] = ()
    before: Optional[Callable[[Path], None]] = None
    check: Optional[Callable[[Path, str], None]] = None


def _interrupt(w: Path) -> None:
    (w / "runs/fusion/fusion/model.pth").unlink()  # the stage's last checkpoint stays: an interrupted run


def _synthetic_files(w: Path) -> str:
    return "\n".join(f"{p} {p.stat().st_mtime_ns}" for p in sorted((w / "data/synthetic").rglob("*.*"))
                     if p.name != "synthetic.json")


def _snapshot(w: Path) -> None:
    (w / "synthetic.before").write_text(_synthetic_files(w))


def _check_unchanged(w: Path, out: str) -> None:
    assert _synthetic_files(w) == (w / "synthetic.before").read_text(), "make_synthetic is not idempotent"


def _scenes(root: Path) -> List[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir())


def _stems(folder: Path, pattern: str) -> List[str]:
    return sorted(p.stem for p in folder.glob(pattern))


def _check_demo(w: Path, out: str) -> None:
    for row in re.findall(r"^\| ([^|*]+?) \| [\d*.]+", section("Demo results (synthetic test split)"), re.M):
        assert f"| {row} |" in out, row  # "prints the table below"
    train, test, rd = _scenes(w / "data/synthetic/Training"), _scenes(w / "data/synthetic/Test"), w / "runs/demo"
    assert (len(train), len(test)) == (12, 4)
    assert _stems(rd / "stru", "*.hdr") == _stems(rd / "stru", "*.png") == train  # Y_stru: .hdr + .png per scene
    assert _stems(rd / "test/selfhdr", "*.hdr") == _stems(rd / "test/selfhdr", "*.png") == test


def _test_check(folder: str) -> Callable[[Path, str], None]:
    """test.py's output in ``folder``: every test scene scored, with its .hdr and .png."""
    def check(w: Path, out: str) -> None:
        res, scenes = w / folder, _scenes(w / "data/synthetic/Test")
        assert sorted(json.loads((res / "metrics.json").read_text())["scenes"]) == scenes
        assert _stems(res, "*.hdr") == _stems(res, "*.png") == scenes
    return check


def _check_test_vdp(w: Path, out: str) -> None:
    """"It prints the five columns and writes hdr_vdp2 into metrics.json"."""
    metrics = json.loads((w / "runs/demo/retest_vdp/metrics.json").read_text())
    assert all(0 < m["hdr_vdp2"] <= 100 for m in metrics["scenes"].values()) and "hdr_vdp2" in metrics["mean"]
    assert "| PSNR-μ | PSNR-l | SSIM-μ | SSIM-l | HDR-VDP-2 |" in out, out


def _check_evaluate_color(w: Path, out: str) -> None:
    """"# the table below": its header, and every row named exactly as the command prints it."""
    text = section("Y_color: alignment in Python")
    table = text[text.index("On the demo's synthetic test split"):text.index("On a harder set")]
    assert table.splitlines()[2] in out  # | method | PSNR-μ | ... | seconds |
    rows = re.findall(r"^\| ([^|]+?) \| [\d*.]+", table, re.M)
    assert len(rows) == 8 and [r for r in rows if f"| {r.replace('**', '')} |" not in out] == []


def _check_prepare_color(w: Path, out: str) -> None:
    for scene in _scenes(w / "data/kalantari/Training"):
        d = w / "data/kalantari/Training_align" / scene
        assert [len(list(d.glob(g))) for g in ["*.tif", "exposure.txt", "HDRImg.hdr", "*.png"]] == [3, 1, 1, 1], d


def _check_fuse(w: Path, out: str) -> None:
    """MEF-SSIM per pair and their mean, beside the mean of the two exposures and Mertens fusion."""
    assert re.search(r"^pair +network +mean +mertens$", out, re.M) and re.search(r"^mean( +0\.\d+){3}$", out, re.M)


# Started in this order (the longest chains first), each once the jobs it needs have succeeded.
JOBS: Dict[str, Job] = {
    "demo": Job(extra=HDR_TINY, check=_check_demo, files=tuple(f"runs/demo/{p}" for p in [
        "config.yaml", "stage1/model.pth", "stage1/checkpoint.pth", "stage2/model.pth", "stage2/checkpoint.pth",
        "results.json", "results.md", "tb", "test/selfhdr/metrics.json"])),
    "fusion": Job(extra=FUSION_TINY, files=("runs/fusion/fusion/model.pth", "runs/fusion/results.json"),
                  printed=("| fusion network |",)),
    "make-synthetic": Job(("demo",), ["--height", "48", "--width", "64"], before=_snapshot,
                          printed=("synthetic dataset ready at data/synthetic",), check=_check_unchanged),
    "resume": Job(("fusion",), FUSION_TINY, before=_interrupt, files=("runs/fusion/fusion/model.pth",),
                  printed=("fusion: resumed at epoch",)),
    "cues": Job(("make-synthetic",), HDR_TINY, files=("runs/demo/results.md",),  # "reuses the finished stages"
                printed=("stage1: finished earlier", "stage2: finished earlier", "supervised: finished earlier",
                         "| motion/exposure cues (AHDRNet) |")),
    "fuse": Job(("resume",), files=("runs/fused/metrics.json",), check=_check_fuse),
    "test": Job(("demo",), files=("runs/demo/retest/metrics.json",), printed=("| PSNR-μ |",),
                check=_test_check("runs/demo/retest")),
    "test-stage1": Job(("demo",), files=("runs/demo/test_stage1/metrics.json",), printed=("| **mean** |",),
                       check=_test_check("runs/demo/test_stage1")),
    "test-vdp": Job(("test",), files=("runs/demo/retest_vdp/metrics.json",), check=_check_test_vdp),
    "evaluate-color": Job(("demo",), check=_check_evaluate_color),
    "prepare-color": Job(extra=["--workers", "1"], check=_check_prepare_color),
    "predict-images": Job(files=("result.exr", "result.png")),
    "predict-shipped": Job(files=("shipped.exr", "shipped.png"), printed=("no --checkpoint: using the shipped weights",)),
    "predict-folder": Job(files=tuple(f"predicted/bracket_0{i}.{s}" for i in (1, 2) for s in ("hdr", "png")),
                          printed=("2 brackets predicted, 0 refused",)),
    "predict-timed": Job(files=("out.hdr", "out.png"), printed=("Maximum resident set size",)[:TIME.exists()]),
    "list": Job(printed=tuple(f"selfhdr-{name} " for name in COMMANDS)),
    "label-study": Job(("demo",), printed=("| run | Y_color PSNR-μ / PSNR-l (train) |", "| demo |")),
    "regions": Job(("demo",), printed=("| method | static unclipped (", "| SelfHDR |", "| Y_color |")),
    "regions-saturation": Job(("demo",), printed=("| method | 1 of 3 channels saturated (", "| SelfHDR |", "| merge |")),
}


def interpreter_argv(argv: List[str]) -> List[str]:
    """``python scripts/X.py``, ``python -m M``, ``selfhdr-X``, ``/usr/bin/time -v …`` as run here."""
    if argv[0] == str(TIME):
        return (argv[:2] if TIME.exists() else []) + interpreter_argv(argv[2:])
    if argv[0].startswith("selfhdr-"):
        return [sys.executable, "-m", "selfhdr", argv[0].removeprefix("selfhdr-"), *argv[1:]]
    assert argv[0] == "python", argv
    return [sys.executable, *([str(REPO / argv[1])] if argv[1].startswith("scripts/") else [argv[1]]), *argv[2:]]


def command_lines(text: str) -> Dict[str, List[str]]:
    """Each run job's command line, from its README example(s), which must agree."""
    lines: Dict[str, List[str]] = {}
    for ex in examples(text):
        entry = entry_for(ex)
        if entry is not None and entry.how == "run":
            argv = interpreter_argv(substituted(ex, entry)) + JOBS[entry.arg].extra
            assert lines.setdefault(entry.arg, argv) == argv, f"two README commands for {entry.arg}: {ex.text}"
    return lines


Ran = Tuple[Optional[int], str, Optional[str]]  # exit status, output, what its check found wrong


def verify(job: str, w: Path, out: str) -> Optional[str]:
    """What a finished job left, checked before later jobs can change it: None, or the failure."""
    spec = JOBS[job]
    try:
        for f in spec.files:
            assert (w / f).exists(), f"{f} is missing"
            assert not f.endswith((".hdr", ".exr")) or read_hdr(w / f).shape[2] == 3, f
        missing = [p for p in spec.printed if p not in out]
        assert not missing, f"not printed: {missing}"
        if spec.check:
            spec.check(w, out)
    except AssertionError:
        return traceback.format_exc()
    return None


def run_jobs(lines: Dict[str, List[str]], cwd: Path, parallel: int = 2) -> Dict[str, Ran]:
    """Run each job once the jobs it needs have succeeded, ``parallel`` at a time."""
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}

    def one(argv: List[str]) -> Tuple[int, str]:
        r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=400)
        return r.returncode, (r.stdout + r.stderr).replace("\r", "\n")

    done: Dict[str, Ran] = {}
    pending, running = [j for j in JOBS if j in lines], {}
    with ThreadPoolExecutor(parallel) as pool:
        while pending or running:
            for job in list(pending):
                deps = JOBS[job].deps
                if any(d not in lines or done.get(d, (0,))[0] != 0 for d in deps):
                    done[job] = (None, f"not run: a step it needs did not succeed ({deps})", None)
                    pending.remove(job)
                elif all(d in done for d in deps) and len(running) < parallel:
                    if JOBS[job].before:
                        JOBS[job].before(cwd)
                    running[pool.submit(one, lines[job])] = job
                    pending.remove(job)
            if running:
                for f in wait(running, return_when=FIRST_COMPLETED)[0]:
                    job, (rc, out) = running.pop(f), f.result()
                    done[job] = (rc, out, verify(job, cwd, out) if rc == 0 else None)
    return done



def make_workdir(w: Path) -> Path:
    """Fill ``w`` as the working folder of the README's commands: what a user brings along."""
    (w / "configs").symlink_to(REPO / "configs")
    torch.manual_seed(0)
    meta = {"backbone": {"type": "AHDRNet", **TINY_NET}, "channel_order": "rgb"}
    save_weights(build_backbone("AHDRNet", **TINY_NET), w / "model.pth", meta=meta)
    shutil.copy(w / "model.pth", w / "ahdrnet.pth")
    write_camera_brackets(w / "photos", 2)
    for name, src in zip("abc", sorted((w / "photos" / "bracket_01").glob("*.jpg"))):
        shutil.copy(src, w / f"{name}.jpg")
    scene = make_scene(SyntheticSpec(height=48, width=64, stops=[[0, 2, 4]]), scene_rng(0, "Test", 0))
    for k, ldr in enumerate(scene.ldrs):  # f1.tif f2.tif f3.tif at --exposures 0 2 4
        write_ldr(w / f"f{k + 1}.tif", ldr, bits=16)
    # A stand-in for Kalantari's dataset (which cannot be fetched here), in its layout.
    write_dataset(w / "data/kalantari", SyntheticSpec(height=48, width=64, n_train=2, n_test=1, seed=3),
                  progress=False)
    return w
