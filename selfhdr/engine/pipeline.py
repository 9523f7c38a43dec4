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

No step needs ground truth except the rows that score against it: on a root without any
``HDRImg.hdr`` (or without a ``Test/`` split, see :mod:`selfhdr.engine.splits`) SelfHDR and the
cues method train, validate on a label-free proxy and write their test outputs, and the rows
that need labels are skipped with one log line each. The run prints which phase of how many
it is in (``[3/7] stage 1``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar

from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from ..align import compute_color, prepare_color
from ..archs.checkpoint import load_checkpoint
from ..archs.registry import build_from_node
from ..config import Config, to_dict
from ..data.cues import CuesDataset
from ..data.dataset import GT, BracketDataset, exposure_fallback
from ..data.scene import list_scenes, read_scene
from ..data.synthetic import MANIFEST, write_dataset
from ..errors import ConfigError, InputError
from ..io import check_output_dir, write_hdr_with_preview
from ..losses.perceptual import load_vgg19_features
from ..methods.base import Method
from ..methods.classical import BASELINES
from ..methods.cues import CuesMethod
from ..methods.selfhdr import SelfHDRStage1, SelfHDRStage2
from ..methods.supervised import Supervised
from .device import resolve_device, setup_runtime
from .distributed import SINGLE, DistInfo, barrier, cleanup, device_for, init_distributed
from .evaluate import evaluate_predictor, markdown_table, save_json
from .fusion_run import run_fusion
from .logger import RunLogger
from .predict import predict_hdr
from .report import HISTORY, write_report
from .run_dir import open_run
from .splits import Splits, resolve_splits
from .trainer import Trainer, TrainingDiverged
from .validation import Validator

log = logging.getLogger(__name__)
ALIGN_SUFFIX = "_align"
ROWS = {"color": "Y_color (aligned merge)", "selfhdr": "SelfHDR ({})", "supervised": "supervised ({})",
        "cues": "motion/exposure cues ({})"}
"""Names of the final table's rows besides the baselines (``{}``: the backbone), as printed."""
T = TypeVar("T")


class Run:
    """Paths and shared objects of one run folder ``<output_dir>/<name>``."""

    def __init__(self, cfg: Config, dist: DistInfo = SINGLE) -> None:
        self.cfg = cfg
        self.dist = dist
        self.dir = Path(cfg.output_dir) / cfg.name
        self.root = Path(cfg.data.root)
        self.device = device_for(dist, resolve_device(cfg.device))

    @functools.cached_property
    def splits(self) -> Splits:
        """The scenes this run trains, validates and tests on (see :mod:`selfhdr.engine.splits`)."""
        cfg = self.cfg
        return resolve_splits(self.root, cfg.data.train_split, cfg.data.test_split, cfg.data.val_fraction,
                              cfg.seed)

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


class Phases:
    """Prints ``[k/n] phase`` as a run moves through its planned phases."""

    def __init__(self, names: List[str], enabled: bool = True) -> None:
        self.names = names
        self.enabled = enabled
        self.k = 0

    def start(self, name: str) -> None:
        """Announce phase ``name`` (it must be one of the planned names)."""
        self.k = self.names.index(name) + 1
        if self.enabled:
            tqdm.write(f"[{self.k}/{len(self.names)}] {name}")


def skipped(what: str, why: str) -> None:
    """The one log line of a row or check that cannot run on this data."""
    log.info("%s: skipped (%s)", what, why)


# ----------------------------------------------------------------------------- config & data


def ensure_data(cfg: Config, overrides: Sequence[str] = (), make_data: bool = False) -> Path:
    """Make the synthetic dataset at ``cfg.data.root`` if the config asks for one.

    Only where the config itself points: when ``data.root`` was changed on the command line
    (``overrides``) to a folder that does not exist, nothing is generated there unless
    ``make_data`` (``--make-data``) asks, so a misspelt path fails instead of filling the
    disk. The training split must exist afterwards.
    """
    root = Path(cfg.data.root)
    if cfg.data.synthetic is not None:
        keys = {o.partition("=")[0].strip() for o in overrides}
        moved = "data.root" in keys and not any(k.startswith("data.synthetic") for k in keys)
        if moved and not root.exists() and not make_data:
            raise ConfigError(f"data.root={root}: no dataset there. The config makes its synthetic dataset "
                              f"only at its own data.root; check the path, or add --make-data to generate "
                              f"one at {root}")
        if (root / cfg.data.train_split).is_dir() and not (root / MANIFEST).exists():
            # Someone's own data (imported brackets, Kalantari's set): use it, never add to it.
            log.info("data.root %s holds a dataset that is not synthetic (no %s): using it as it is, "
                     "without generating anything", root, MANIFEST)
            return root
        try:
            write_dataset(root, cfg.data.synthetic)
        except ValueError as exc:
            raise ConfigError(f"data.synthetic: {exc}") from None
    train = root / cfg.data.train_split
    if not train.is_dir() and not (cfg.method == "fusion" and cfg.fusion.train_pairs):
        raise InputError(train, f"training split not found (data.root={root}, data.train_split="
                                f"{cfg.data.train_split}); import photos with selfhdr-import or fix the path")
    return root


def ensure_color(run: Run, split: str) -> Path:
    """Y_color and aligned frames for ``split`` (``<split>_align``), made if missing."""
    return prepare_color(run.root, split, run.cfg.align, workers=run.cfg.data.prepare_workers).out_dir


# ----------------------------------------------------------------------------- stages


def build_model(cfg: Config) -> nn.Module:
    """The configured backbone."""
    return build_from_node(cfg.model)


def validator(run: Run) -> Optional[Validator]:
    """Validation on the run's validation scenes (PSNR-μ where labelled, a proxy elsewhere), or None."""
    cfg = run.cfg
    val = run.splits.val
    if not cfg.train.val_every or val is None or not run.dist.is_main:
        return None
    make_color = None
    if val.unlabelled:
        make_color = lambda: ensure_color(run, val.dir.name)  # noqa: E731
    return Validator(val, run.device, cfg.eval.val_crop, cfg.eval.tile, cfg.eval.overlap, make_color)


def train_stage(run: Run, stage: str, make_method: Callable[[nn.Module], Method],
                labels: Dict[str, object], logger: RunLogger,
                dataset: Optional[Callable[[int], Dataset]] = None, epochs: Optional[int] = None,
                init: Optional[Path] = None, train: Optional[Mapping[str, object]] = None) -> Path:
    """Train one stage (or continue it from its checkpoint); returns its ``model.pth``.

    ``epochs`` replaces ``train.epochs`` for this stage (the learning-rate schedule follows it);
    ``init``: start from these weights instead of a random initialisation; ``train``: other
    ``train.*`` fields replaced for this stage (None values keep the shared ones).
    """
    cfg = run.cfg
    final = run.model_path(stage)
    if final.exists():
        log.info("%s: finished earlier (%s)", stage, final)
        return final
    fields = {k: v for k, v in dict(train or {}, epochs=epochs).items() if v is not None}
    tc = dataclasses.replace(cfg.train, **fields) if fields else cfg.train
    try:
        tc.validate()
    except ValueError as exc:
        raise ConfigError(f"{stage}: {exc}") from None
    length = tc.iters_per_epoch * tc.batch_size
    ds = dataset(length) if dataset is not None else BracketDataset(
        run.splits.train.dir, labels=labels, patch_size=cfg.data.patch_size,
        length=length, seed=cfg.seed, progress=True, scenes=run.splits.train.names,
        augment=cfg.data.augment, saturated_crops=cfg.data.saturated_crops, gain_stops=cfg.data.gain_stops)
    net = build_model(cfg)
    if init is not None:
        load_checkpoint(net, init)  # a checkpoint of this stage, if any, replaces it on resume
        log.info("%s: starts from the weights of %s", stage, init)
    method = make_method(net)
    meta = {"backbone": dict(cfg.model), "channel_order": "rgb", "method": cfg.method,
            "stage": stage, "config": to_dict(cfg)}
    trainer = Trainer(method, ds, tc, run.dir / stage, seed=cfg.seed, stage=stage, device=run.device,
                      num_workers=cfg.data.num_workers, meta=meta, dist=run.dist, validate=validator(run))
    trainer.resume()
    logger.restart(stage, trainer.step)  # the steps after the checkpoint are logged again
    return trainer.fit(logger)


def supervised_epochs(cfg: Config) -> Optional[int]:
    """The supervised row's length: the optimiser steps the reported SelfHDR network had.

    With ``selfhdr.stage2.warm_start`` the stage-2 network continues stage 1's, so the
    same budget is stage 1's epochs plus stage 2's; otherwise ``train.epochs`` (None).
    """
    if cfg.method != "selfhdr" or not cfg.selfhdr.stage2.warm_start:
        return None
    return (cfg.selfhdr.stage1.epochs or cfg.train.epochs) + cfg.train.epochs


def cues_training(run: Run) -> Tuple[Callable[[nn.Module], Method], Callable[[int], Dataset]]:
    """Method and dataset factories of the ``cues`` stage; the method logs the dataset's class stats."""
    cfg = run.cfg
    stats: Dict[str, float] = {}

    def make_dataset(length: int) -> Dataset:
        ds = CuesDataset(run.splits.train.dir, cfg.data.patch_size, cfg.cues.patches,
                         cfg.cues.illumination, cfg.cues.warp, length=length, seed=cfg.seed, progress=True,
                         scenes=run.splits.train.names)
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
    wanted = set(run.splits.train.names)
    flat = []
    for d in tqdm([d for d in list_scenes(aligned) if d.name in wanted], desc="Y_stru"):
        target = out / f"{d.name}.hdr"
        if target.exists():
            continue
        scene = read_scene(d, exposure_fallback(d, original), with_hdr=False)
        hdr = predict_hdr(net, scene.ldrs, scene.times, tile=cfg.eval.tile, overlap=cfg.eval.overlap)
        if float(hdr.max() - hdr.min()) < 1e-4:
            flat.append(d.name)
        write_hdr_with_preview(target, hdr)
    if flat and len(flat) == len(wanted):
        for name in flat:  # not kept: a rerun after retraining stage 1 must make them again
            for suffix in (".hdr", ".png"):
                (out / f"{name}{suffix}").unlink(missing_ok=True)
        # A collapsed stage 1 (a saturated sigmoid: one value everywhere, zero gradient) would
        # make stage 2 train on nothing: its mask M2 then keeps no pixel and its loss is 0.
        raise TrainingDiverged(
            f"stage 1 ({stage1}) collapsed: its output is one constant value on every training scene, "
            f"so Y_stru carries no structure; retrain it with a lower train.lr or a train.warmup_iters "
            f"(delete {stage1.parent} and {out})")
    save_json(done, {"scenes": len(list(out.glob("*.hdr"))), "stage1": str(stage1)})
    return out


def test_model(run: Run, model_path: Path, name: str) -> Dict:
    """Full-image test of a trained model on the test scenes; writes ``test/<name>/``.

    Every test scene gets its output (``.hdr`` + ``.png``); metrics only those with labels.
    """
    cfg = run.cfg
    test = run.splits.test
    assert test is not None
    out = run.dir / "test" / name
    if (out / "metrics.json").exists():
        done = json.loads((out / "metrics.json").read_text())
        if not done.get("scenes") or all(k in done["mean"] for k in cfg.eval.metrics):
            return done
        log.info("%s: metrics.json lacks some of eval.metrics; testing again", out)
    net = load_trained(run, model_path)
    inputs = ensure_color(run, test.dir.name) if cfg.eval.aligned_inputs else None
    return evaluate_predictor(
        test.dir, lambda s: predict_hdr(net, s.ldrs, s.times, tile=cfg.eval.tile, overlap=cfg.eval.overlap),
        out, desc=f"test {name}", inputs_dir=inputs, scenes=test.names, metrics=cfg.eval.metrics,
        vdp=cfg.eval.hdr_vdp2)


# ----------------------------------------------------------------------------- the job


def run(cfg: Config, resume: bool = False, overrides: Sequence[str] = (), make_data: bool = False
        ) -> Dict[str, Dict]:
    """Run the configured job end to end; returns ``{row: {"scenes", "mean", "unlabelled"}}``.

    Under ``torchrun`` every rank trains; rank 0 alone prepares data, makes Y_color and
    Y_stru, tests and writes the tables, while the others wait at a (timed) barrier.
    ``overrides`` are the ``--set`` items already applied to ``cfg``: with ``resume`` the safe
    ones are applied to the saved config (see :mod:`selfhdr.engine.run_dir`).
    """
    info = init_distributed(cfg.dist_timeout_s)
    try:
        return _run(cfg, resume, info, overrides, make_data)
    finally:
        cleanup(info)


def plan(cfg: Config, splits: Splits) -> List[str]:
    """The phases a run goes through, in order (what ``[k/n]`` counts)."""
    test = splits.test is not None
    names = ["data"]
    labelled_test = test and splits.test.any_labelled  # type: ignore[union-attr]
    if cfg.report.baselines and labelled_test:
        names.append("baselines")
    if cfg.method == "selfhdr":
        names.append("Y_color")
        if cfg.report.color and labelled_test:
            names.append("Y_color score")
        names += ["stage 1", "Y_stru", "stage 2"] + (["test SelfHDR"] if test else [])
    if cfg.method == "supervised" or (cfg.report.supervised and splits.train.all_labelled):
        names += ["supervised"] + (["test supervised"] if test else [])
    if cfg.method == "cues" or cfg.report.cues:
        names += ["cues"] + (["test cues"] if test else [])
    return names + ["report"]


def check_labels(cfg: Config, splits: Splits) -> None:
    """Fail early where the method itself needs labels; log each label-needing row that is skipped."""
    train = splits.train
    if cfg.method == "supervised" and not train.all_labelled:
        missing = train.unlabelled
        raise InputError(train.dir, f"method: supervised needs HDRImg.hdr in every training scene; "
                                    f"{len(missing)} of {len(train.names)} have none (e.g. {missing[0]}). "
                                    f"SelfHDR (method: selfhdr) trains without labels")
    test = splits.test
    no_test = "no labelled test scenes" if test is not None else "no test scenes"
    if test is None:
        skipped("test", "no test split and no held-out training scenes (data.val_fraction=0)")
    if cfg.report.baselines and not (test and test.any_labelled):
        skipped("baselines (reference alone, unaligned merge)", no_test)
    if cfg.method == "selfhdr" and cfg.report.color and not (test and test.any_labelled):
        skipped("Y_color score", no_test)
    if cfg.method != "supervised" and cfg.report.supervised and not train.all_labelled:
        skipped("supervised row", f"{len(train.unlabelled)} of {len(train.names)} training scenes have no HDRImg.hdr")
    val = splits.val
    if cfg.train.val_every and val is not None and val.unlabelled:
        log.info("validation: %d of %d scenes unlabelled; they are scored by a label-free proxy "
                 "(PSNR-μ against their Y_color, logged as val/proxy_*)", len(val.unlabelled), len(val.names))
    elif cfg.train.val_every and val is None:
        skipped("validation", "no validation scenes")


def check_weights(r: Run) -> None:
    """Fail before stage 1, not after it, when stage 2's VGG19 loss has no ImageNet weights."""
    cfg = r.cfg
    if cfg.method == "selfhdr" and cfg.selfhdr.stage2.structure_loss == "vgg" and \
            not r.model_path("stage2").exists():
        load_vgg19_features(cfg.selfhdr.stage2.vgg_weights)  # the message says where to put the file


def _run(cfg: Config, resume: bool, info: DistInfo, overrides: Sequence[str], make_data: bool) -> Dict[str, Dict]:
    if info.is_main:
        check_output_dir(Path(cfg.output_dir) / cfg.name)  # before any data is made
        ensure_data(cfg, overrides, make_data)
        cfg = open_run(cfg, resume, overrides)
    barrier(info)
    if not info.is_main:
        cfg = open_run(cfg, resume, overrides)
    setup_runtime(cfg.seed, cfg.deterministic, cfg.threads)
    r = Run(cfg, info)
    if cfg.method == "fusion":
        phases = Phases(["data", "fusion", "test fusion", "report"], enabled=info.is_main)
        phases.start("data")
        with RunLogger(r.dir / "tb", enabled=info.is_main, history=r.dir / HISTORY) as logger:
            return run_fusion(r, logger, phases)
    phases = Phases(plan(cfg, r.splits), enabled=info.is_main)
    phases.start("data")
    log.info("%s", r.splits.describe())
    check_labels(cfg, r.splits)
    check_weights(r)
    test = r.splits.test
    results: Dict[str, Dict] = {}
    with RunLogger(r.dir / "tb", enabled=info.is_main, history=r.dir / HISTORY) as logger:
        if "baselines" in phases.names and info.is_main:
            phases.start("baselines")
            for name, fn in BASELINES.items():
                results[name] = evaluate_predictor(test.dir, fn, r.dir / "test" / name.replace(" ", "_"),
                                                   desc=name, scenes=test.labelled, labelled_only=True)
        if cfg.method == "selfhdr":
            train_split = cfg.data.train_split
            phases.start("Y_color")
            r.on_main(lambda: ensure_color(r, train_split))
            align_dir = r.split(train_split + ALIGN_SUFFIX)
            if "Y_color score" in phases.names and info.is_main:
                phases.start("Y_color score")
                results[ROWS["color"]] = _color_on_test(r)
            phases.start("stage 1")
            s1 = train_stage(r, "stage1", lambda n: SelfHDRStage1(n, cfg.selfhdr.stage1),
                             {"color": align_dir}, logger, epochs=cfg.selfhdr.stage1.epochs)
            phases.start("Y_stru")
            r.on_main(lambda: infer_structure(r, s1))
            stru = r.dir / "stru"
            phases.start("stage 2")
            s2 = train_stage(r, "stage2", lambda n: SelfHDRStage2(n, cfg.selfhdr.stage2),
                             {"color": align_dir, "stru": stru}, logger,
                             init=s1 if cfg.selfhdr.stage2.warm_start else None,
                             train={"lr": cfg.selfhdr.stage2.lr, "warmup_iters": cfg.selfhdr.stage2.warmup_iters})
            _test(r, phases, results, ROWS["selfhdr"].format(cfg.model["type"]), s2, "selfhdr", "test SelfHDR")
        if "supervised" in phases.names:
            phases.start("supervised")
            sup = train_stage(r, "supervised", Supervised, {GT: GT}, logger, epochs=supervised_epochs(cfg))
            _test(r, phases, results, ROWS["supervised"].format(cfg.model["type"]), sup, "supervised", "test supervised")
        if "cues" in phases.names:
            phases.start("cues")
            make_method, make_dataset = cues_training(r)
            cues = train_stage(r, "cues", make_method, {}, logger, dataset=make_dataset)
            _test(r, phases, results, ROWS["cues"].format(cfg.model["type"]), cues, "cues", "test cues")
    if not info.is_main:
        return results
    phases.start("report")
    _report_hdr(r, results)
    return results


def _report_hdr(r: Run, results: Dict[str, Dict]) -> None:
    """The final table over the labelled test scenes, and where the outputs of every scene are."""
    test = r.splits.test
    scored = {k: v["mean"] for k, v in results.items() if v.get("mean")}
    lines = []
    if scored:
        lines.append(markdown_table(scored, r.cfg.eval.metrics))
    if test is None:
        lines.append("No test scenes: the run has no test split and holds none out (data.val_fraction=0).")
    else:
        outputs = sorted({str(r.dir / "test" / p) for p in ("selfhdr", "supervised", "cues")
                          if (r.dir / "test" / p).is_dir()})
        if test.unlabelled:
            lines.append(f"{len(test.unlabelled)} of {len(test.names)} test scenes have no label (HDRImg.hdr): "
                         f"outputs only, no metrics" + (" (the table covers the others)." if scored else "."))
        if outputs:
            lines.append("Outputs (.hdr + tonemapped .png per scene): " + ", ".join(outputs))
    n = len(test.labelled) if test is not None else 0
    where = f"{test.dir}" if test is not None else "(none)"
    # The rows without a network, as lines on the curves of validation PSNR-μ.
    refs = {k: scored[k]["psnr_mu"] for k in (*BASELINES, ROWS["color"]) if "psnr_mu" in scored.get(k, {})}
    note = ("Dashed lines: PSNR-μ of the rows without a network on the full test images; the validation "
            "curve scores the top-left eval.val_crop square of each validation scene.")
    write_report(r.dir, results, "\n\n".join(lines), f"Test scenes in {where} ({n} labelled)", refs,
                 refs_note=note if refs else "")


def _test(r: Run, phases: Phases, results: Dict[str, Dict], row: str, model_path: Path, name: str,
          phase: str) -> None:
    """Test a trained model on rank 0 and add its row to ``results`` (when there are test scenes)."""
    if r.splits.test is None:
        return
    phases.start(phase)
    out = r.on_main(lambda: test_model(r, model_path, name))
    if out is not None:
        results[row] = out


def _color_on_test(r: Run) -> Dict:
    """Y_color of the labelled test brackets scored against their labels (no network)."""
    out = r.dir / "test" / "Y_color"
    if (out / "metrics.json").exists():
        return json.loads((out / "metrics.json").read_text())
    test = r.splits.test
    assert test is not None
    return evaluate_predictor(test.dir, lambda s: compute_color(s.ldrs, s.times, r.cfg.align).hdr, out,
                              desc="Y_color", scenes=test.labelled, labelled_only=True)


def evaluate_baselines(root: Path, split: str, out_dir: Path) -> Dict[str, Dict]:
    """Score every classical baseline on the labelled scenes of ``root/split``; writes ``out_dir/<baseline>/``."""
    return {name: evaluate_predictor(root / split, fn, out_dir / name.replace(" ", "_"), desc=name,
                                     labelled_only=True)
            for name, fn in BASELINES.items()}


__all__ = ["ROWS", "Phases", "Run", "ensure_data", "evaluate_baselines", "open_run", "plan", "run"]
