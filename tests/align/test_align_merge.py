"""``align.merge``: the published SelfHDR merge against ours, and labels rebuilt when settings change."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
from align_helpers import bracket, shift
from test_align_color import H, W, background, moving_square_scene

import selfhdr.align.prepare as prepare_mod
from selfhdr.align import AlignConfig, compute_color, prepare_color
from selfhdr.align.prepare import MANIFEST_NAME
from selfhdr.config import load_config
from selfhdr.data import read_scene
from selfhdr.data.synthetic import SyntheticScene, SyntheticSpec, make_scene
from selfhdr.errors import ConfigError
from selfhdr.io import read_hdr

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = AlignConfig(merge="published")
ROBUST = AlignConfig(merge="robust")


def _triangle(r: np.ndarray) -> List[np.ndarray]:
    """SelfHDR's triangle weights on the reference LDR value r, written out (float32 as r):
    r < 0.5: short 0, reference 2r, long 1 − 2r; else short 2r − 1, reference 2 − 2r, long 0."""
    low = r < 0.5
    zero = np.zeros_like(r)
    return [np.where(low, zero, 2 * r - 1), np.where(low, 2 * r, 2 - 2 * r), np.where(low, 1 - 2 * r, zero)]


def _inline_merge(aligned: List[np.ndarray], times: np.ndarray) -> np.ndarray:
    """The published merge, written out in float64: Σ_k w_k(r) · LDR_k**2.2 / t_k."""
    w = _triangle(aligned[1].astype(np.float64))
    return sum(wk * a.astype(np.float64) ** 2.2 / tk for wk, a, tk in zip(w, aligned, times))


def _mu(x: np.ndarray) -> np.ndarray:
    """μ-law tonemap (μ = 5000) of a label clipped to [0, 1], as the metrics see it."""
    return np.log1p(5000 * np.clip(x, 0, 1)) / np.log1p(5000)


def _dynamic_scene() -> Tuple[SyntheticScene, np.ndarray]:
    """A synthetic scene with moving objects, camera shake (so pixels come from outside) and lights."""
    spec = SyntheticSpec(height=H, width=W, motion_px=[8.0, 12.0], objects=[2, 3], shake_px=3.0, lights=[2, 3])
    sc = make_scene(spec, np.random.default_rng(4))
    return sc, np.power(2.0, sc.stops)


def test_published_is_the_triangle_merge_of_the_aligned_frames() -> None:
    sc, t = _dynamic_scene()
    pub = compute_color(sc.ldrs, t, PUBLISHED)
    assert any(o.mean() > 0.005 for o in pub.outside)        # fills from outside take part
    assert (pub.aligned[1] >= 0.97).mean() > 0.005          # so do clipped reference pixels
    expected = _inline_merge(pub.aligned, t)
    np.testing.assert_allclose(pub.hdr, expected, rtol=2e-6, atol=1e-9)
    # One alignment for both merges: same flows, same warped frames (fills included).
    rob = compute_color(sc.ldrs, t, ROBUST)
    for k in range(3):
        np.testing.assert_array_equal(pub.flows[k], rob.flows[k])
        np.testing.assert_array_equal(pub.aligned[k], rob.aligned[k])


def test_published_has_no_rejection() -> None:
    rad = background()
    moved = shift(rad, 6.0, -3.0)
    moved[30:60, 40:80] *= 3.0  # a region that disagrees with the reference: robust rejects it
    ldrs, t = bracket([moved, rad, moved], noise=0.0005)
    pub = compute_color(ldrs, t, PUBLISHED)
    tri = _triangle(pub.aligned[1])
    for k in range(3):
        np.testing.assert_array_equal(pub.weights[k], tri[k])
        assert pub.masks[k].dtype == np.float32 and np.all(pub.masks[k] == 1.0)
    assert pub.outside[0].any() and pub.outside[2].any()
    rob = compute_color(ldrs, t, ROBUST)
    assert min(rob.masks[k].min() for k in (0, 2)) == 0.0  # the same bracket does trigger rejection


def test_robust_differs_from_published_where_frames_disagree() -> None:
    ldrs, t, rads, masks = moving_square_scene()
    pub, rob = compute_color(ldrs, t, PUBLISHED), compute_color(ldrs, t, ROBUST)
    gt = np.clip(rads[1], 0, 1)
    rel = np.abs(rob.hdr - pub.hdr) / np.maximum(pub.hdr, 1e-4)
    far = np.ones((H, W), bool)
    far[18:74, 18:110] = False  # well away from the square's path
    assert rel[far].max() < 1e-5  # where the frames agree the two merges agree (measured: 0)
    for k in (0, 2):
        occluded = masks[k] & ~masks[1]
        tri = _triangle(pub.aligned[1])[k].max(axis=2)
        used = occluded & (tri > 0.05)  # where the published merge does take frame k
        assert used.sum() > 200, k
        # Measured medians 0.073 (short) and 0.0032 (long, whose weights are small there).
        assert np.median(rel[used]) > 1e-3, k
        assert (rob.weights[k].max(axis=2)[used] < 0.2 * tri[used]).mean() > 0.9, k
        err_rob, err_pub = (np.abs(_mu(x[used]) - _mu(gt[used])).mean() for x in (rob.hdr, pub.hdr))
        assert err_rob < 0.5 * err_pub, (k, err_rob, err_pub)


@pytest.mark.parametrize("stem", ["ahdrnet", "fshdr", "hdr_transformer", "sctnet"])
def test_paper_configs_use_the_published_merge(stem: str) -> None:
    assert load_config(REPO / "configs" / f"selfhdr_{stem}.yaml").align.merge == "published"


def test_merge_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"align\.merge.*'published'"):
        load_config(None, ["align.merge=publish"])
    with pytest.raises(ValueError, match="merge must be one of"):
        AlignConfig(merge="publish").validate()  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- the manifest


@pytest.fixture()
def root(tiny_root: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "root"
    shutil.copytree(tiny_root, dst)
    return dst


def _labels(out: Path) -> Dict[str, bytes]:
    return {d.name: (d / "HDRImg.hdr").read_bytes() for d in sorted(out.iterdir()) if d.is_dir()}


def _manifest(out: Path) -> Dict:
    return json.loads((out / MANIFEST_NAME).read_text())


def _messages(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == "selfhdr.align.prepare"]


def test_changing_the_merge_recomputes_every_scene(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = root / "Training_align"
    first = prepare_color(root, "Training", ROBUST, workers=2, progress=False)  # pool path
    assert (first.written, first.skipped) == (3, 0)
    assert _manifest(out) == {"align": json.loads(json.dumps(dataclasses.asdict(ROBUST))),
                              "scenes": ["train_001", "train_002", "train_003"]}
    robust_labels = _labels(out)
    with caplog.at_level(logging.INFO, logger="selfhdr.align.prepare"):
        again = prepare_color(root, "Training", PUBLISHED, workers=1, progress=False)
    assert (again.written, again.skipped) == (3, 0)
    lines = _messages(caplog)
    assert len(lines) == 1 and "merge: 'robust' → 'published'" in lines[0], lines
    assert "noise_k" not in lines[0]  # only the settings that changed are named
    published_labels = _labels(out)
    assert all(published_labels[n] != robust_labels[n] for n in robust_labels)
    assert _manifest(out)["align"]["merge"] == "published"
    # The labels now are the published merge's (the same function the pipeline scores).
    scene = read_scene(root / "Training" / "train_002", with_hdr=False)
    expected = compute_color(scene.ldrs, scene.times, PUBLISHED).hdr
    label = read_hdr(out / "train_002" / "HDRImg.hdr")
    assert np.all(np.abs(label - expected) <= expected.max(axis=2, keepdims=True) / 128 + 1e-6)


def test_an_equal_config_skips(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = root / "Test_align"
    prepare_color(root, "Test", PUBLISHED, workers=1, progress=False)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.rglob("*")}
    with caplog.at_level(logging.INFO, logger="selfhdr.align.prepare"):
        again = prepare_color(root, "Test", AlignConfig(merge="published"), workers=1, progress=False)
    assert (again.written, again.skipped) == (0, 2)
    assert {p.name: p.stat().st_mtime_ns for p in out.rglob("*")} == stamps  # manifest untouched too
    assert _messages(caplog) == []
    forced = prepare_color(root, "Test", PUBLISHED, workers=1, force=True, progress=False)
    assert (forced.written, forced.skipped) == (2, 0)
    assert _manifest(out)["scenes"] == ["test_001", "test_002"]


def test_a_split_without_manifest_is_kept_as_it_is(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = root / "Test_align"
    prepare_color(root, "Test", ROBUST, workers=1, progress=False)
    (out / MANIFEST_NAME).unlink()  # as the published download comes, or made before manifests
    before = _labels(out)
    with caplog.at_level(logging.INFO, logger="selfhdr.align.prepare"):
        again = prepare_color(root, "Test", PUBLISHED, workers=1, progress=False)
    assert (again.written, again.skipped) == (0, 2)
    assert _labels(out) == before and not (out / MANIFEST_NAME).exists()
    lines = _messages(caplog)
    assert len(lines) == 1 and "no align.json" in lines[0] and "used as they are" in lines[0], lines
    # A missing scene is still made; the others stay as they were.
    shutil.rmtree(out / "test_002")
    filled = prepare_color(root, "Test", PUBLISHED, workers=1, progress=False)
    assert (filled.written, filled.skipped) == (1, 1)
    assert _labels(out)["test_001"] == before["test_001"] and not (out / MANIFEST_NAME).exists()


def _interrupt(monkeypatch: pytest.MonkeyPatch, root: Path, cfg: AlignConfig, at: int, replaced: bool) -> None:
    """Run prepare_color and interrupt it at its ``at``-th scene, before or after that scene is replaced."""
    real = prepare_mod.prepare_scene
    calls: List[str] = []

    def stop(scene_dir: Path, out_scene: Path, c: AlignConfig) -> float:
        calls.append(Path(out_scene).name)
        if len(calls) == at and not replaced:
            raise KeyboardInterrupt
        seconds = real(scene_dir, out_scene, c)
        if len(calls) == at:
            raise KeyboardInterrupt
        return seconds

    with monkeypatch.context() as m:
        m.setattr(prepare_mod, "prepare_scene", stop)
        with pytest.raises(KeyboardInterrupt):
            prepare_color(root, "Training", cfg, workers=1, progress=False)


def test_an_interrupted_rebuild_keeps_no_stale_scene(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = root / "Training_align"
    prepare_color(root, "Training", ROBUST, workers=1, progress=False)
    # Stopped just after its first scene was replaced: the manifest no longer claims the
    # old settings for any scene, so going back to them redoes every scene.
    _interrupt(monkeypatch, root, PUBLISHED, at=1, replaced=True)
    assert _manifest(out)["align"]["merge"] == "published" and _manifest(out)["scenes"] == []
    back = prepare_color(root, "Training", ROBUST, workers=1, progress=False)
    assert (back.written, back.skipped) == (3, 0)
    # Stopped at its second scene: resuming redoes only the scenes it had not finished ...
    _interrupt(monkeypatch, root, PUBLISHED, at=2, replaced=False)
    assert _manifest(out)["scenes"] == ["train_001"]
    resumed = prepare_color(root, "Training", PUBLISHED, workers=1, progress=False)
    assert (resumed.written, resumed.skipped) == (2, 1)
    # ... and going back to the old settings redoes them all: none is left from the rebuild.
    again = prepare_color(root, "Training", ROBUST, workers=1, progress=False)
    assert (again.written, again.skipped) == (3, 0)


def test_an_unreadable_manifest_recomputes(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = root / "Test_align"
    prepare_color(root, "Test", ROBUST, workers=1, progress=False)
    (out / MANIFEST_NAME).write_text("{not json")
    with caplog.at_level(logging.INFO, logger="selfhdr.align.prepare"):
        again = prepare_color(root, "Test", ROBUST, workers=1, progress=False)
    assert (again.written, again.skipped) == (2, 0)
    assert _manifest(out)["scenes"] == ["test_001", "test_002"]
    assert any("unreadable" in m for m in _messages(caplog))
