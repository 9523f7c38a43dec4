"""Validation during training, with labels (PSNR-μ, as SelfHDR) or without them (a proxy).

With labels, the score is PSNR-μ against ``HDRImg.hdr`` on the top-left ``val_crop`` square
of each validation scene, the published protocol. Scenes without labels are scored by a
label-free **proxy**: PSNR-μ and the μ-law L1 against that scene's Y_color (the flow-aligned
merge SelfHDR trains on), logged as ``<stage>/val/proxy_psnr_mu_vs_Y_color`` and
``…/proxy_l1_mu_vs_Y_color`` so that nobody mistakes them for ground-truth scores. Each
validation also keeps a preview (output, reference frame, label or Y_color of the first
scene) for TensorBoard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from torch import nn

from ..data.dataset import GT, BracketDataset
from ..inference import AUTO, Tile, reconstruct
from ..metrics import psnr_mu
from ..tonemap import mu_law
from .splits import SceneSet

PROXY_PREFIX = "proxy_"
"""Prefix of every label-free validation score."""


class Validator:
    """Callable ``net → {metric: value}`` over a :class:`SceneSet`, datasets loaded on first use.

    ``color_dir`` (``<split>_align``, Y_color per scene) is needed only for unlabelled scenes;
    ``make_color`` is called once, on first use, to produce it.
    """

    def __init__(self, scenes: SceneSet, device: torch.device, crop: Optional[int],
                 tile: Tile = AUTO, overlap: Optional[int] = None,
                 make_color: Optional[Callable[[], Path]] = None) -> None:
        self.scenes = scenes
        self.device = device
        self.crop = crop
        self.tile = tile
        self.overlap = overlap
        self.make_color = make_color
        self.preview: Optional[Dict[str, torch.Tensor]] = None
        self._labelled: Optional[BracketDataset] = None
        self._unlabelled: Optional[BracketDataset] = None

    def _datasets(self) -> None:
        if self._labelled is None and self.scenes.labelled:
            self._labelled = BracketDataset(self.scenes.dir, labels={GT: GT}, crop_top_left=self.crop,
                                            scenes=self.scenes.labelled)
        if self._unlabelled is None and self.scenes.unlabelled:
            if self.make_color is None:
                raise RuntimeError("unlabelled validation scenes need Y_color (make_color)")
            color = self.make_color()
            self._unlabelled = BracketDataset(self.scenes.dir, labels={"color": color},
                                              crop_top_left=self.crop, scenes=self.scenes.unlabelled)

    def _run(self, net: nn.Module, item: Dict[str, object]) -> torch.Tensor:
        xs = [item[k][None].to(self.device) for k in ("x1", "x2", "x3")]  # type: ignore[index]
        return reconstruct(net, *xs, tile=self.tile, overlap=self.overlap)[0].float().cpu()

    def __call__(self, net: nn.Module) -> Dict[str, float]:
        """Scores of ``net`` on the validation scenes (ground truth where labelled, proxy elsewhere)."""
        self._datasets()
        out: Dict[str, float] = {}
        self.preview = None
        for ds, key, proxy in ((self._labelled, GT, False), (self._unlabelled, "color", True)):
            if ds is None:
                continue
            psnrs: List[float] = []
            l1s: List[float] = []
            for i in range(len(ds)):
                item = ds[i]
                y = self._run(net, item)
                label = item[key]
                psnrs.append(psnr_mu(_hwc(y), _hwc(label)))
                l1s.append(float(torch.mean(torch.abs(mu_law(y.clamp(0, 1)) - mu_law(label.clamp(0, 1))))))
                if self.preview is None:
                    self.preview = {"output": y[None], "reference": item["x2"][None, 0:3].clamp(0, 1),
                                    ("gt" if not proxy else "Y_color"): label[None]}
            if proxy:
                out[f"{PROXY_PREFIX}psnr_mu_vs_Y_color"] = float(np.mean(psnrs))
                out[f"{PROXY_PREFIX}l1_mu_vs_Y_color"] = float(np.mean(l1s))
            else:
                out["psnr_mu"] = float(np.mean(psnrs))
        return out


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


__all__ = ["PROXY_PREFIX", "Validator"]
