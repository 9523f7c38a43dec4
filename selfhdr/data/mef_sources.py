"""Real exposure pairs for the fusion network, from public repositories, and MEFB as the benchmark.

The training sources are multi-exposure sets of real photographs, each read at a pinned commit
of the repository that carries them (see :data:`SOURCES`; their terms and citations are in the
README's fusion section). Scenes that are MEFB scenes, or the same shot at another exposure,
are excluded by name (:data:`MEFB_OVERLAP`, found by byte identity and by a near-duplicate
descriptor; every written file is also checked against MEFB's blobs, so a copy under another
name stops the build). MEFB (``xingchenzhang/MEFB``) is only ever written as an evaluation split.

Per training scene the frames are ordered by mean luminance (the files carry no exposure
times) and one under/over pair is written: the darkest and the brightest frame that are not
nearly black or nearly white. Frames of one scene are cropped to their common size. Output
layout (what ``selfhdr.data.pairs`` reads)::

    <out>/train/<source>__<scene>/<scene>_A.png   (under)   and  _B.png (over)
    <out>/val/...                                 (every VAL_EVERY-th scene, by a stable hash)
    <out>/mefb/<scene>/<scene>_A.<ext>, _B.<ext>  (MEFB's 100 pairs, files copied unchanged)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..archs.fusion_net import LUMA
from ..errors import InputError, PathLike
from ..io import read_ldr, write_ldr


@dataclass(frozen=True)
class Source:
    """One repository's multi-exposure scenes: ``<prefix>/<scene>/<frames>``."""

    name: str
    repo: str
    commit: str
    prefix: str
    citation: str


PMEF = ("hangxiaotian/Perceptual-Multi-exposure-Image-Fusion", "47ac9b940aa1ca3a4d9b1869c3920d3dfc160c8e")
SOURCES: Tuple[Source, ...] = (
    Source("fairchild", *PMEF, "Dataset/dataset1/HDRPS_downsampling_8",
           "Fairchild, The HDR Photographic Survey (2007), downsampled 8x by the PMEF repository"),
    Source("deepfuse", *PMEF, "Dataset/dataset2/DF_ICCV17_data",
           "Prabhakar et al., DeepFuse, ICCV 2017 (their test sequences)"),
    Source("forth", *PMEF, "Dataset/dataset3/Allimges_downsampling_8/imgs1", "PMEF repository, dataset3 (imgs1)"),
    Source("forth2", *PMEF, "Dataset/dataset3/Allimges_downsampling_8/imgs2", "PMEF repository, dataset3 (imgs2)"),
    Source("merianos", "murilo-goncalves/IMA201", "31824c6b17e17f32ecbda2ce8470216fed571ec4", "HDR_fusion_DataSet",
           "Merianos & Mitianoudis, A Hybrid Multiple Exposure Image Fusion Approach for HDR Image Synthesis, "
           "IEEE IST 2016 ('Please feel free to use this dataset by referencing the paper')"),
)
"""The training sources, at the commits read when the pairs were built."""

MEFB = Source("mefb", "xingchenzhang/MEFB", "9e185bf88de280b12a2d9a2ff12d66e40bc1ff91", "input",
              "Zhang, Benchmarking and comparing multi-exposure image fusion algorithms, Information Fusion 2021")
"""The benchmark: evaluation only."""

MEFB_OVERLAP: Dict[str, Tuple[str, ...]] = {
    "fairchild": ("507", "Air Bellows Gap", "Amikeus Beaver Dam (PM1)", "Amikeus Beaver Dam (PM2)", "Artist Palette",
                  "Balanced Rock", "Bar Harbor Sunrise", "Blooming Gorse (1)", "Devil's Bathtub", "Exploratorium (1)",
                  "Waffle House", "Wall Drug", "Willy Desk", "Zentrum",
                  # the same sites as MEFB scenes from another view: excluded too, to be safe
                  "Exploratorium (2)", "Blooming Gorse (2)"),
    "deepfuse": ("Seq_00", "Seq_10", "Seq_12", "Seq_13", "Seq_19", "Seq_20", "Seq_22", "Seq_23", "Seq_30", "Seq_31",
                 "Seq_33", "Seq_35", "Seq_37", "Seq_38", "Seq_77", "Seq_78", "Seq_79", "Seq_80"),
    "forth": ("FORTH4",),
    "forth2": ("Knossos6", "Knossos7", "Knossos8", "Lake1", "Museum1", "Stream", "TestChart1"),
    "merianos": (),
}
"""Scenes of each source that are MEFB scenes (byte-identical or the same shot): never trained on."""

