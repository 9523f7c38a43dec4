"""Benchmark part ``train``: one training step per backbone, setup and mode (see benchmark.py)."""

from __future__ import annotations

from typing import Any, Dict, List

Record = Dict[str, Any]


def worker_train(spec: Record) -> Record:
    """One training step of the spec's backbone, mode, batch and patch, timed after a warm-up."""
    import torch

    from ..inference import precision_context
    from ..losses.mu_l1 import mu_l1
    from .benchmark import _build, _timed
    from .device import resolve_amp, resolve_channels_last

    cpu = torch.device("cpu")
    model = _build(spec).train()
    precision, channels_last = spec["precision"], spec["channels_last"]
    if precision == "auto":  # what the Trainer resolves train.amp=auto to here
        precision = "bf16" if resolve_amp("auto", cpu) == "bf16" else "fp32"
    channels_last = resolve_channels_last(channels_last, cpu, model, "off" if precision == "fp32" else precision)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    run = torch.compile(model) if spec.get("compile") else model
    b, p = spec["batch"], spec["patch"]
    g = torch.Generator().manual_seed(0)
    xs = [torch.rand(b, 6, p, p, generator=g).contiguous(memory_format=fmt) for _ in range(3)]
    gt = torch.rand(b, 3, p, p, generator=g)

    def step() -> None:
        # What the Trainer does per step: autocast forward, fp32 loss, backward, Adam.
        with precision_context(precision, cpu):
            out = run(*xs)
        loss = mu_l1(out.float(), gt)
        opt.zero_grad(set_to_none=True)
        loss.float().backward()
        opt.step()

    _, first = _timed(step, 1)  # warm-up (Adam state, kernel creation; compilation with compile)
    _, rec = _timed(step, spec["repeats"])
    rec.update(samples_per_s=b / rec["seconds"], first_step_seconds=first["seconds"],
               resolved=precision + ("-cl" if channels_last else "") + ("+compile" if spec.get("compile") else ""))
    return rec


def train_specs(cfg: Any) -> List[Record]:
    """One spec per backbone × setup (demo, paper) × training mode."""
    from .benchmark import TRAIN_MODES, TRAIN_SETUPS

    specs = []
    for name in cfg.backbones:
        for setup in cfg.train_setups:
            if setup not in TRAIN_SETUPS:
                raise ValueError(f"train setup {setup!r} is not one of {', '.join(TRAIN_SETUPS)}")
            batch, patch = (cfg.demo_batch, cfg.demo_patch) if setup == "demo" else \
                (cfg.train_batch.get(name, 8), cfg.train_patch)
            for mode in cfg.train_modes:
                specs.append({"kind": "train", "backbone": name, "kwargs": cfg.model_kwargs.get(name, {}),
                              "setup": setup, "mode": mode, **TRAIN_MODES[mode], "batch": batch, "patch": patch,
                              "repeats": cfg.repeats or 2, "threads": cfg.threads, "malloc": "keep"})
    return specs


def finish_train(records: List[Record]) -> None:
    """Add the speed-up over the fp32 step of the same backbone and setup."""
    fp32 = {(r["backbone"], r.get("setup")): r.get("seconds") for r in records if r.get("mode") == "fp32"}
    for r in records:
        base = fp32.get((r["backbone"], r.get("setup")))
        if base and r.get("seconds"):
            r["speedup_vs_fp32"] = base / r["seconds"]
