"""Performance benchmark: inference, training steps, Y_color preparation and data loading.

Each measurement runs in a fresh worker process (``python -m selfhdr.engine.benchmark
--worker '<json>'``, which prints one JSON line), so its peak resident memory
(``ru_maxrss``) is its own. Inference is compared with a plain eager fp32 forward of the
same module on the whole image (``eager``: ``torch.no_grad``, NCHW, default glibc malloc,
the published test code's way), measured in the same run: time ratio and the largest output
difference. ``scripts/benchmark.py`` is the command line; :func:`markdown` renders the
README table from the JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from .benchmark_fusion import fusion_specs, worker_fusion
from .benchmark_stream import finish_floor, stream_specs, worker_floor, worker_stream
from .benchmark_train import finish_train, train_specs, worker_train
from .benchmark_vdp import finish_vdp, vdp_specs, worker_vdp, worker_vdp_octave

Record = Dict[str, Any]

# Published training settings (SelfHDR train.sh): batch 16 for the CNNs, 8 for transformers.
PAPER_BATCH = {"AHDRNet": 16, "FSHDR": 16, "HDR-Transformer": 8, "SCTNet": 8}
PAPER_PATCH = 128
# configs/demo.yaml's train.batch_size and data.patch_size (tests check they still agree).
DEMO_BATCH = 8
DEMO_PATCH = 64
# Largest computed tile side per backbone for the tiled modes (see selfhdr.inference):
# AHDRNet/FSHDR in exact cropped tiles, transformers blended.
DEFAULT_TILES = {"AHDRNet": 512, "FSHDR": 512, "HDR-Transformer": 512, "SCTNet": 512}
# Inference modes: eager is the plain baseline; the others go through reconstruct():
# 'default' exactly as a user calls it, reconstruct(model, x1, x2, x3), in a fresh process
# (glibc's default allocator until reconstruct itself changes it).
MODES: Dict[str, Dict[str, Any]] = {
    "eager": {"eager": True, "precision": "fp32", "channels_last": False, "tiled": False, "malloc": "default"},
    "default": {"eager": False, "default": True, "precision": "fp32", "channels_last": None, "tiled": False,
                "malloc": "default"},
    "fp32": {"eager": False, "precision": "fp32", "channels_last": True, "tiled": False, "malloc": "keep"},
    "fp32-tiled": {"eager": False, "precision": "fp32", "channels_last": True, "tiled": True, "malloc": "keep"},
    "bf16": {"eager": False, "precision": "bf16", "channels_last": True, "tiled": False, "malloc": "keep"},
    "bf16-tiled": {"eager": False, "precision": "bf16", "channels_last": True, "tiled": True, "malloc": "keep"},
}
# Training-step modes: precision, layout and torch.compile; 'auto' is what train.amp=auto and
# train.channels_last=auto pick on this machine (resolved in the worker), 'compile' the same
# with train.compile=true (inductor; its compile time is the warm-up step, reported apart).
TRAIN_MODES: Dict[str, Dict[str, Any]] = {
    "fp32": {"precision": "fp32", "channels_last": False, "compile": False},
    "fp32-cl": {"precision": "fp32", "channels_last": True, "compile": False},
    "bf16": {"precision": "bf16", "channels_last": False, "compile": False},
    "bf16-cl": {"precision": "bf16", "channels_last": True, "compile": False},
    "auto": {"precision": "auto", "channels_last": "auto", "compile": False},
    "compile": {"precision": "auto", "channels_last": "auto", "compile": True},
}
TRAIN_SETUPS = ("demo", "paper")
MIB = 1024.0 * 1024.0


@dataclass
class BenchConfig:
    """What to measure; defaults are the full benchmark behind the README table."""

    backbones: List[str] = field(default_factory=lambda: list(PAPER_BATCH))
    sizes: List[Tuple[int, int]] = field(default_factory=lambda: [(256, 256), (512, 512), (1000, 1500)])
    modes: List[str] = field(default_factory=lambda: list(MODES))
    parts: List[str] = field(default_factory=lambda: ["infer", "train", "color", "data", "precision", "stream",
                                                      "fusion"])
    """Add 'vdp' by hand: HDR-VDP-2 on one vdp_size pair, the port and (given a toolbox) Octave."""
    threads: Optional[int] = None
    """Torch threads in every worker; None: all cores."""
    repeats: Optional[int] = None
    """Timed repeats (median reported); None: 3 below one megapixel, else 2."""
    tiles: Dict[str, int] = field(default_factory=lambda: dict(DEFAULT_TILES))
    train_modes: List[str] = field(default_factory=lambda: ["fp32", "fp32-cl", "bf16-cl", "auto"])
    """Add 'compile' by hand: inductor's first step took 81 s for the demo's AHDRNet at 8×64² on
    one AVX2 core (then 0.62 s/step against 0.53 s eager fp32), longer for larger networks."""
    train_setups: List[str] = field(default_factory=lambda: list(TRAIN_SETUPS))
    """'demo': every backbone at demo_batch × demo_patch²; 'paper': train_batch × train_patch²."""
    demo_batch: int = DEMO_BATCH
    demo_patch: int = DEMO_PATCH
    train_batch: Dict[str, int] = field(default_factory=lambda: dict(PAPER_BATCH))
    train_patch: int = PAPER_PATCH
    color_size: Tuple[int, int] = (1000, 1500)
    data_size: Tuple[int, int] = (1000, 1500)
    data_backbone: str = "AHDRNet"
    data_workers: List[int] = field(default_factory=lambda: [0, 4])
    data_steps: int = 4
    stream_scenes: List[int] = field(default_factory=lambda: [2, 20])
    """Split sizes selfhdr-test streams over: its peak RSS must not grow from the first to the last."""
    stream_size: Tuple[int, int] = (1000, 1500)
    stream_backbone: str = "AHDRNet"
    stream_kwargs: Dict[str, Any] = field(default_factory=dict)
    """Constructor overrides of the streamed network; empty: published widths."""
    fusion_sizes: List[Tuple[int, int]] = field(default_factory=lambda: [(1000, 1500)])
    """Pair sizes of the 'fusion' part (FusionNet and Mertens, seconds and peak memory per MP)."""
    vdp_size: Tuple[int, int] = (1000, 1500)
    hdrvdp_toolbox: Optional[str] = None
    """Unmodified HDR-VDP 2.2.2 folder for the Octave run of the 'vdp' part; None: port only."""
    octave: str = "octave"
    checkpoint: Optional[str] = "runs/demo/stage2/model.pth"
    data_root: Optional[str] = "data/synthetic"
    model_kwargs: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    """Constructor overrides per backbone (tests use tiny widths); empty: published widths."""
    isolate: bool = True
    """Run every measurement in its own process (False: in this one; RSS then not per run)."""
    timeout: float = 3600.0

    @classmethod
    def quick(cls, **overrides: Any) -> "BenchConfig":
        """Small sizes and steps only: a smoke test of every part in a few minutes."""
        base = dict(sizes=[(64, 64), (128, 96)], modes=["eager", "default", "fp32", "fp32-tiled", "bf16"],
                    tiles={k: 96 if k in ("AHDRNet", "FSHDR") else 80 for k in PAPER_BATCH},
                    repeats=1, train_modes=["fp32", "bf16-cl", "auto"], train_batch={k: 2 for k in PAPER_BATCH},
                    train_patch=64, demo_batch=2, demo_patch=32, color_size=(120, 180),
                    data_size=(96, 128), data_workers=[0],
                    data_steps=2, stream_scenes=[1, 3], stream_size=(64, 96), vdp_size=(64, 96),
                    fusion_sizes=[(96, 128)],
                    stream_kwargs={"nf": 4, "growth": 4, "n_dense": 1, "n_rdb": 1})
        base.update(overrides)
        return cls(**base)


# ----------------------------------------------------------------------------- workers


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    scale = 1.0 if sys.platform == "darwin" else 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / MIB


def _timed(fn: Callable[[], Any], repeats: int) -> Tuple[Any, Record]:
    """Run ``fn`` ``repeats`` times: median wall, CPU (user+sys) and system seconds, faults."""
    walls, cpus, syss, faults, out = [], [], [], [], None
    for _ in range(max(1, repeats)):
        out = None
        gc.collect()
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        out = fn()
        t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        walls.append(t1 - t0)
        syss.append(r1.ru_stime - r0.ru_stime)
        cpus.append(r1.ru_utime - r0.ru_utime + syss[-1])
        faults.append(r1.ru_minflt - r0.ru_minflt)
    med = statistics.median
    return out, {"seconds": med(walls), "seconds_all": walls, "cpu_seconds": med(cpus),
                 "sys_seconds": med(syss), "minor_faults": int(med(faults))}


def _build(spec: Record) -> Any:
    import torch

    from ..archs import build_backbone

    torch.manual_seed(spec.get("seed", 0))
    return build_backbone(spec["backbone"], **spec.get("kwargs", {}))


def _worker_infer(spec: Record) -> Record:
    import torch

    from ..inference import pad_to_multiple, reconstruct, unpad
    from ..metrics import psnr_mu
    from .floor import macs
    from .predict import bracket_tensors

    model = _build(spec).eval()
    with np.load(spec["inputs"]) as z:
        xs = bracket_tensors(list(z["ldrs"]), list(z["times"]))
    divisor = int(model.size_divisor)

    def eager(frames: Tuple[Any, ...]) -> Any:
        # The published test code: pad, forward under no_grad, crop; NCHW, nothing else.
        with torch.no_grad():
            padded = [pad_to_multiple(x, divisor) for x in frames]
            return unpad(model(*(p for p, _ in padded)), padded[0][1]).float()

    def fast(frames: Tuple[Any, ...], tile: Optional[int]) -> Any:
        return reconstruct(model, *frames, tile=tile, precision=spec["precision"],
                           channels_last=spec["channels_last"])

    tile = spec.get("tile") if spec.get("tiled") else None
    run = (lambda f: eager(f)) if spec["eager"] else (lambda f: fast(f, tile))
    if spec.get("default"):
        run = lambda f: reconstruct(model, *f)  # noqa: E731 - the documented call, nothing else
    # Warm-up (thread pool, oneDNN kernels for these shapes): the whole input when small.
    run(xs if xs[0].numel() <= 6 * 512 * 512 else tuple(x[..., :64, :64] for x in xs))
    y, rec = _timed(lambda: run(xs), spec["repeats"])
    mp = xs[0].shape[-2] * xs[0].shape[-1] / 1e6
    rec["s_per_mp"] = rec["seconds"] / mp
    rec["macs"] = macs(model, xs[0].shape[-2], xs[0].shape[-1])  # of the image, not of tiles and halos
    if spec.get("save"):
        torch.save(y, spec["save"])
    if spec.get("compare") and Path(spec["compare"]).exists():
        ref = torch.load(spec["compare"], weights_only=True)
        rec["max_abs_diff_vs_eager"] = float((y - ref).abs().max())
        rec["psnr_mu_vs_eager"] = None if rec["max_abs_diff_vs_eager"] == 0 else \
            psnr_mu(y[0].permute(1, 2, 0).numpy(), ref[0].permute(1, 2, 0).numpy())
    return rec


def _worker_color(spec: Record) -> Record:
    from ..align.benchmark import benchmark_color

    r = benchmark_color(spec["height"], spec["width"], repeats=spec["repeats"])
    return {"seconds": r["median_s"], "min_seconds": r["min_s"], "max_seconds": r["max_s"],
            "cpu_seconds": r["cpu_s"]}


class _NoLog:
    def scalars(self, *_: Any) -> None:
        pass


def _worker_data(spec: Record) -> Record:
    import torch

    from ..data.dataset import BracketDataset
    from ..methods.supervised import Supervised
    from .trainer import TrainConfig, Trainer

    b, steps = spec["batch"], spec["steps"]
    ds = BracketDataset(Path(spec["root"]) / "Training", labels={"gt": "gt"}, patch_size=spec["patch"],
                        length=b * steps, seed=0)
    cfg = TrainConfig(batch_size=b, epochs=1, iters_per_epoch=steps, val_every=0, image_every=0,
                      checkpoint_every=0)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(Supervised(_build(spec)), ds, cfg, Path(tmp), progress=False,
                          num_workers=spec["workers"])
        trainer.method.train()
        waits, steps_s = [], []
        # The Trainer's own DataLoader and step (its _run_epoch, timed per iteration).
        t0 = time.perf_counter()
        for batch in trainer._loader():
            t1 = time.perf_counter()
            torch.manual_seed(len(waits))
            trainer._train_step(trainer._to_device(batch), batch.get("name"))
            t2 = time.perf_counter()
            waits.append(t1 - t0)
            steps_s.append(t2 - t1)
            t0 = time.perf_counter()
    first, rest = waits[0], waits[1:] or [0.0]
    step = statistics.median(steps_s[1:] or steps_s)
    wait = statistics.median(rest)
    # An epoch restarts the loader once (workers are not persistent) then runs 1200 steps.
    iters = 1200
    epoch_wait = first + wait * (iters - 1)
    return {"first_wait_seconds": first, "wait_seconds": wait, "step_seconds": step,
            "wait_share": wait / (wait + step), "epoch_wait_share": epoch_wait / (epoch_wait + step * iters),
            "waits": waits, "steps": steps_s}


def _worker_precision(spec: Record) -> Record:
    import torch

    from .evaluate import evaluate_predictor
    from .predict import predict_hdr
    from .testing import load_for_inference

    net, bgr, _ = load_for_inference(spec["checkpoint"], device=torch.device("cpu"))
    net.eval()
    outs: Dict[str, Dict[str, np.ndarray]] = {}
    rec: Record = {}
    for precision in ("fp32", "bf16"):
        preds: Dict[str, np.ndarray] = {}

        def predict(scene: Any) -> np.ndarray:
            preds[scene.name] = predict_hdr(net, scene.ldrs, scene.times, bgr=bgr, precision=precision)
            return preds[scene.name]

        result = evaluate_predictor(Path(spec["split"]), predict, progress=False)
        rec[f"psnr_mu_{precision}"] = result["mean"]["psnr_mu"]
        rec[f"seconds_{precision}"] = result["mean"]["seconds"]
        outs[precision] = preds
    rec["psnr_mu_change"] = rec["psnr_mu_bf16"] - rec["psnr_mu_fp32"]
    rec["max_abs_diff"] = max(float(np.abs(outs["bf16"][k] - outs["fp32"][k]).max()) for k in outs["fp32"])
    rec["scenes"] = len(outs["fp32"])
    return rec


WORKERS: Dict[str, Callable[[Record], Record]] = {
    "infer": _worker_infer, "train": worker_train, "color": _worker_color, "data": _worker_data,
    "precision": _worker_precision, "floor": worker_floor, "stream": worker_stream, "vdp": worker_vdp,
    "fusion": worker_fusion,
    "vdp_octave": worker_vdp_octave,
}


def run_worker(spec: Record) -> Record:
    """One measurement in this process: set up the runtime as ``spec`` says, measure, add RSS."""
    import torch

    from .device import default_threads, keep_freed_memory

    malloc = keep_freed_memory() if spec.get("malloc", "keep") == "keep" else False
    torch.set_num_threads(spec.get("threads") or default_threads())
    rec = WORKERS[spec["kind"]](spec)
    rec.update(peak_rss_mb=_peak_rss_mb(), malloc_kept=malloc, threads=torch.get_num_threads(),
               load_after=os.getloadavg()[0])
    return rec


# ----------------------------------------------------------------------------- runner


def measure(spec: Record, cfg: BenchConfig) -> Record:
    """Run one measurement (in a fresh process when ``cfg.isolate``); failures are recorded."""
    start = time.perf_counter()
    try:
        if not cfg.isolate:
            rec = run_worker(spec)
        else:
            env = dict(os.environ)
            env.pop("SELFHDR_DEFAULT_MALLOC", None)
            root = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
            proc = subprocess.run([sys.executable, "-m", "selfhdr.engine.benchmark", "--worker", json.dumps(spec)],
                                  capture_output=True, text=True, timeout=cfg.timeout, env=env, cwd=root)
            lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
            if proc.returncode or not lines:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"worker exited with {proc.returncode}: {tail}")
            rec = json.loads(lines[-1])
    except Exception as exc:  # noqa: BLE001 - one failed measurement must not end the run
        rec = {"error": f"{type(exc).__name__}: {exc}"}
    out = {k: v for k, v in spec.items() if k not in ("inputs", "save", "compare", "root", "pair")}
    out.update(rec)
    out["elapsed"] = time.perf_counter() - start
    return out


def _size_name(h: int, w: int) -> str:
    return f"{h}×{w}"


def _repeats(cfg: BenchConfig, pixels: int) -> int:
    return cfg.repeats if cfg.repeats is not None else (3 if pixels < 1_000_000 else 2)


def _write_inputs(work: Path, h: int, w: int) -> Path:
    """A synthetic bracket of the given size, shared by every worker of that size."""
    from ..data.synthetic import SyntheticSpec, make_scene

    path = work / f"bracket_{h}x{w}.npz"
    if not path.exists():
        scene = make_scene(SyntheticSpec(height=h, width=w, n_train=0, n_test=1, seed=0),
                           np.random.default_rng(0))
        np.savez(path, ldrs=np.stack(scene.ldrs), times=np.power(2.0, scene.stops))
    return path


def _inference_specs(cfg: BenchConfig, work: Path) -> List[Record]:
    specs = []
    for h, w in cfg.sizes:
        inputs = _write_inputs(work, h, w)
        for name in cfg.backbones:
            tile = cfg.tiles.get(name, 512)
            ref = work / f"eager_{name}_{h}x{w}.pt"
            for mode in cfg.modes:
                m = MODES[mode]
                if m["tiled"] and max(h, w) <= tile:
                    continue  # a single tile: the same run as untiled
                specs.append({"kind": "infer", "backbone": name, "kwargs": cfg.model_kwargs.get(name, {}),
                              "height": h, "width": w, "size": _size_name(h, w), "mode": mode, **m,
                              "tile": tile if m["tiled"] else None, "repeats": _repeats(cfg, h * w),
                              "threads": cfg.threads, "inputs": str(inputs),
                              "save": str(ref) if mode == "eager" else None,
                              "compare": None if mode == "eager" else str(ref)})
    return specs


def _data_specs(cfg: BenchConfig, work: Path) -> List[Record]:
    from ..data.synthetic import SyntheticSpec, write_dataset

    h, w = cfg.data_size
    root = work / f"data_{h}x{w}"
    write_dataset(root, SyntheticSpec(height=h, width=w, n_train=4, n_test=0, seed=0), progress=False)
    name = cfg.data_backbone
    return [{"kind": "data", "backbone": name, "kwargs": cfg.model_kwargs.get(name, {}), "workers": n,
             "batch": cfg.train_batch.get(name, 8), "patch": cfg.train_patch, "steps": cfg.data_steps,
             "size": _size_name(h, w), "root": str(root), "threads": cfg.threads, "malloc": "keep"}
            for n in cfg.data_workers]


def _finish_inference(records: List[Record]) -> None:
    """Add the speed-up over the eager run of the same backbone and size."""
    eager = {(r["backbone"], r["size"]): r.get("seconds") for r in records if r.get("mode") == "eager"}
    for r in records:
        base = eager.get((r["backbone"], r["size"]))
        if base and r.get("seconds"):
            r["speedup_vs_eager"] = base / r["seconds"]


def machine_info() -> Record:
    """CPU, core count, library versions and load: the context every number depends on."""
    import torch

    from .device import default_threads

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": default_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "capability": torch.backends.cpu.get_cpu_capability(),
            "load_before": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d %H:%M")}


def run_benchmark(cfg: BenchConfig, progress: Callable[[str], None] = print) -> Record:
    """Measure everything ``cfg`` asks for; returns the JSON-ready result."""
    result: Record = {"machine": machine_info(), "config": asdict(cfg), "inference": [], "train": [],
                      "color": [], "data": [], "precision": [], "floor": [], "stream": [], "vdp": [],
                      "fusion": []}

    def run(part: str, spec: Record) -> None:
        rec = measure(spec, cfg)
        result[part].append(rec)
        label = " ".join(str(spec.get(k)) for k in ("backbone", "method", "size", "setup", "mode", "scenes")
                         if spec.get(k))
        progress(f"{part} {label}: " + (rec["error"] if "error" in rec else f"{rec.get('seconds', 0):.2f} s, "
                 f"{rec.get('peak_rss_mb', 0):.0f} MiB"))

    with tempfile.TemporaryDirectory(prefix="selfhdr-bench-") as tmp:
        work = Path(tmp)
        if "infer" in cfg.parts:
            run("floor", {"kind": "floor", "threads": cfg.threads})
            for spec in _inference_specs(cfg, work):
                run("inference", spec)
            _finish_inference(result["inference"])
            finish_floor(result["inference"], result["floor"][0].get("gflops", 0.0))
        if "train" in cfg.parts:
            for spec in train_specs(cfg):
                run("train", spec)
            finish_train(result["train"])
        if "color" in cfg.parts:
            h, w = cfg.color_size
            run("color", {"kind": "color", "height": h, "width": w, "size": _size_name(h, w),
                          "repeats": cfg.repeats or 5, "threads": cfg.threads})
        if "data" in cfg.parts:
            for spec in _data_specs(cfg, work):
                run("data", spec)
        split = Path(cfg.data_root or "") / "Test"
        if "precision" in cfg.parts and cfg.checkpoint and Path(cfg.checkpoint).is_file() and split.is_dir():
            run("precision", {"kind": "precision", "checkpoint": str(Path(cfg.checkpoint).resolve()),
                              "split": str(split.resolve()), "threads": cfg.threads})
        if "stream" in cfg.parts:
            for spec in stream_specs(cfg, work):
                run("stream", spec)
        if "fusion" in cfg.parts:
            for spec in fusion_specs(cfg, work):
                run("fusion", spec)
        if "vdp" in cfg.parts:
            for spec in vdp_specs(cfg, work):
                run("vdp", spec)
            finish_vdp(result["vdp"], cfg)
    result["machine"]["load_after"] = os.getloadavg()[0]
    return result


# ----------------------------------------------------------------------------- report


def main(argv: Optional[List[str]] = None) -> int:
    """Worker entry point: ``--worker '<json spec>'`` prints one JSON result line."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--worker", required=True, help="measurement spec (JSON)")
    a = p.parse_args(argv)
    print(json.dumps(run_worker(json.loads(a.worker))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
