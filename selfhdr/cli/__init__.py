"""Command-line entry points: each module has ``main(argv) -> int``; ``scripts/*.py`` wrap them.

Installed as console commands (``selfhdr-train``, ``selfhdr-test``, …, see ``setup.py``) and
listed by ``python -m selfhdr``, which also runs them: ``python -m selfhdr train --config C``.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Callable, Dict, List, Optional, Tuple, Union

COMMANDS: Dict[str, Tuple[str, str]] = {
    "train": ("train", "run a configured job end to end (default: the synthetic demo)"),
    "test": ("test", "evaluate a checkpoint on a split; outputs for every scene, metrics where labelled"),
    "predict": ("predict", "reconstruct HDR images from your own brackets (one, or every folder of DIR)"),
    "import": ("import_brackets", "turn a folder of camera brackets into a training dataset"),
    "fuse": ("fuse", "fuse under/over exposure pairs with the fusion network; MEF-SSIM table"),
    "benchmark": ("benchmark", "measure speed and memory; JSON + Markdown"),
    "export-weights": ("export_weights", "write a trained network as a small .safetensors file to share"),
    "fusion-data": ("fusion_data", "build real under/over training pairs and the MEFB split from git copies"),
    "make-synthetic": ("make_synthetic", "make a synthetic dynamic-scene dataset"),
    "prepare-color": ("prepare_color", "align a split with optical flow and write Y_color"),
    "evaluate-color": ("evaluate_color", "score Y_color variants against ground truth"),
    "evaluate-baselines": ("evaluate_baselines", "score the classical baselines on a split"),
}
"""Command name (``selfhdr-<name>``) → (module in ``selfhdr.cli``, one-line summary)."""


def command(name: str) -> Callable[[Optional[List[str]]], int]:
    """The ``main`` function of command ``name`` (imported on demand: torch loads only when needed)."""
    module, _ = COMMANDS[name]
    return importlib.import_module(f"{__name__}.{module}").main


def parser(module: str, doc: Optional[str]) -> argparse.ArgumentParser:
    """The argument parser of CLI module ``module`` (``__name__``), named as its console command."""
    short = module.rsplit(".", 1)[-1]
    name = next(n for n, (m, _) in COMMANDS.items() if m == short)
    return argparse.ArgumentParser(prog=f"selfhdr-{name}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def add_tile_option(p: argparse.ArgumentParser) -> None:
    """``--tile auto|N|0`` as every inference command takes it (see selfhdr.inference.reconstruct)."""
    def tile(text: str) -> Union[str, int]:
        if text == "auto":
            return text
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected 'auto' or a whole number, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be ≥ 0, got {value}")
        return value

    p.add_argument("--tile", type=tile, default="auto",
                   help="tile side: 'auto' (default: 512, exact for AHDRNet/FSHDR, blended for the "
                        "transformers; fast and memory-bounded), N pixels, or 0 for the whole image at "
                        "once (the published path)")


def console_scripts() -> List[str]:
    """``setup.py`` entry points: ``selfhdr-<name> = selfhdr.cli.<module>:main``."""
    return [f"selfhdr-{name} = {__name__}.{module}:main" for name, (module, _) in COMMANDS.items()]


__all__ = ["COMMANDS", "add_tile_option", "command", "console_scripts", "parser"]
