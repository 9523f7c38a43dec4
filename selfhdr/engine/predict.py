"""Running a trained backbone on brackets: in memory (tensors in, RGB radiance out) and over folders."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..camera import frame_input
from ..data.bracket_load import load_bracket
from ..data.brackets import DEFAULT_GAP_SECONDS, find_brackets
from ..data.scene import read_scene
from ..errors import InputError
from ..inference import AUTO, Tile, reconstruct
from ..io import check_hdr_output, check_output_dir, write_hdr_with_preview

PathLike = Union[str, "os.PathLike[str]"]

_BGR_IN = [2, 1, 0, 5, 4, 3]


def bracket_tensors(ldrs: Sequence[np.ndarray], times: Sequence[float],
                    device: torch.device = torch.device("cpu")) -> Tuple[torch.Tensor, ...]:
    """Three 1×6×H×W frames ``[LDR**2.2 / t, LDR]`` from float32 RGB frames and exposure times."""
    return tuple(
        torch.from_numpy(np.ascontiguousarray(frame_input(l, float(t)).transpose(2, 0, 1)))[None].to(device)
        for l, t in zip(ldrs, times)
    )


def predict_hdr(model: nn.Module, ldrs: Sequence[np.ndarray], times: Sequence[float], *,
                tile: Tile = AUTO, overlap: Optional[int] = None, bgr: bool = False,
                device: Optional[torch.device] = None, precision: str = "fp32") -> np.ndarray:
    """Reconstruct the reference-aligned HDR image (float32 H×W×3 RGB) of one bracket.

    ``bgr`` feeds the network B, G, R frames and reads its output as B, G, R: the released
    SelfHDR checkpoints were trained that way (the published loader reads frames with
    OpenCV and swaps its labels to BGR too). ``tile``, ``overlap`` and ``precision``
    ('fp32', 'bf16', or 'fp16' on CUDA) are passed to :func:`selfhdr.inference.reconstruct`.
    """
    dev = device or next(model.parameters()).device
    xs = bracket_tensors(ldrs, times, dev)
    if bgr:
        xs = tuple(x[:, _BGR_IN] for x in xs)
    y = reconstruct(model, *xs, tile=tile, overlap=overlap, precision=precision)
    if bgr:
        y = y[:, [2, 1, 0]]
    return y[0].permute(1, 2, 0).float().cpu().numpy()


# ----------------------------------------------------------------------------- folders of brackets


@dataclass
class FolderPrediction:
    """What :func:`predict_folder` did: outputs written (scene → path), scenes refused (→ why)."""

    written: Dict[str, Path] = field(default_factory=dict)
    refused: Dict[str, str] = field(default_factory=dict)

    def lines(self) -> List[str]:
        """A printable summary: counts, then one line per refused scene."""
        out = [f"{len(self.written)} brackets predicted, {len(self.refused)} refused"]
        out += [f"  refused {name}: {why}" for name, why in self.refused.items()]
        return out


def _dataset_scenes(root: Path) -> List[Path]:
    # Kalantari-layout scenes (an import root's Training/ and Test/, or scene folders directly);
    # the *_align folders hold aligned copies of the same scenes, not scenes of their own.
    found = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))):
        if child.name.endswith("_align"):
            continue
        if (child / "exposure.txt").is_file() or (child / "input_exp.txt").is_file():
            found.append(child)
        else:
            found += [g for g in sorted(child.iterdir()) if g.is_dir() and not g.name.startswith(".")
                      and ((g / "exposure.txt").is_file() or (g / "input_exp.txt").is_file())]
    return found


def find_inputs(input_dir: PathLike, gap_seconds: float = DEFAULT_GAP_SECONDS) -> List[Tuple[str, Any]]:
    """Brackets of a folder as (name, scene folder or :class:`~selfhdr.data.brackets.Bracket`).

    A folder of dataset scenes (``selfhdr-import``'s output, or any Kalantari-layout split)
    gives its scenes; otherwise the folder is read as camera files, exactly as the importer
    reads it (one sub-folder per bracket, or a flat folder grouped by EXIF capture time).
    """
    root = Path(input_dir)
    if not root.is_dir():
        raise InputError(root, "input folder not found")
    scenes = _dataset_scenes(root)
    if scenes:
        names = [d.name for d in scenes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InputError(root, f"scene names are not unique: {', '.join(dupes)}")
        return [(d.name, d) for d in scenes]
    return [(b.name, b) for b in find_brackets(root, gap_seconds)]


def predict_folder(model: nn.Module, input_dir: PathLike, out_dir: PathLike, *, suffix: str = ".hdr",
                   tonemap: str = "mu", exposures: Optional[Sequence[float]] = None,
                   allow_mismatch: bool = False, progress: bool = True, **predict_kwargs: Any) -> FolderPrediction:
    """Predict every bracket of ``input_dir`` into ``out_dir/<scene><suffix>`` (+ ``.png``).

    Every output location is checked before the first bracket is read; a bracket that cannot
    be read is refused (listed with the reason) and the others go on. Brackets are read,
    predicted and written one at a time, so memory does not grow with their number.
    ``predict_kwargs`` go to :func:`predict_hdr` (tile, overlap, bgr, precision).
    """
    inputs = find_inputs(input_dir)
    out = Path(out_dir)
    check_output_dir(out)
    for name, _ in inputs:
        check_hdr_output(out / f"{name}{suffix}")
    result = FolderPrediction()
    for name, src in tqdm(inputs, desc="predict", unit="bracket", disable=not progress):
        try:
            if isinstance(src, Path):
                scene = read_scene(src, with_hdr=False, check_exposures=not allow_mismatch)
                ldrs, times = scene.ldrs, scene.times
            else:
                loaded = load_bracket(src, exposures, allow_mismatch)
                ldrs, times = loaded.ldrs, loaded.times
        except InputError as exc:
            result.refused[name] = str(exc)
            continue
        hdr = predict_hdr(model, ldrs, times, **predict_kwargs)
        target = out / f"{name}{suffix}"
        write_hdr_with_preview(target, hdr, tonemap)
        result.written[name] = target
    return result
