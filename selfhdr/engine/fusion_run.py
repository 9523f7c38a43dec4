"""``method: fusion`` in the pipeline: train the two-exposure fusion network, then score it.

The fusion network has its own data (exposure pairs) and metric (MEF-SSIM), so it runs apart
from the HDR stages of :mod:`selfhdr.engine.pipeline`, which calls :func:`run_fusion`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Dict

from torch import nn

from ..archs.fusion_net import load_fusion_net
from ..config import to_dict
from ..data.pairs import ExposurePairs, find_pairs
from ..methods.fusion import FusionMethod
from .evaluate import markdown_table
from .fusion_eval import evaluate_fusion
from .logger import RunLogger
from .report import write_report
from .trainer import Trainer

if TYPE_CHECKING:  # the pipeline imports this module
    from .pipeline import Phases, Run


def run_fusion(r: "Run", logger: RunLogger, phases: "Phases") -> Dict[str, Dict]:
    """Train the two-exposure fusion network and score it (MEF-SSIM) beside mean and Mertens."""
    cfg, fc = r.cfg, r.cfg.fusion
    train_root = Path(fc.train_pairs) if fc.train_pairs else r.split(cfg.data.train_split)
    val_root = Path(fc.val_pairs) if fc.val_pairs else r.split(cfg.data.test_split)
    final = r.model_path("fusion")
    phases.start("fusion")
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
        logger.restart("fusion", trainer.step)
        trainer.fit(logger)
    if not r.dist.is_main:
        return {}
    phases.start("test fusion")
    report = evaluate_fusion(find_pairs(val_root), load_fusion_net(final), out_dir=r.dir / "test" / "fusion")
    rows = {("fusion network" if m == "network" else m): {"mef_ssim": v} for m, v in report.means().items()}
    phases.start("report")
    refs = {m: v["mef_ssim"] for m, v in rows.items() if m != "fusion network"}
    write_report(r.dir, report.to_dict(), markdown_table(rows, keys=["mef_ssim"]),
                 f"Fusion pairs {val_root} ({len(report.names)})", refs, refs_key="mef_ssim",
                 refs_note="Dashed lines: MEF-SSIM of the baselines on the same pairs.")
    return {k: {"mean": v} for k, v in rows.items()}
