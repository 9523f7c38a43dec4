"""TensorBoard logging of scalars and μ-law image previews, and a plain scalar history (rank 0 only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import torch

from ..tonemap import mu_law
from .history import History


class RunLogger:
    """A thin wrapper over ``SummaryWriter`` that is a no-op when ``enabled`` is False.

    With ``history`` (a ``.jsonl`` path) every scalar dict is also appended there, for the
    learning curves of the run's report (see :mod:`selfhdr.engine.history`).
    """

    def __init__(self, log_dir: Path, enabled: bool = True, history: Optional[Path] = None) -> None:
        self.writer = None
        self.history = History(history, enabled) if history is not None else None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(log_dir))

    def scalars(self, prefix: str, values: Dict[str, float], step: int) -> None:
        """Log ``prefix/name`` scalars."""
        if self.history is not None:
            self.history.append(prefix, step, values)
        if self.writer is None:
            return
        for k, v in values.items():
            self.writer.add_scalar(f"{prefix}/{k}", float(v), step)

    def restart(self, stage: str, step: int) -> None:
        """Forget ``stage``'s history after ``step``, where it (re)starts, so resumed curves do not double."""
        if self.history is not None:
            self.history.restart(stage, step)

    def images(self, prefix: str, batch: Dict[str, Any], out: torch.Tensor, step: int,
               n: int = 2) -> None:
        """Log μ-law previews of the output, the reference LDR and any labels in the batch."""
        if self.writer is None:
            return
        panels = {"output": out[:n]}
        if torch.is_tensor(batch.get("x2")):
            panels["reference"] = mu_law(batch["x2"][:n, 0:3].clamp(0, 1))
        for key in ("gt", "color", "stru", "label"):
            if torch.is_tensor(batch.get(key)):
                panels[key] = batch[key][:n]
        for name, img in panels.items():
            vis = mu_law(img.detach().float().clamp(0, 1)) if name != "reference" else img
            self.writer.add_images(f"{prefix}/{name}", vis.cpu().clamp(0, 1), step)

    def panels(self, prefix: str, panels: Dict[str, torch.Tensor], step: int) -> None:
        """Log μ-law previews of linear B×3×H×W images, one TensorBoard image per name."""
        if self.writer is None:
            return
        for name, img in panels.items():
            self.writer.add_images(f"{prefix}/{name}", mu_law(img.detach().float().clamp(0, 1)).cpu(), step)

    def close(self) -> None:
        """Flush and close."""
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> "RunLogger":
        return self

    def __exit__(self, *exc: Optional[Any]) -> None:
        self.close()
