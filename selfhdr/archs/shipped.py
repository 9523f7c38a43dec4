"""The network weights that ship with selfhdr, and where an installation keeps them.

One file: the stage-2 AHDRNet of the long reference run (``configs/cpu_long.yaml``), a small
network (``nf 16``) trained on the synthetic scenes only. Its model card is
``pretrained/SHIPPED.md``. In a source checkout or an editable install the file is read from
the repository's ``pretrained/`` folder; a wheel carries it as ``selfhdr/_weights/``
(``setup.py`` maps that package onto ``pretrained/``).
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from ..errors import CheckpointError

SHIPPED_WEIGHTS = "selfhdr-ahdrnet-small-synthetic.safetensors"
"""File name of the shipped stage-2 network, in ``pretrained/``."""

SHIPPED_CARD = "SHIPPED.md"
"""Its model card, beside it."""

_PACKAGE = "selfhdr._weights"  # what a wheel calls pretrained/ (see setup.py)


def _source_folder() -> Path:
    """``pretrained/`` of the checkout this package was imported from."""
    return Path(__file__).resolve().parents[2] / "pretrained"


def shipped_weights() -> Path:
    """Path of the shipped weights; raises CheckpointError naming where it looked."""
    candidates = []
    try:
        resource = importlib.resources.files(_PACKAGE) / SHIPPED_WEIGHTS
        candidates.append(Path(str(resource)))
    except ModuleNotFoundError:  # not a wheel install: the checkout's folder
        pass
    candidates.append(_source_folder() / SHIPPED_WEIGHTS)
    for path in candidates:
        if path.is_file():
            return path
    looked = " and ".join(str(p) for p in candidates)
    raise CheckpointError(
        f"the shipped weights {SHIPPED_WEIGHTS} are not installed (looked at {looked}); "
        f"reinstall selfhdr from its repository, or pass --checkpoint with a model.pth of your own "
        f"(e.g. runs/<name>/stage2/model.pth from selfhdr-train)"
    )
