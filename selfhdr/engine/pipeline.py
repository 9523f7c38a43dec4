"""The one-command job behind ``scripts/train.py``.

SelfHDR: Y_color preparation if missing → stage 1 (structure-focused network) → Y_stru
(stage 1 run on the aligned training brackets) → stage 2 (reconstruction network) → test.
Every stage leaves its result in the run folder and is skipped once finished; a training
stage interrupted mid-way continues from its last checkpoint, so ``--resume`` picks a run up
wherever it stopped. The final table compares the trained network with the classical
baselines, Y_color and, as ``report`` asks, the same backbone trained with the same budget on
the ground truth (supervised) and by the motion-and-exposure-cues method.

``method: supervised`` and ``method: cues`` train only that network (plus the report rows);
``method: fusion`` trains the two-exposure fusion network instead and reports MEF-SSIM beside
the mean of the two exposures and Mertens fusion.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple, TypeVar

from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from ..align import compute_color, prepare_color
from ..archs.checkpoint import load_checkpoint
from ..archs.fusion_net import load_fusion_net
from ..archs.registry import build_from_node
from ..config import Config, load_config, save_config, to_dict
from ..data.cues import CuesDataset
from ..data.dataset import GT, BracketDataset, exposure_fallback
from ..data.pairs import ExposurePairs, find_pairs
from ..data.scene import list_scenes, read_scene
from ..data.synthetic import write_dataset
from ..errors import ConfigError
from ..io import atomic_write_text, write_hdr, write_preview
from ..methods.base import Method
from ..methods.classical import BASELINES
from ..methods.cues import CuesMethod
from ..methods.fusion import FusionMethod
from ..methods.selfhdr import SelfHDRStage1, SelfHDRStage2
from ..methods.supervised import Supervised
from ..inference import reconstruct
from ..metrics import psnr_mu
from .device import resolve_device, setup_runtime
from .distributed import SINGLE, DistInfo, barrier, cleanup, device_for, init_distributed
from .evaluate import evaluate_predictor, markdown_table, save_json
from .fusion_eval import evaluate_fusion
from .logger import RunLogger
from .predict import predict_hdr
from .trainer import Trainer

log = logging.getLogger(__name__)
ALIGN_SUFFIX = "_align"
T = TypeVar("T")


class Run:
    """Paths and shared objects of one run folder ``<output_dir>/<name>``."""

    def __init__(self, cfg: Config, dist: DistInfo = SINGLE) -> None:
        self.cfg = cfg
        self.dist = dist
        self.dir = Path(cfg.output_dir) / cfg.name
        self.root = Path(cfg.data.root)
        self.device = device_for(dist, resolve_device(cfg.device))

    def on_main(self, fn: Callable[[], T]) -> Optional[T]:
        """Run ``fn`` on rank 0 only (files, tests), then let every rank continue together."""
        out = fn() if self.dist.is_main else None
        barrier(self.dist)
        return out

    def split(self, name: str) -> Path:
        """A split folder of the dataset root."""
        return self.root / name

    def model_path(self, stage: str) -> Path:
        """Final weights of a training stage."""
        return self.dir / stage / "model.pth"


# ----------------------------------------------------------------------------- config & data


def open_run(cfg: Config, resume: bool = False) -> Config:
    """Create or reopen the run folder and return the config to use.

    A new run saves its resolved config. An existing run continues only with ``resume``, or
    when the config is identical; ``resume`` uses the config saved in the run folder. A config
    that differs only in ``report`` (which rows the final table compares) continues the run:
    finished stages are reused and only the newly asked rows are made.
    """
    run_dir = Path(cfg.output_dir) / cfg.name
    saved = run_dir / "config.yaml"
    if saved.exists():
        old = load_config(saved)
        if resume:
            return old
        a, b = to_dict(old), to_dict(cfg)
        if a != b:
            a.pop("report"), b.pop("report")
            if a != b:
                raise ConfigError(f"{run_dir} holds a run with a different config ({_diff(a, b)}); pass "
                                  f"--resume to continue it, or choose another name (--set name=...)")
            save_config(cfg, saved)
        return cfg
    if resume:
        raise ConfigError(f"--resume: no run to resume at {run_dir} (no config.yaml)")
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, saved)
    return cfg


def _diff(a: Dict, b: Dict, prefix: str = "") -> str:
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            d = _diff(va, vb, f"{prefix}{k}.")
            if d:
                return d
        elif va != vb:
            return f"{prefix}{k}: {va!r} → {vb!r}"
    return ""


def ensure_data(cfg: Config) -> Path:
    """Make the synthetic dataset at ``cfg.data.root`` if the config asks for one."""
    root = Path(cfg.data.root)
    if cfg.data.synthetic is not None:
        write_dataset(root, cfg.data.synthetic)
    return root


def ensure_color(run: Run, split: str) -> Path:
    """Y_color and aligned frames for ``split`` (``<split>_align``), made if missing."""
    return prepare_color(run.root, split, run.cfg.align, workers=run.cfg.data.prepare_workers).out_dir


# ----------------------------------------------------------------------------- stages


def build_model(cfg: Config) -> nn.Module:
    """The configured backbone."""
    return build_from_node(cfg.model)


def validator(run: Run) -> Callable[[nn.Module], Dict[str, float]]:
    """PSNR-μ on the top-left ``val_crop`` square of each test image (SelfHDR's validation)."""
    cfg = run.cfg
    ds = BracketDataset(run.split(cfg.data.test_split), labels={GT: GT}, crop_top_left=cfg.eval.val_crop)

    def validate(net: nn.Module) -> Dict[str, float]:
        scores = []
        for i in range(len(ds)):
            item = ds[i]
            xs = [item[k][None].to(run.device) for k in ("x1", "x2", "x3")]
            y = reconstruct(net, *xs, tile=cfg.eval.tile, overlap=cfg.eval.overlap)
            scores.append(psnr_mu(y[0].permute(1, 2, 0).float().cpu().numpy(),
                                  item[GT].permute(1, 2, 0).numpy()))
        return {"psnr_mu": float(sum(scores) / len(scores))}

    return validate


def train_stage(run: Run, stage: str, make_method: Callable[[nn.Module], Method],
                labels: Dict[str, object], logger: RunLogger,
                dataset: Optional[Callable[[int], Dataset]] = None) -> Path:
    """Train one stage (or continue it from its checkpoint); returns its ``model.pth``."""
    cfg = run.cfg
    final = run.model_path(stage)
    if final.exists():
        log.info("%s: finished earlier (%s)", stage, final)
        return final
    tc = cfg.train
    length = tc.iters_per_epoch * tc.batch_size
    ds = dataset(length) if dataset is not None else BracketDataset(
        run.split(cfg.data.train_split), labels=labels, patch_size=cfg.data.patch_size,
        length=length, seed=cfg.seed, progress=True)
    method = make_method(build_model(cfg))
    meta = {"backbone": dict(cfg.model), "channel_order": "rgb", "method": cfg.method,
            "stage": stage, "config": to_dict(cfg)}
    trainer = Trainer(method, ds, tc, run.dir / stage, seed=cfg.seed, stage=stage, device=run.device,
                      num_workers=cfg.data.num_workers, meta=meta, dist=run.dist,
                      validate=validator(run) if run.dist.is_main else None)
    trainer.resume()
    return trainer.fit(logger)


def cues_training(run: Run) -> Tuple[Callable[[nn.Module], Method], Callable[[int], Dataset]]:
    """Method and dataset factories of the ``cues`` stage; the method logs the dataset's class stats."""
    cfg = run.cfg
    stats: Dict[str, float] = {}

    def make_dataset(length: int) -> Dataset:
        ds = CuesDataset(run.split(cfg.data.train_split), cfg.data.patch_size, cfg.cues.patches,
                         cfg.cues.illumination, cfg.cues.warp, length=length, seed=cfg.seed, progress=True)
        stats.update(ds.stats)
        return ds

    return (lambda net: CuesMethod(net, stats)), make_dataset


def load_trained(run: Run, path: Path) -> nn.Module:
    """A backbone with the weights of ``path``, in eval mode on the run's device."""
    net = build_model(run.cfg)
    load_checkpoint(net, path)
    return net.to(run.device).eval()


def infer_structure(run: Run, stage1: Path) -> Path:
    """Y_stru: the stage-1 network on the aligned training brackets, one ``.hdr`` per scene."""
    cfg = run.cfg
    out = run.dir / "stru"
    done = out / "done.json"
    if done.exists():
        return out
    net = load_trained(run, stage1)
    aligned = run.split(cfg.data.train_split + ALIGN_SUFFIX)
    original = run.split(cfg.data.train_split)
    for d in tqdm(list_scenes(aligned), desc="Y_stru"):
        target = out / f"{d.name}.hdr"
        if target.exists():
            continue
        scene = read_scene(d, exposure_fallback(d, original), with_hdr=False)
        hdr = predict_hdr(net, scene.ldrs, scene.times, tile=cfg.eval.tile, overlap=cfg.eval.overlap)
        write_hdr(target, hdr)
        write_preview(out / f"{d.name}.png", hdr)
    save_json(done, {"scenes": len(list(out.glob("*.hdr"))), "stage1": str(stage1)})
    return out


def test_model(run: Run, model_path: Path, name: str) -> Dict:
    """Full-image test of a trained model on the test split; writes ``test/<name>/``."""
    cfg = run.cfg
    out = run.dir / "test" / name
    if (out / "metrics.json").exists():
        return json.loads((out / "metrics.json").read_text())
    net = load_trained(run, model_path)
    inputs = ensure_color(run, cfg.data.test_split) if cfg.eval.aligned_inputs else None
    return evaluate_predictor(
        run.split(cfg.data.test_split),
        lambda s: predict_hdr(net, s.ldrs, s.times, tile=cfg.eval.tile, overlap=cfg.eval.overlap),
        out, desc=f"test {name}", inputs_dir=inputs)


# ----------------------------------------------------------------------------- the job


def run(cfg: Config, resume: bool = False) -> Dict[str, Dict]:
    """Run the configured job end to end; returns ``{row: {"scenes", "mean"}}``.

    Under ``torchrun`` every rank trains; rank 0 alone prepares data, makes Y_color and
    Y_stru, tests and writes the tables, while the others wait at a (timed) barrier.
    """
    info = init_distributed(cfg.dist_timeout_s)
    try:
        return _run(cfg, resume, info)
    finally:
        cleanup(info)


def _run(cfg: Config, resume: bool, info: DistInfo) -> Dict[str, Dict]:
    if info.is_main:
        cfg = open_run(cfg, resume)
    barrier(info)
    if not info.is_main:
        cfg = open_run(cfg, resume)
    setup_runtime(cfg.seed, cfg.deterministic, cfg.threads)
    r = Run(cfg, info)
    r.on_main(lambda: ensure_data(cfg))
    train, test = cfg.data.train_split, cfg.data.test_split
    results: Dict[str, Dict] = {}
    # The fusion method reports its own baselines (mean, Mertens) on MEF-SSIM.
    if cfg.report.baselines and info.is_main and cfg.method != "fusion":
        for name, fn in BASELINES.items():
            results[name] = evaluate_predictor(r.split(test), fn, r.dir / "test" / name.replace(" ", "_"),
                                               desc=name)
    with RunLogger(r.dir / "tb", enabled=info.is_main) as logger:
        if cfg.method == "fusion":
            return _run_fusion(r, logger)
        if cfg.method == "selfhdr":
            r.on_main(lambda: ensure_color(r, train))
            align_dir = r.split(train + ALIGN_SUFFIX)
            if cfg.report.color and info.is_main:
                results["Y_color (aligned merge)"] = _color_on_test(r)
            s1 = train_stage(r, "stage1", lambda n: SelfHDRStage1(n, cfg.selfhdr.stage1),
                             {"color": align_dir}, logger)
            r.on_main(lambda: infer_structure(r, s1))
            stru = r.dir / "stru"
            s2 = train_stage(r, "stage2", lambda n: SelfHDRStage2(n, cfg.selfhdr.stage2),
                             {"color": align_dir, "stru": stru}, logger)
            _test(r, results, f"SelfHDR ({cfg.model['type']})", s2, "selfhdr")
        if cfg.method == "supervised" or cfg.report.supervised:
            sup = train_stage(r, "supervised", Supervised, {GT: GT}, logger)
            _test(r, results, f"supervised ({cfg.model['type']})", sup, "supervised")
        if cfg.method == "cues" or cfg.report.cues:
            make_method, make_dataset = cues_training(r)
            cues = train_stage(r, "cues", make_method, {}, logger, dataset=make_dataset)
            _test(r, results, f"motion/exposure cues ({cfg.model['type']})", cues, "cues")
    if not info.is_main:
        return results
    n = len(next(iter(results.values()))["scenes"]) if results else 0
    _report(r, results, markdown_table({k: v["mean"] for k, v in results.items()}),
            f"Test split {r.split(test)} ({n} scenes)")
    return results


def _report(r: Run, details: Dict, table: str, what: str) -> None:
    """Write ``results.json`` (``details``) and ``results.md`` (``table``); print the table."""
    save_json(r.dir / "results.json", details)
    atomic_write_text(r.dir / "results.md", table + "\n")
    print(f"\n{what}; run folder {r.dir}")
    print(table)


def _run_fusion(r: Run, logger: RunLogger) -> Dict[str, Dict]:
    """Train the two-exposure fusion network and score it (MEF-SSIM) beside mean and Mertens."""
    cfg, fc = r.cfg, r.cfg.fusion
    train_root = Path(fc.train_pairs) if fc.train_pairs else r.split(cfg.data.train_split)
    val_root = Path(fc.val_pairs) if fc.val_pairs else r.split(cfg.data.test_split)
    final = r.model_path("fusion")
    if not final.exists():
        tc = cfg.train
        ds = ExposurePairs(train_root, patch_size=cfg.data.patch_size, seed=cfg.seed, cache=True,
                           length=tc.iters_per_epoch * tc.batch_size)
        val = find_pairs(val_root)

        def validate(net: nn.Module) -> Dict[str, float]:
            return {"mef_ssim": evaluate_fusion(val, net, baselines=()).means()["network"]}

        method = FusionMethod(gamma=fc.gamma, loss_kwargs=fc.loss, net_kwargs=fc.net)
        meta = {"arch": "FusionNet", "method": "fusion", "config": to_dict(cfg)}
        trainer = Trainer(method, ds, tc, r.dir / "fusion", seed=cfg.seed, stage="fusion", device=r.device,
                          num_workers=cfg.data.num_workers, meta=meta, dist=r.dist,
                          validate=validate if r.dist.is_main else None)
        trainer.resume()
        trainer.fit(logger)
    if not r.dist.is_main:
        return {}
    report = evaluate_fusion(find_pairs(val_root), load_fusion_net(final), out_dir=r.dir / "test" / "fusion")
    rows = {("fusion network" if m == "network" else m): {"mef_ssim": v} for m, v in report.means().items()}
    _report(r, report.to_dict(), markdown_table(rows, keys=["mef_ssim"]),
            f"Fusion pairs {val_root} ({len(report.names)})")
    return {k: {"mean": v} for k, v in rows.items()}


def _test(r: Run, results: Dict[str, Dict], row: str, model_path: Path, name: str) -> None:
    """Test a trained model on rank 0 and add its row to ``results``."""
    out = r.on_main(lambda: test_model(r, model_path, name))
    if out is not None:
        results[row] = out


def _color_on_test(r: Run) -> Dict:
    """Y_color of the test brackets scored against their labels (no network)."""
    out = r.dir / "test" / "Y_color"
    if (out / "metrics.json").exists():
        return json.loads((out / "metrics.json").read_text())
    return evaluate_predictor(r.split(r.cfg.data.test_split),
                              lambda s: compute_color(s.ldrs, s.times, r.cfg.align).hdr, out, desc="Y_color")


def evaluate_baselines(root: Path, split: str, out_dir: Path) -> Dict[str, Dict]:
    """Score every classical baseline on ``root/split``; writes ``out_dir/<baseline>/``."""
    return {name: evaluate_predictor(root / split, fn, out_dir / name.replace(" ", "_"), desc=name)
            for name, fn in BASELINES.items()}


__all__ = ["Run", "ensure_data", "evaluate_baselines", "open_run", "run"]
