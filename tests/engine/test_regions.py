"""selfhdr.engine.regions: the three regions partition each image and locate an error."""

from pathlib import Path

import numpy as np
import pytest

from selfhdr.data.synthetic import SyntheticSpec, write_dataset
from selfhdr.engine.regions import REGIONS, main, region_scores, region_table, saturation_scores, synthetic_regions
from selfhdr.io import read_hdr, write_hdr


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("regions")
    return write_dataset(r, SyntheticSpec(height=48, width=64, n_train=0, n_test=2, seed=1), progress=False)


def test_regions_partition_the_image(root: Path) -> None:
    m = synthetic_regions(root, "Test", "test_001")
    stack = np.stack([m[r] for r in REGIONS]).astype(int)
    assert (stack.sum(axis=0) == 1).all()
    assert all(m[r].any() for r in REGIONS), {r: int(m[r].sum()) for r in REGIONS}


def test_an_error_on_moving_pixels_is_found_there(root: Path, tmp_path: Path) -> None:
    for scene in ["test_001", "test_002"]:
        gt = read_hdr(root / "Test" / scene / "HDRImg.hdr")
        moving = synthetic_regions(root, "Test", scene)["moving"]
        write_hdr(tmp_path / f"{scene}.hdr", np.where(moving[..., None], gt * 0.5, gt))
    (scores,) = region_table(root, "Test", {"x": tmp_path}).values()
    assert scores["moving"]["error_share"] > 0.99
    assert scores["static unclipped"]["psnr_mu"] > 60 > scores["moving"]["psnr_mu"]


def test_region_scores_pool_pixels() -> None:
    gt = np.full((2, 2, 3), 0.5, np.float32)
    pred = gt.copy()
    pred[0, 0] = 0.0  # one pixel of the "moving" region, fully wrong
    masks = {"moving": np.array([[1, 0], [0, 0]], bool), "static clipped": np.zeros((2, 2), bool)}
    masks["static unclipped"] = ~masks["moving"]
    s = region_scores([pred], [gt], [masks])
    assert s["moving"]["pixel_share"] == 0.25 and s["moving"]["error_share"] == 1.0
    assert s["static clipped"]["pixel_share"] == 0.0