VAL_EVERY = 8
"""About one scene in VAL_EVERY goes to the validation split (by a hash of its name)."""
IMAGE = re.compile(r"\.(png|jpe?g|tiff?|bmp)$", re.I)
BLACK, WHITE = 0.15, 0.85
"""A frame is usable unless its 99th luminance percentile is below BLACK or its 1st above WHITE."""


def git_dir(root: Path, repo: str) -> Path:
    """The git directory of ``repo`` under ``root``, or an error saying what to clone where."""
    owner, name = repo.split("/")
    for cand in (root / f"{owner}+{name}" / "repo", root / f"{owner}+{name}", root / name):
        if (cand / "objects").is_dir() or (cand / ".git").exists():
            return cand / ".git" if (cand / ".git").is_dir() else cand
    raise InputError(root, f"no copy of {repo}; run: git clone https://github.com/{repo} "
                           f"'{root / f'{owner}+{name}'}'")


def extract(gdir: Path, commit: str, prefix: str, dest: Path) -> Path:
    """Write ``prefix`` of ``commit`` into ``dest`` (``git archive``); returns ``dest / prefix``."""
    done = subprocess.run(["git", f"--git-dir={gdir}", "archive", commit, prefix], capture_output=True)
    if done.returncode:
        raise InputError(gdir, f"cannot read {prefix} at {commit[:12]}: {done.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / prefix


def blob_ids(gdir: Path, commit: str, prefix: str) -> set:
    """Git blob ids of every file under ``prefix`` (to refuse byte-identical copies)."""
    done = subprocess.run(["git", f"--git-dir={gdir}", "ls-tree", "-r", commit, prefix],
                          capture_output=True, text=True, check=True)
    return {line.split()[2] for line in done.stdout.splitlines() if line.split()[1] == "blob"}


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _luma(img: np.ndarray) -> np.ndarray:
    return img @ LUMA.astype(np.float32)


def choose_pair(frames: Sequence[np.ndarray]) -> Tuple[int, int]:
    """Indices (under, over) of frames ordered dark to bright: the extremes of the usable ones."""
    usable = [i for i, f in enumerate(frames)
              if np.percentile(_luma(f), 99) >= BLACK and np.percentile(_luma(f), 1) <= WHITE]
    if len(usable) < 2:
        usable = list(range(len(frames)))
    return usable[0], usable[-1]


def scenes(folder: Path) -> Iterator[Tuple[str, List[Path]]]:
    """(scene name, image files) for each sub-folder of ``folder`` with at least two images."""
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(p for p in d.iterdir() if p.is_file() and IMAGE.search(p.name))
        if len(files) >= 2:
            yield d.name, files


def is_val(name: str) -> bool:
    """Stable scene-level split: no scene is in both."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % VAL_EVERY == 0


def _write_pair(dest: Path, scene: str, under: np.ndarray, over: np.ndarray) -> None:
    h, w = min(under.shape[0], over.shape[0]), min(under.shape[1], over.shape[1])
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for side, img in (("A", under), ("B", over)):
        write_ldr(tmp / f"{scene}_{side}.png", img[:h, :w], bits=8)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)


def build_training_pairs(root: PathLike, out: PathLike, sources: Sequence[Source] = SOURCES,
                         mefb: Source = MEFB, overlap: Mapping[str, Sequence[str]] = MEFB_OVERLAP
                         ) -> Dict[str, List[str]]:
    """Write the train/val pairs of ``sources`` (read from git copies under ``root``); returns split → pairs."""
    root, out = Path(root), Path(out)
    gdirs = {s.repo: git_dir(root, s.repo) for s in (*sources, mefb)}  # every copy found before any work
    mefb_blobs = blob_ids(gdirs[mefb.repo], mefb.commit, mefb.prefix)
    written: Dict[str, List[str]] = {"train": [], "val": []}
    manifest = []
    with tempfile.TemporaryDirectory() as tmp:
        for src in sources:
            folder = extract(gdirs[src.repo], src.commit, src.prefix, Path(tmp) / src.name)
            skip = set(overlap.get(src.name, ()))
            for scene, files in scenes(folder):
                if scene in skip:
                    continue
                copies = [f.name for f in files if _blob_id(f.read_bytes()) in mefb_blobs]
                if copies:
                    raise InputError(None, f"{src.repo} {src.prefix}/{scene}: {copies} are MEFB files; add the "
                                           f"scene to MEFB_OVERLAP['{src.name}']")
                frames = [read_ldr(f) for f in files]
                order = sorted(range(len(frames)), key=lambda i: float(_luma(frames[i]).mean()))
                frames = [frames[i] for i in order]
                u, o = choose_pair(frames)
                safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", scene).strip("_")
                name = f"{src.name}__{safe}"
                split = "val" if is_val(name) else "train"
                _write_pair(out / split / name, safe, frames[u], frames[o])
                written[split].append(name)
                manifest.append({"pair": f"{split}/{name}", "source": src.name, "repo": src.repo,
                                 "commit": src.commit, "scene": f"{src.prefix}/{scene}",
                                 "under": files[order[u]].name, "over": files[order[o]].name})
    (out / "pairs.json").write_text(json.dumps(manifest, indent=1))
    return written


def mefb_pair(files: Sequence[Path]) -> Optional[Tuple[Path, Path]]:
    """MEFB's (A, B) files of one scene: ``*_A.*``/``*_B.*`` (any case), else the only two files."""
    a = [f for f in files if re.search(r"_a$", f.stem, re.I)]
    b = [f for f in files if re.search(r"_b$", f.stem, re.I)]
    if len(a) == 1 and len(b) == 1:
        return a[0], b[0]
    under = [f for f in files if re.search(r"under$", f.stem, re.I)]
    over = [f for f in files if re.search(r"over$", f.stem, re.I)]
    if len(under) == 1 and len(over) == 1:
        return under[0], over[0]
    return (files[0], files[1]) if len(files) == 2 else None


def build_mefb(root: PathLike, out: PathLike, mefb: Source = MEFB) -> List[str]:
    """Copy MEFB's 100 pairs into ``out/<scene>/<scene>_A|_B.<ext>`` (unchanged bytes); returns scenes."""
    root, out = Path(root), Path(out)
    gdir = git_dir(root, mefb.repo)
    names = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = extract(gdir, mefb.commit, mefb.prefix, Path(tmp))
        for scene, files in scenes(folder):
            pair = mefb_pair(files)
            if pair is None:
                raise InputError(None, f"MEFB input/{scene}: cannot tell its pair among {[f.name for f in files]}")
            dest = out / scene
            dest.mkdir(parents=True, exist_ok=True)
            for side, f in zip("AB", pair):
                shutil.copyfile(f, dest / f"{scene}_{side}{f.suffix.lower()}")
            names.append(scene)
    return names


MEFB_METHODS = ("DEM", "DSIFT_EF", "FMMEF", "GD", "GFF", "MEFAW", "MEFCNN", "MEFDSIFT", "MEFOpt", "MGFF", "MTI",
                "PMEF", "PWA", "SPD_MEF", "IFCNN", "MEFNet", "Deepfuse", "FusionDN", "MEF-GAN", "PMGI", "U2Fusion")
"""MEFB's 21 methods in the order of its results (``util/configMethods.m``: MATLAB ones, then others)."""
MEFB_MEF_SSIM = 16
"""Index of MEF-SSIM among MEFB's 20 metrics (``util/configMetrics.m``: 7 information-theory,
6 image-feature, then Qc, Qw, Qy, MEF_SSIM)."""
MEFB_RESULTS = "output/evaluation_metrics/evaluationMetricsAverageImg.mat"


def mefb_published(root: PathLike, mefb: Source = MEFB) -> Dict[str, float]:
    """MEFB's own mean MEF-SSIM of each of its methods over the 100 pairs, best first."""
    from scipy.io import loadmat

    gdir = git_dir(Path(root), mefb.repo)
    done = subprocess.run(["git", f"--git-dir={gdir}", "show", f"{mefb.commit}:{MEFB_RESULTS}"], capture_output=True)
    if done.returncode:
        raise InputError(gdir, f"cannot read {MEFB_RESULTS}: {done.stderr.decode().strip()}")
    table = loadmat(io.BytesIO(done.stdout))["resultsMetricsAverageImg"]
    if table.shape != (1, len(MEFB_METHODS), 20):
        raise InputError(gdir, f"{MEFB_RESULTS}: expected 1×21×20 averages, found {table.shape}")
    scores = {m: float(v) for m, v in zip(MEFB_METHODS, table[0, :, MEFB_MEF_SSIM])}
    return dict(sorted(scores.items(), key=lambda kv: -kv[1]))


__all__ = ["MEFB", "MEFB_METHODS", "MEFB_OVERLAP", "mefb_published", "SOURCES", "Source", "build_mefb", "build_training_pairs", "choose_pair",
           "mefb_pair"]
