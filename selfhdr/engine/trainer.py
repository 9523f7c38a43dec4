"""The generic trainer: drives any :class:`selfhdr.methods.base.Method` over a dataset.

One "epoch" is ``iters_per_epoch`` optimiser steps (SelfHDR: 1200). The order of samples and
the crops depend only on (seed, epoch, index), and every stochastic loss is seeded per step,
so a run interrupted and resumed from a checkpoint ends with the weights of an uninterrupted
one. Non-finite losses or gradients skip the step; ``max_nonfinite`` in a row stop the run.

Speed settings (``amp``, ``channels_last``, ``compile``) are resolved per device when the
trainer is made and logged in one line per stage that says whether the numerics differ from
plain fp32 (:meth:`Trainer.numerics`).
"""

from __future__ import annotations

import copy
import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Literal, Optional, Tuple, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from ..errors import ConfigError, SelfHDRError
from ..methods.base import Method
from .device import bf16_support, resolve_amp, resolve_channels_last, step_seed
from .distributed import SINGLE, DistInfo, all_mean, any_rank, barrier
from .logger import RunLogger
from .state import load_latest_state, save_training_state

log = logging.getLogger(__name__)

_PRECISION = {"off": "fp32", "bf16": "bf16 autocast", "fp16": "fp16 autocast"}


