"""Each backbone reproduces the published SelfHDR network's output and state_dict layout."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from selfhdr.archs import build_backbone, list_backbones

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "conformance"


def conformance_weights(model: torch.nn.Module) -> None:
    """Fill every parameter with the deterministic rule of the conformance vectors."""
    with torch.no_grad():
        for key, param in model.named_parameters():
            shape = tuple(param.shape)
            gen = torch.Generator().manual_seed(zlib.crc32(key.encode()))
            t = torch.randn(shape, generator=gen, dtype=torch.float32)
            if len(shape) >= 2:
                t = t / math.sqrt(param.numel() / shape[0])
            else:
                t = 0.1 * t + (1.0 if key.endswith("weight") else 0.0)
            param.copy_(t)


def test_all_four_registered() -> None:
    assert list_backbones() == ["AHDRNet", "FSHDR", "HDR-Transformer", "SCTNet"]


@pytest.mark.parametrize("name", ["AHDRNet", "FSHDR", "HDR-Transformer", "SCTNet"])
def test_parameter_names_and_shapes(name: str) -> None:
    published = json.loads((FIXTURES / "state_dict_keys.json").read_text())[name]
    expected = {k: tuple(v["shape"]) for k, v in published.items() if v["kind"] == "parameter"}
    model = build_backbone(name)
    ours = {k: tuple(p.shape) for k, p in model.named_parameters()}
    assert ours == expected
    # Persistent buffers we keep must carry the published names and shapes too.
    for key, buf in model.state_dict().items():
        if key not in ours:
            assert key in published and tuple(buf.shape) == tuple(published[key]["shape"]), key


@pytest.mark.parametrize("name", ["AHDRNet", "FSHDR", "HDR-Transformer", "SCTNet"])
def test_matches_published_output(name: str) -> None:
    ref = np.load(FIXTURES / f"{name}_64x64.npz")
    model = build_backbone(name).eval()
    conformance_weights(model)
    with torch.no_grad():
        y = model(*(torch.from_numpy(ref[k]) for k in ("x1", "x2", "x3")))
    assert y.shape == ref["y"].shape
    err = float(np.abs(y.numpy() - ref["y"]).max())
    assert err <= 1e-4, f"{name}: max |Δ| = {err:.3g}"