def test_an_edited_dataset_is_refused(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    label = copy / "Test/test_001/HDRImg.hdr"
    write_hdr(label, read_hdr(label)[::-1].copy())
    assert main(["--data-root", str(copy), "--split", "Test", f"x={tmp_path}"]) == 2
    assert "differs from the scene" in capsys.readouterr().err


def test_masks_match_an_independent_reading(tmp_path: Path) -> None:
    """Without camera shake, static pixels have the same radiance in every frame; the reference
    frame (read from its file) is clipped exactly on the clipped region's static pixels."""
    from selfhdr.data.synthetic import make_scene, scene_rng
    from selfhdr.io import read_ldr

    spec = SyntheticSpec(height=48, width=64, n_train=0, n_test=1, seed=2, shake_px=0.0, shake_deg=0.0)
    root = write_dataset(tmp_path, spec, progress=False)
    m = synthetic_regions(root, "Test", "test_001")
    rad = make_scene(spec, scene_rng(2, "Test", 0)).radiance
    changed = np.max([np.abs(r - rad[1]).max(axis=-1) for r in rad], axis=0) > 1e-4
    assert changed.any() and not (changed & ~m["moving"]).any()
    assert m["moving"].mean() < 0.5
    ref = read_ldr(root / "Test/test_001/frame_2.tif").max(axis=-1)
    bad = (ref > 0.95) | (ref < 0.05)
    assert (bad[~m["moving"]] == m["static clipped"][~m["moving"]]).all() and bad.any()


def test_band_scores_put_an_error_in_its_band() -> None:
    from selfhdr.engine.regions import band_scores

    gt = np.concatenate([np.full((1, 4, 3), 5e-4), np.full((1, 4, 3), 0.3)]).astype(np.float32)
    pred = gt.copy()
    pred[1] *= 1.2  # only the bright half is wrong, and too bright
    masks = {"static unclipped": np.ones((2, 4), bool)}
    s = band_scores([pred], [gt], [masks])
    assert s["0-0.001"]["pixel_share"] == 0.5 and s["0-0.001"]["psnr_mu"] > 100
    gt[1, 0] = 1.0  # a clipped label counts in the brightest band
    assert band_scores([pred], [gt], [masks])["0.1-1"]["pixel_share"] == 0.5
    assert s["0.1-1"]["psnr_mu"] < 40 and s["0.1-1"]["bias_mu"] > 0
    assert np.isnan(s["0.001-0.01"]["bias_mu"])


def test_band_scores_linear_columns() -> None:
    """PSNR-l and each band's share of the region's squared linear error (hand-computed)."""
    from selfhdr.engine.regions import band_scores

    gt = np.array([[[0.05] * 3, [0.5] * 3]], np.float32)  # one pixel in 0.01-0.1, one in 0.1-1
    pred = gt + np.array([[[0.01] * 3, [0.03] * 3]], np.float32)
    s = band_scores([pred], [gt], [{"static clipped": np.ones((1, 2), bool)}], region="static clipped")
    assert s["0.1-1"]["psnr_l"] == pytest.approx(10 * np.log10(1 / 0.03**2), abs=1e-3)
    assert s["0.01-0.1"]["psnr_l"] == pytest.approx(40.0, abs=1e-3)
    assert s["0.1-1"]["error_share_l"] == pytest.approx(0.0009 / 0.001, abs=1e-4)


def test_bands_of_another_region_from_the_command_line(root: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    for scene in ["test_001", "test_002"]:
        gt = read_hdr(root / "Test" / scene / "HDRImg.hdr")
        clipped = synthetic_regions(root, "Test", scene)["static clipped"]
        write_hdr(tmp_path / f"{scene}.hdr", np.where(clipped[..., None], gt * 0.9, gt))
    assert main(["--data-root", str(root), "--split", "Test", "--bands", "--region", "static unclipped",
                 f"x={tmp_path}"]) == 0
    unclipped = capsys.readouterr().out
    assert main(["--data-root", str(root), "--split", "Test", "--bands", "--region", "static clipped",
                 f"x={tmp_path}"]) == 0
    clipped_out = capsys.readouterr().out
    def psnr_l(printed: str) -> list:
        row = printed.split("\n\n")[1].splitlines()[2]  # the linear table's row of x
        return [float(c.split(" / ")[0]) for c in row.strip("| ").split(" | ")[1:] if not c.startswith("nan")]

    # The error sits on clipped pixels only: perfect bands (PSNR 120, the 1e-12 floor) outside them.
    assert psnr_l(unclipped) and all(v == 120.0 for v in psnr_l(unclipped))
    assert min(psnr_l(clipped_out)) < 60


def test_saturation_scores_split_by_saturated_channels_and_smoothness() -> None:
    """Hand-made masks and reference: an offset on the 3-channel pixels lands there, all of it
    in the smooth part; per-pixel noise on the 1-channel pixels is mostly not smooth."""
    h, w = 40, 40
    gt = np.full((h, w, 3), 0.3, np.float32)
    ref = np.full((h, w, 3), 0.5, np.float32)
    ref[:, :20] = 1.0                      # left half: all three channels saturated
    ref[:, 20:, 0] = 1.0                   # right half: one channel
    clipped = np.ones((h, w), bool)
    masks = [{"static clipped": clipped}]
    offset = gt.copy()
    offset[:, :20] += 0.1
    s = saturation_scores([offset], [gt], masks, [ref])
    assert s["3 of 3"]["error_share_l"] == pytest.approx(1.0)
    assert s["3 of 3"]["psnr_l"] == pytest.approx(20.0, abs=1e-3)
    assert s["3 of 3"]["psnr_l_smooth"] < 21.5          # mostly smooth (edges of the offset blur out)
    assert s["1 of 3"]["psnr_l"] > 100 and s["2 of 3"]["pixel_share"] == 0.0
    assert s["1 of 3"]["pixel_share"] == pytest.approx(0.5)
    noisy = gt.copy()
    noisy[:, 20:] += np.random.default_rng(0).normal(0, 0.05, (h, 20, 3)).astype(np.float32)
    n = saturation_scores([noisy], [gt], masks, [ref])["1 of 3"]
    assert n["psnr_l"] == pytest.approx(26.0, abs=0.5)
    assert n["psnr_l_smooth"] > n["psnr_l"] + 12         # noise averages away under the blur
    assert s["3 of 3"]["psnr_l_chroma"] > 100            # a grey offset: the right colour


def test_saturation_chroma_part_is_the_error_less_its_channel_mean() -> None:
    """An offset δ on one channel: its chroma part is (2δ/3, −δ/3, −δ/3), 2/3 of the squared
    error, so its PSNR-l is 10·log10(3/2) = 1.76 dB above the whole error's."""
    gt = np.full((30, 30, 3), 0.3, np.float32)
    ref = np.ones_like(gt)
    pred = gt.copy()
    pred[..., 1] += 0.05
    s = saturation_scores([pred], [gt], [{"static clipped": np.ones((30, 30), bool)}], [ref])["3 of 3"]
    assert s["psnr_l"] == pytest.approx(10 * np.log10(3 / 0.05 ** 2), abs=1e-3)
    assert s["psnr_l_chroma"] - s["psnr_l"] == pytest.approx(10 * np.log10(1.5), abs=1e-3)


def test_saturation_split_from_the_command_line(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for scene in ["test_001", "test_002"]:
        write_hdr(tmp_path / f"{scene}.hdr", read_hdr(root / "Test" / scene / "HDRImg.hdr") * 0.9)
    assert main(["--data-root", str(root), "--split", "Test", "--saturation", f"dim={tmp_path}"]) == 0
    out = capsys.readouterr().out
    assert "3 channels saturated" in out and "| dim |" in out
    cells = [c for c in out.splitlines()[2].strip("| ").split(" | ")[1:] if not c.startswith("nan")]
    assert cells and all(len(c.split(" / ")) == 4 for c in cells)   # PSNR-l / share / smooth / chroma