@dataclass
class TrainConfig:
    """Optimisation settings; defaults are SelfHDR's for AHDRNet/FSHDR."""

    batch_size: int = 16
    epochs: int = 150
    iters_per_epoch: int = 1200
    lr: float = 1e-4
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    lr_schedule: Literal["step", "cosine"] = "step"
    """'step' (the published schedule): × lr_gamma every lr_decay_every epochs; 'cosine': from
    lr down to lr_min along half a cosine over the whole run, after the warm-up."""
    lr_decay_every: int = 50
    """'step' schedule: multiply the learning rate by lr_gamma every this many epochs."""
    lr_gamma: float = 0.5
    lr_min: float = 0.0
    """'cosine' schedule: the learning rate at the last step."""
    warmup_iters: int = 0
    """Ramp the learning rate linearly from lr/warmup_iters to lr over the first this many steps."""
    val_every: int = 1
    """Validate every this many epochs (0: never)."""
    log_every: int = 50
    image_every: int = 500
    checkpoint_every: int = 200
    """Also checkpoint every this many iterations inside an epoch (0: epoch ends only)."""
    max_nonfinite: int = 20
    """Stop after this many consecutive steps with a non-finite loss or gradient."""
    grad_clip: Optional[float] = None
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    """Autocast: 'auto' (bf16 where the device has fast bf16 — CUDA with native bf16, a CPU
    with AMX-BF16 or AVX512-BF16 — else fp32), 'off' (fp32), 'bf16', 'fp16' (CUDA only)."""
    channels_last: Union[Literal["auto"], bool] = "auto"
    """Channels-last model and inputs; 'auto': on for a CNN trained in bf16 on the CPU."""
    ema: float = 0.0
    """Exponential moving average of the weights (0: off, the published training): after each
    step the average moves toward the weights by 1 − min(ema, (1 + n) / (10 + n)) (n: steps
    averaged so far); validation and model.pth use the average, the checkpoint holds both."""
    compile: bool = False
    """Wrap the network in ``torch.compile`` (inductor); if that fails on the first step
    (no C++ compiler, an unsupported op) training continues eagerly after one warning."""

    def validate(self) -> None:
        """Reject impossible values."""
        for name in ("batch_size", "epochs", "iters_per_epoch", "lr_decay_every", "max_nonfinite"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.lr_schedule not in ("step", "cosine"):
            raise ValueError(f"lr_schedule must be 'step' or 'cosine', got {self.lr_schedule!r}")
        if not 0 <= self.lr_min <= self.lr:
            raise ValueError(f"lr_min must be in [0, lr = {self.lr}], got {self.lr_min}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must lie in [0, 1), got {self.ema}")
        if self.warmup_iters < 0:  # longer than the run is allowed: a short test run just ramps
            raise ValueError(f"warmup_iters must be ≥ 0, got {self.warmup_iters}")

    def lr_factor(self, step: int) -> float:
        """The learning rate of optimiser step ``step`` (0-based, global) divided by ``lr``."""
        if step < self.warmup_iters:
            return (step + 1) / self.warmup_iters
        if self.lr_schedule == "step":
            return self.lr_gamma ** (step // (self.lr_decay_every * self.iters_per_epoch))
        total = self.epochs * self.iters_per_epoch
        t = (step - self.warmup_iters) / max(total - 1 - self.warmup_iters, 1)
        floor = self.lr_min / self.lr
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
        if len(self.betas) != 2:
            raise ValueError(f"betas must be two numbers, got {self.betas}")


class TrainingDiverged(SelfHDRError, RuntimeError):
    """Training failed numerically: non-finite steps in a row, or a network collapsed to a constant."""


class EpochSampler(Sampler[int]):
    """A permutation of the dataset fixed by (seed, epoch), sliced per rank, from ``start``."""

    def __init__(self, n: int, seed: int, epoch: int, start: int = 0, rank: int = 0, world: int = 1) -> None:
        self.n, self.seed, self.epoch, self.start, self.rank, self.world = n, seed, epoch, start, rank, world

    def _indices(self) -> List[int]:
        perm = np.random.default_rng([self.seed, self.epoch, 7919]).permutation(self.n)
        return perm[self.rank::self.world][self.start:].tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices())

    def __len__(self) -> int:
        return len(self._indices())


Validator = Callable[[torch.nn.Module], Dict[str, float]]


class Trainer:
    """Runs one training stage of a method and writes ``checkpoint.pth`` and ``model.pth``.

    Under ``torchrun`` (``dist`` enabled) each rank takes ``batch_size / world`` samples of
    every global batch (the global batch is preserved), gradients are averaged by DDP, the
    skip decision for non-finite steps is agreed by all ranks, and only rank 0 logs,
    validates and writes files.
    """

    def __init__(self, method: Method, dataset: Dataset, cfg: TrainConfig, out_dir: Path, *,
                 seed: int = 0, stage: str = "train", device: torch.device = torch.device("cpu"),
                 num_workers: int = 0, validate: Optional[Validator] = None,
                 meta: Optional[Dict[str, Any]] = None, progress: bool = True,
                 dist: DistInfo = SINGLE) -> None:
        if cfg.batch_size % dist.world:
            raise ConfigError(f"train.batch_size ({cfg.batch_size}) must be divisible by the number of "
                              f"processes ({dist.world}): it is the global batch")
        if cfg.amp == "fp16" and device.type != "cuda":
            raise ConfigError("train.amp=fp16 needs CUDA; on the CPU use 'bf16' or 'off'")
        self.dist = dist
        self.method = method.to(device)
        self.dataset = dataset
        self.cfg = cfg
        self.out_dir = Path(out_dir)
        self.seed = seed
        self.stage = stage
        self.device = device
        self.num_workers = num_workers
        self.validate = validate
        self.meta = dict(meta or {})
        self.progress = progress and dist.is_main
        self.net = method.net  # the bare network (DDP and torch.compile wrap it only while fitting)
        net = self.net
        self.amp = resolve_amp(cfg.amp, device)
        self.channels_last = resolve_channels_last(cfg.channels_last, device, net, self.amp)
        if self.channels_last:
            net.to(memory_format=torch.channels_last)  # in place: the parameters stay the same objects
        # Set while the compiled network has not yet run a step: a failure there falls back to eager.
        self._compile_pending = False
        self._eager: Optional[torch.nn.Module] = None
        self.optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=tuple(cfg.betas),
                                          weight_decay=cfg.weight_decay)
        # Stepped once per optimiser step: the rate is a function of the global step alone.
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, cfg.lr_factor)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp == "fp16")
        self.epoch = 0
        self.iteration = 0
        self.nonfinite = 0
        self.ckpt_path = self.out_dir / "checkpoint.pth"
        self.model_path = self.out_dir / "model.pth"
        # The weight average (train.ema): a copy of the network whose parameters follow the
        # trained ones; None when off.
        self.ema_net: Optional[torch.nn.Module] = None
        self.ema_updates = 0
        if cfg.ema:
            self.ema_net = copy.deepcopy(net).requires_grad_(False).eval()

    @property
    def averaged(self) -> torch.nn.Module:
        """The network that validation and model.pth use: the weight average when train.ema is on."""
        return self.ema_net if self.ema_net is not None else self.net

    def _update_ema(self) -> None:
        """Move the weight average toward the current weights (after an optimiser step)."""
        assert self.ema_net is not None
        decay = min(self.cfg.ema, (1 + self.ema_updates) / (10 + self.ema_updates))
        with torch.no_grad():
            avg = [t for t in self.ema_net.state_dict().values() if t.is_floating_point()]
            cur = [t for t in self.net.state_dict().values() if t.is_floating_point()]
            torch._foreach_lerp_(avg, cur, 1.0 - decay)
        self.ema_updates += 1

    @property
    def step(self) -> int:
        """Global optimiser-step index (completed or skipped steps so far)."""
        return self.epoch * self.cfg.iters_per_epoch + self.iteration

    # ------------------------------------------------------------------ checkpoints

    def state(self) -> Dict[str, Any]:
        """Everything needed to resume exactly."""
        return {
            "state_dict": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch, "iteration": self.iteration, "step": self.step,
            "nonfinite": self.nonfinite, "rng": torch.get_rng_state(),
            **({"ema_state_dict": self.ema_net.state_dict(), "ema_updates": self.ema_updates}
               if self.ema_net is not None else {}),
            "stage": self.stage, "amp": self.amp, "channels_last": self.channels_last, **self.meta,
        }

    def save(self) -> None:
        """Write the training checkpoint atomically (rank 0)."""
        if self.dist.is_main:
            save_training_state(self.ckpt_path, self.state())

    def resume(self) -> bool:
        """Restore from the newest good checkpoint of this stage; False if there is none."""
        state = load_latest_state(self.ckpt_path)
        if state is None:
            return False
        self.net.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema_net is not None:
            if "ema_state_dict" in state:
                self.ema_net.load_state_dict(state["ema_state_dict"])
                self.ema_updates = int(state["ema_updates"])
            else:
                self.ema_net.load_state_dict(state["state_dict"])
                self.ema_updates = 0
                log.warning("%s: the checkpoint has no weight average (trained without train.ema); "
                            "averaging starts from its weights", self.stage)
        self.epoch, self.iteration = int(state["epoch"]), int(state["iteration"])
        self.nonfinite = int(state.get("nonfinite", 0))
        if "rng" in state:
            torch.set_rng_state(state["rng"])
        was = (state.get("amp", self.amp), state.get("channels_last", self.channels_last))
        if was != (self.amp, self.channels_last) and self.dist.is_main:
            log.warning("%s: the checkpoint was trained with amp=%s, channels_last=%s and continues with "
                        "amp=%s, channels_last=%s: the result will differ from an uninterrupted run",
                        self.stage, *was, self.amp, self.channels_last)
        log.info("%s: resumed at epoch %d, iteration %d", self.stage, self.epoch, self.iteration)
        return True

    # ------------------------------------------------------------------ training

    def _loader(self) -> DataLoader:
        bs = self.cfg.batch_size // self.dist.world
        sampler = EpochSampler(len(self.dataset), self.seed, self.epoch, start=self.iteration * bs,
                               rank=self.dist.rank, world=self.dist.world)
        return DataLoader(self.dataset, batch_size=bs, sampler=sampler, drop_last=True,
                          num_workers=self.num_workers, pin_memory=self.device.type == "cuda",
                          persistent_workers=False)

    def _to_device(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        out = {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        if self.channels_last:
            out = {k: v.contiguous(memory_format=torch.channels_last) if torch.is_tensor(v) and v.dim() == 4
                   else v for k, v in out.items()}
        return out

    def numerics(self) -> str:
        """One line: how this stage trains and whether that changes the numerics from plain fp32."""
        why = bf16_support(self.device)[1] if self.cfg.amp == "auto" else f"train.amp={self.cfg.amp}"
        how = [f"{_PRECISION[self.amp]} ({why})"]
        differ = [] if self.amp == "off" else [f"{self.amp} rounding"]
        if self.channels_last:
            how.append("channels-last")
            differ.append("channels-last kernels round differently")
        if self.cfg.compile:
            how.append("torch.compile")
            differ.append("compiled kernels fuse and reorder")
        tail = f"numerics differ from fp32 ({'; '.join(differ)})" if differ else "numerics are plain fp32"
        return f"{self.stage}: training in {', '.join(how)}: {tail}"

    def _compile(self, module: torch.nn.Module) -> torch.nn.Module:
        """``torch.compile(module)``, or ``module`` itself (after one warning) if that is unavailable."""
        self._eager = module
        try:
            compiled = torch.compile(module)
        except Exception as exc:  # noqa: BLE001 - any failure to compile means training eagerly
            self._compile_failed(exc)
            return module
        self._compile_pending = True
        return compiled

    def _compile_failed(self, exc: BaseException) -> None:
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        log.warning("%s: train.compile: torch.compile failed (%s: %s); training eagerly instead "
                    "(numerics then as without compile)", self.stage, type(exc).__name__, first)

    def fit(self, logger: Optional[RunLogger] = None) -> Path:
        """Train until ``epochs`` are done (resuming where a checkpoint left off); return model.pth."""
        cfg = self.cfg
        if set_epoch := getattr(self.dataset, "set_epoch", None):
            set_epoch(self.epoch)
        if len(self.dataset) < cfg.iters_per_epoch * cfg.batch_size:
            raise ValueError(f"dataset has {len(self.dataset)} items, fewer than "
                             f"iters_per_epoch × batch_size = {cfg.iters_per_epoch * cfg.batch_size}")
        if self.dist.is_main:
            log.info("%s", self.numerics())  # before the progress bar, which it would tear
        total = cfg.epochs * cfg.iters_per_epoch
        bar = tqdm(total=total, initial=self.step, desc=self.stage, disable=not self.progress,
                   dynamic_ncols=True, unit="it")
        self.method.train()
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.method.net = DistributedDataParallel(self.net, device_ids=ids)
        if cfg.compile:
            self.method.net = self._compile(self.method.net)
        try:
            while self.epoch < cfg.epochs:
                if set_epoch:
                    set_epoch(self.epoch)
                self._run_epoch(bar, logger)
                self.epoch += 1
                self.iteration = 0
                self.save()
                if self.validate and cfg.val_every and self.epoch % cfg.val_every == 0:
                    if self.dist.is_main:
                        self._validate(logger)
                    barrier(self.dist)
        finally:
            bar.close()
            self.method.net = self.net
            self._compile_pending = False
            if self.channels_last:
                for module in (self.net, self.ema_net):  # hand back the usual layout
                    if module is not None:
                        module.to(memory_format=torch.contiguous_format)
        from ..archs.checkpoint import save_weights  # the published {'state_dict'} format

        if self.dist.is_main:
            save_weights(self.averaged, self.model_path, meta={k: v for k, v in self.meta.items()})
        barrier(self.dist)
        return self.model_path

    def _run_epoch(self, bar: tqdm, logger: Optional[RunLogger]) -> None:
        cfg = self.cfg
        waited = computed = 0.0
        t0 = time.perf_counter()
        for batch in self._loader():
            t1 = time.perf_counter()
            names = batch.get("name")
            torch.manual_seed(step_seed(self.seed, self.stage, self.step))
            result = self._train_step(self._to_device(batch), names)
            t2 = time.perf_counter()
            waited += t1 - t0
            computed += t2 - t1
            self.iteration += 1
            with warnings.catch_warnings():
                # A skipped (non-finite) first step has no optimizer.step() before this one:
                # torch warns, but the rate is a function of the step index and stays right.
                warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler\.step\(\)`", UserWarning)
                self.scheduler.step()
            bar.update(1)
            if result is not None:
                bar.set_postfix(loss=f"{float(result['loss'].detach()):.4f}", refresh=False)
                if self.step % cfg.log_every == 0:
                    # Every rank joins the reduction; only rank 0 holds a logger.
                    scalars = {k: float(all_mean(v.detach().float(), self.dist))
                               for k, v in result.items() if torch.is_tensor(v) and v.dim() == 0}
                    scalars["lr"] = self.optimizer.param_groups[0]["lr"]
                    scalars["data_wait_fraction"] = waited / max(waited + computed, 1e-9)
                    if logger:
                        logger.scalars(self.stage, scalars, self.step)
                if logger and cfg.image_every and self.step % cfg.image_every == 0 and "out" in result:
                    logger.images(self.stage, batch, result["out"], self.step)
            if cfg.checkpoint_every and self.iteration % cfg.checkpoint_every == 0 \
                    and self.iteration < cfg.iters_per_epoch:
                self.save()
            if self.iteration >= cfg.iters_per_epoch:
                break
            t0 = time.perf_counter()

    def _forward_backward(self, batch: Dict[str, Any]) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        # Autocast covers the network's forward only (Method.run_net); the losses run in fp32.
        self.method.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.amp)
        result = self.method.training_step(batch)
        loss = result["loss"].float()
        self.optimizer.zero_grad(set_to_none=True)
        # Backward always runs, so DDP's gradient all-reduce happens on every rank; then all
        # ranks agree whether the step is usable before anyone steps.
        self.scaler.scale(loss).backward()
        return result, loss

    def _train_step(self, batch: Dict[str, Any], names: Any) -> Optional[Dict[str, torch.Tensor]]:
        cfg = self.cfg
        if not self._compile_pending:
            result, loss = self._forward_backward(batch)
        else:
            # Inductor compiles on the first forward and backward: a failure there (no C++
            # compiler, an op it cannot lower) repeats the step eagerly; an error that is not
            # the compiler's then raises from the eager step.
            try:
                result, loss = self._forward_backward(batch)
            except Exception as exc:  # noqa: BLE001 - see above
                self._compile_failed(exc)
                assert self._eager is not None
                self.method.net = self._eager
                self._compile_pending = False
                torch.manual_seed(step_seed(self.seed, self.stage, self.step))
                result, loss = self._forward_backward(batch)
            self._compile_pending = False
        self.scaler.unscale_(self.optimizer)
        params = [p for p in self.net.parameters() if p.grad is not None]
        if cfg.grad_clip:
            norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        else:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params])) \
                if params else torch.zeros(())
        bad_loss = any_rank(not bool(torch.isfinite(loss)), self.dist, self.device)
        bad_grad = any_rank(not bool(torch.isfinite(norm)), self.dist, self.device)
        if bad_loss or (bad_grad and not self.scaler.is_enabled()):
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler.is_enabled():
                self.scaler.update()
            return self._skip("non-finite loss" if bad_loss else "non-finite gradient", names)
        # With fp16 the scaler itself skips overflowing steps and lowers its scale: normal.
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema_net is not None:
            self._update_ema()
        self.nonfinite = 0
        return result

    def _skip(self, why: str, names: Any) -> None:
        self.nonfinite += 1
        log.warning("%s step %d: %s; step skipped (%d in a row)", self.stage, self.step, why, self.nonfinite)
        if self.nonfinite >= self.cfg.max_nonfinite:
            scenes = ", ".join(names) if isinstance(names, (list, tuple)) else str(names)
            raise TrainingDiverged(
                f"{self.stage}: {self.nonfinite} consecutive steps with a non-finite loss or gradient, "
                f"the last at step {self.step} (epoch {self.epoch}, iteration {self.iteration}); "
                f"batch scenes: {scenes}")
        return None

    def _validate(self, logger: Optional[RunLogger]) -> None:
        assert self.validate is not None
        self.method.eval()
        metrics = self.validate(self.averaged)
        self.method.train()
        if logger:
            logger.scalars(f"{self.stage}/val", metrics, self.step)
            preview = getattr(self.validate, "preview", None)
            if preview:
                logger.panels(f"{self.stage}/val", preview, self.step)
        msg = f"{self.stage} epoch {self.epoch}/{self.cfg.epochs}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())
        # Printed once: through tqdm while its bar is on screen (so the bar is not torn), else logged.
        if self.progress:
            tqdm.write(msg)
        else:
            log.info("%s", msg)


def finite_or_nan(x: float) -> float:
    """``x`` if finite else NaN (for JSON-safe logs)."""
    return x if math.isfinite(x) else float("nan")
