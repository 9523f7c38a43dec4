"""Flow estimators and backward warping on frames with known motion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from align_helpers import shift, texture

from selfhdr.align import AlignConfig, backward_warp, build_flow, estimate_flow, flow_names
from selfhdr.align.flow import FLOW_ESTIMATORS
from selfhdr.errors import ConfigError

VARIANTS = [("dis", "ultrafast"), ("dis", "fast"), ("dis", "medium"), ("farneback", "fast")]


def grey_pair(dx: float, dy: float, h: int = 96, w: int = 128):
    ref = texture(h, w, seed=1).mean(axis=2)
    return ref, shift(ref, dx, dy)


def test_registry_lists_every_estimator() -> None:
    assert {"dis", "farneback", "raft_small", "raft_large"} <= set(FLOW_ESTIMATORS)
    with pytest.raises(ConfigError, match=r"align\.flow: unknown flow estimator 'nope'"):
        build_flow(AlignConfig(flow="nope"))


def test_every_classical_estimator_is_tested() -> None:
    assert {n for n in flow_names() if not n.startswith("raft")} == {n for n, _ in VARIANTS}


@pytest.mark.parametrize("name,preset", VARIANTS)
def test_flow_recovers_a_translation(name: str, preset: str) -> None:
    ref, other = grey_pair(3.0, -2.0)
    flow = estimate_flow(ref, other, AlignConfig(flow=name, dis_preset=preset))
    assert flow.shape == (96, 128, 2) and flow.dtype == np.float32
    inner = flow[16:-16, 16:-16]
    # ref(x) = other(x + flow): the content moved by +d, so the flow is +d.
    np.testing.assert_allclose(np.median(inner[..., 0]), 3.0, atol=0.25)
    np.testing.assert_allclose(np.median(inner[..., 1]), -2.0, atol=0.25)


def test_reduced_resolution_flow_is_rescaled() -> None:
    ref, other = grey_pair(4.0, 2.0)
    flow = estimate_flow(ref, other, AlignConfig(flow_scale=0.5))
    assert flow.shape == (96, 128, 2)
    inner = flow[16:-16, 16:-16]
    assert abs(np.median(inner[..., 0]) - 4.0) < 0.5 and abs(np.median(inner[..., 1]) - 2.0) < 0.5


def test_backward_warp_translation_and_fill() -> None:
    img = texture(40, 50, seed=2)
    flow = np.zeros((40, 50, 2), np.float32)
    flow[..., 0] = 5.0  # out(x) = img(x + 5): the rightmost 5 columns come from outside
    fill = np.full_like(img, 0.25)
    out, outside = backward_warp(img, flow, fill)
    np.testing.assert_allclose(out[:, :-5], img[:, 5:], atol=1e-5)
    assert outside[:, -5:].all() and not outside[:, :-5].any()
    assert np.all(out[:, -5:] == 0.25)
    cubic, _ = backward_warp(img, flow, fill, "cubic")
    np.testing.assert_allclose(cubic[:, :-5], img[:, 5:], atol=1e-5)


@pytest.mark.parametrize("name", ["raft_small", "raft_large"])
def test_raft_without_weights_explains_what_to_do(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"align\.raft_weights.*needs a local weights file") as err:
        build_flow(AlignConfig(flow=name))
    assert ".pth" in str(err.value) and "pretrained/" in str(err.value)
    with pytest.raises(ConfigError, match=r"align\.raft_weights: .*missing\.pth is not a file"):
        build_flow(AlignConfig(flow=name, raft_weights=str(tmp_path / "missing.pth")))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=r"is not a raft_.* state_dict"):
        build_flow(AlignConfig(flow=name, raft_weights=str(junk)))


def test_config_validation() -> None:
    for bad in (dict(flow_scale=0.0), dict(reject_lo=0.2, reject_hi=0.1), dict(mask_dilate=-1),
                dict(short_clip_level=1.5)):
        with pytest.raises(ValueError):
            AlignConfig(**bad).validate()
    AlignConfig().validate()


def test_raft_runs_from_a_local_state_dict(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = tmp_path / "raft_small.pth"
    torch.save(raft_small(weights=None).state_dict(), path)  # random weights: checks plumbing only
    cfg = AlignConfig(flow="raft_small", raft_weights=str(path), raft_iters=2)
    ref, other = grey_pair(1.0, 0.0, h=36, w=44)  # not multiples of 8: padded and cropped back
    flow = estimate_flow(ref, other, cfg)
    assert flow.shape == (36, 44, 2) and flow.dtype == np.float32 and np.isfinite(flow).all()
