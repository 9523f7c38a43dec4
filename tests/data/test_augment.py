"""Training-crop augmentation (``data.augment``): one draw per item, applied alike to all arrays."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from selfhdr.config import Config, load_config
from selfhdr.data import BracketDataset, list_scenes, read_scene
from selfhdr.data.dataset import AUGMENTATIONS, GAIN_STOPS, SATURATED, AugmentView, check_augment
from selfhdr.errors import ConfigError

KEYS = ("x1", "x2", "x3", "gt")


def _group():
    """All 8 flips/turns × 6 channel orders, as functions of a C×H×W array."""
    out = []
    for flip, turns, perm in itertools.product((False, True), range(4), itertools.permutations(range(3))):
        def f(a, flip=flip, turns=turns, perm=perm):
            hwc = a.transpose(1, 2, 0)
            if flip:
                hwc = hwc[:, ::-1]
            hwc = np.rot90(hwc, turns, axes=(0, 1))
            c = hwc.shape[2]
            order = list(perm) if c == 3 else list(perm) + [3 + p for p in perm]
            return hwc[..., order].transpose(2, 0, 1)
        out.append(((flip, turns, perm), f))
    return out


def test_no_augmentation_is_the_published_crop(tiny_root: Path) -> None:
    plain = BracketDataset(tiny_root / "Training", labels={"gt": "gt"}, patch_size=32, length=6, seed=3)
    empty = BracketDataset(tiny_root / "Training", labels={"gt": "gt"}, patch_size=32, length=6, seed=3, augment=[])
    for i in range(6):
        a, b = plain[i], empty[i]
        for k in KEYS:
            assert np.array_equal(a[k].numpy(), b[k].numpy())


def test_each_item_is_one_transform_of_its_crop_applied_to_every_array(tiny_root: Path) -> None:
    """Augmented items are the un-augmented crop (same draw) under one of the 48 transforms,
    the same one for the three frames and the label; over many items all kinds occur."""
    n = 48
    plain = BracketDataset(tiny_root / "Training", labels={"gt": "gt"}, patch_size=32, length=n, seed=5)
    aug = BracketDataset(tiny_root / "Training", labels={"gt": "gt"}, patch_size=32, length=n, seed=5,
                         augment=["flip", "rot90", "channels"])
    group = _group()
    seen = set()
    for i in range(n):
        a, b = plain[i], aug[i]
        base = {k: a[k].numpy() for k in KEYS}
        got = {k: b[k].numpy() for k in KEYS}
        matches = [key for key, f in group if all(np.array_equal(f(base[k]), got[k]) for k in KEYS)]
        assert matches, f"item {i} is no flip/turn/channel order of its crop applied alike to all arrays"
        seen.update(matches)
        assert np.array_equal(b["t"].numpy(), a["t"].numpy())
    assert {flip for flip, _, _ in seen} == {False, True}
    assert {turns for _, turns, _ in seen} == {0, 1, 2, 3}
    assert len({perm for _, _, perm in seen}) == 6
    # Deterministic given (seed, epoch, index); another epoch draws anew.
    again = aug[7]
    assert np.array_equal(again["x2"].numpy(), aug[7]["x2"].numpy())
    aug.set_epoch(1)
    assert not np.array_equal(again["x2"].numpy(), aug[7]["x2"].numpy())


def test_only_the_named_augmentations_are_drawn(tiny_root: Path) -> None:
    plain = BracketDataset(tiny_root / "Training", labels={"gt": "gt"}, patch_size=32, length=16, seed=2)
    chans = BracketDataset(tiny_root / "Training", labels={"gt": "gt"}, patch_size=32, length=16, seed=2,
                           augment=["channels"])
    geometric = [f for (flip, turns, perm), f in _group() if not flip and turns == 0]
    for i in range(16):
        base, got = plain[i]["x1"].numpy(), chans[i]["x1"].numpy()
        assert any(np.array_equal(f(base), got) for f in geometric)


def test_gain_brightens_each_channel_alike_in_every_frame_and_the_label(tiny_root: Path) -> None:
    """``gain``: radiance × g_c (1 ≤ g_c ≤ 2**GAIN_STOPS), the same g_c in the three frames and
    the label; clipped pixels stay clipped, frames clip at 1, the label is clipped to 1."""
    plain = BracketDataset(tiny_root / "Training", labels={"gt": "gt"}, patch_size=32, length=12, seed=4)
    aug = BracketDataset(tiny_root / "Training", labels={"gt": "gt"}, patch_size=32, length=12, seed=4,
                         augment=["gain"])
    gains = []
    for i in range(12):
        a, b = plain[i], aug[i]
        per_item = []
        for key in ("x1", "x2", "x3"):
            lin0, ldr0 = a[key][:3].numpy(), a[key][3:].numpy()
            lin1, ldr1 = b[key][:3].numpy(), b[key][3:].numpy()
            assert np.all(ldr1 >= ldr0 - 1e-6) and ldr1.max() <= 1.0
            assert np.all(ldr1[ldr0 >= 1.0] == 1.0)                      # clipped stays clipped
            g = np.full(3, np.nan)
            for c in range(3):
                ok = (ldr1[c] < 0.999) & (lin0[c] > 1e-3)                  # unclipped after the gain
                if ok.sum() > 10:
                    r = lin1[c][ok] / lin0[c][ok]
                    assert np.allclose(r, np.median(r), rtol=1e-4), "one gain per channel"
                    g[c] = np.median(r)
            per_item.append(g)
        g = np.nanmedian(np.array(per_item), axis=0)
        assert np.allclose(np.array(per_item), g, rtol=1e-4, equal_nan=True), "the same gain in every frame"
        assert np.all((g >= 1.0 - 1e-5) & (g <= 2.0 ** GAIN_STOPS + 1e-5))
        label0, label1 = a["gt"].numpy(), b["gt"].numpy()
        expected = np.minimum(label0 * g[:, None, None], 1.0)
        assert np.allclose(label1, expected, atol=1e-6)
        gains.append(g)
    gains = np.array(gains)
    assert np.nanstd(gains) > 0.1, "gains vary between items"


def test_gain_stops_bound_the_gain(tiny_root: Path) -> None:
    """``gain_stops`` is the largest gain in stops: 0 leaves the crop as it is, 2 reaches beyond 2×."""
    kw = dict(labels={"gt": "gt"}, patch_size=32, length=12, seed=4, augment=["gain"])
    plain = BracketDataset(tiny_root / "Training", labels={"gt": "gt"}, patch_size=32, length=12, seed=4)
    none = BracketDataset(tiny_root / "Training", gain_stops=0.0, **kw)
    wide = BracketDataset(tiny_root / "Training", gain_stops=2.0, **kw)
    ratios = []
    for i in range(12):
        assert np.allclose(none[i]["gt"].numpy(), plain[i]["gt"].numpy(), rtol=1e-6)
        g0, g2 = plain[i]["gt"].numpy(), wide[i]["gt"].numpy()
        ok = (g2 < 0.999) & (g0 > 1e-3)
        ratios.append((g2[ok] / g0[ok]).max())
    assert 2.0 < max(ratios) <= 4.0 + 1e-4
    with pytest.raises(ValueError, match="gain_stops"):
        BracketDataset(tiny_root / "Training", patch_size=16, gain_stops=-1)


def test_tint_is_the_gain_draw_with_its_least_channel_left_unchanged(tiny_root: Path) -> None:
    """``tint``: the gain augmentation's draw divided by its smallest gain, so one channel keeps
    its radiance and the others are brightened by up to ``gain_stops``; not with ``gain``."""
    for seed in range(20):
        g = AugmentView(np.random.default_rng(seed), ["gain"], 2.0).gain
        t = AugmentView(np.random.default_rng(seed), ["tint"], 2.0).gain
        assert np.allclose(t, g / g.min(), rtol=1e-6) and t.min() == 1.0 and t.max() <= 4.0
    kw = dict(labels={"gt": "gt"}, patch_size=32, length=12, seed=4)
    plain = BracketDataset(tiny_root / "Training", **kw)
    tint = BracketDataset(tiny_root / "Training", augment=["tint"], gain_stops=2.0, **kw)
    spreads = []
    for i in range(12):
        g0, g1 = plain[i]["gt"].numpy(), tint[i]["gt"].numpy()
        ok = (g1 < 0.999) & (g0 > 1e-3)
        ratio = [np.median(g1[c][ok[c]] / g0[c][ok[c]]) for c in range(3) if ok[c].sum() > 10]
        if len(ratio) == 3:
            assert min(ratio) == pytest.approx(1.0, abs=1e-4) and max(ratio) <= 4.0 + 1e-4
            spreads.append(max(ratio))
    assert spreads and max(spreads) > 1.5, "the channels are shifted apart"
    with pytest.raises(ValueError, match="one of 'gain' and 'tint'"):
        check_augment(["gain", "tint"])


def test_whole_images_are_never_augmented(tiny_root: Path) -> None:
    full = BracketDataset(tiny_root / "Test", labels={"gt": "gt"})
    aug = BracketDataset(tiny_root / "Test", labels={"gt": "gt"}, augment=[a for a in AUGMENTATIONS if a != "tint"])
    assert np.array_equal(full[0]["x2"].numpy(), aug[0]["x2"].numpy())


def test_unknown_augmentation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown augmentation 'mirror'"):
        check_augment(["flip", "mirror"])
    with pytest.raises(ValueError, match="list of names"):
        check_augment("flip")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  augment: [flip, hue]\n")
    with pytest.raises(ConfigError, match="augment"):
        load_config(cfg)


def test_published_default_is_no_augmentation() -> None:
    assert Config().data.augment == []


def _saturated_share(ds: BracketDataset) -> tuple:
    """(share of crops holding a saturated reference pixel, mean share of such pixels per crop)."""
    hits, shares = [], []
    for i in range(len(ds)):
        ref = ds[i]["x2"][3:].numpy().max(axis=0)
        sat = ref >= SATURATED
        hits.append(bool(sat.any()))
        shares.append(float(sat.mean()))
    return float(np.mean(hits)), float(np.mean(shares))


def test_saturated_crops_hold_a_saturated_reference_pixel(tiny_root: Path) -> None:
    scenes = [read_scene(d) for d in list_scenes(tiny_root / "Training")]
    full = float(np.mean([(s.ldrs[1].max(axis=2) >= SATURATED).mean() for s in scenes]))
    assert 0.02 < full < 0.5, "the tiny data must have some, not only, saturated reference pixels"
    kw = dict(labels={"gt": "gt"}, patch_size=16, length=60, seed=1)
    uniform = BracketDataset(tiny_root / "Training", **kw)
    zero = BracketDataset(tiny_root / "Training", saturated_crops=0.0, **kw)
    always = BracketDataset(tiny_root / "Training", saturated_crops=1.0, **kw)
    half = BracketDataset(tiny_root / "Training", saturated_crops=0.5, **kw)
    for i in range(5):
        assert np.array_equal(uniform[i]["x2"].numpy(), zero[i]["x2"].numpy())
    hit_u, share_u = _saturated_share(uniform)
    hit_a, share_a = _saturated_share(always)
    hit_h, share_h = _saturated_share(half)
    assert hit_a == 1.0 and hit_u < 1.0
    assert share_u < share_h < share_a
    # Labels follow the crop: the item's label is the scene's label at the frame crop.
    item = always[3]
    scene = next(s for s in scenes if s.name == item["name"])
    ref = item["x2"][3:].numpy().transpose(1, 2, 0)
    found = [(y, x) for y in range(scene.ldrs[1].shape[0] - 15) for x in range(scene.ldrs[1].shape[1] - 15)
             if np.array_equal(scene.ldrs[1][y:y + 16, x:x + 16], ref)]
    assert found
    y, x = found[0]
    assert np.array_equal(item["gt"].numpy().transpose(1, 2, 0), scene.hdr[y:y + 16, x:x + 16])


def test_saturated_crops_out_of_range_is_refused(tiny_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="saturated_crops must lie in"):
        BracketDataset(tiny_root / "Training", patch_size=16, saturated_crops=1.5)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  saturated_crops: -0.1\n")
    with pytest.raises(ConfigError, match="saturated_crops"):
        load_config(cfg)
