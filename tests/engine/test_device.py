"""Runtime settings: keeping freed memory (glibc malloc) changes no result."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from selfhdr.engine.device import keep_freed_memory

ROOT = Path(__file__).resolve().parents[2]
GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# A tiny AHDRNet forward (tiled and whole) and the page faults of re-allocating 64 MB.
SCRIPT = """
import resource, sys, numpy as np, torch
from selfhdr.engine.device import keep_freed_memory
from selfhdr.archs import build_backbone
from selfhdr.inference import reconstruct
applied = keep_freed_memory()
torch.manual_seed(0)
net = build_backbone("AHDRNet", nf=8, growth=4).eval()
g = torch.Generator().manual_seed(1)
x = [torch.rand(1, 6, 100, 90, generator=g) for _ in range(3)]
y = torch.cat([reconstruct(net, *x), reconstruct(net, *x, tile=88)])
faults = []
for _ in range(16):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = torch.empty(16_000_000).fill_(1.0)
    del t
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
np.save(sys.argv[1], y.numpy())
print(applied, max(faults[-4:]))
"""


def _run(out: Path, default_malloc: bool) -> tuple:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SELFHDR_DEFAULT_MALLOC", None)
    if default_malloc:
        env["SELFHDR_DEFAULT_MALLOC"] = "1"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    applied, faults = proc.stdout.split()
    return applied == "True", int(faults), np.load(out)


@pytest.mark.skipif(not GLIBC, reason="mallopt settings exist on glibc only")
def test_keep_freed_memory_changes_no_output(tmp_path: Path) -> None:
    kept, kept_faults, y_kept = _run(tmp_path / "kept.npy", default_malloc=False)
    default, default_faults, y_default = _run(tmp_path / "default.npy", default_malloc=True)
    assert kept and not default
    assert np.array_equal(y_kept, y_default)
    # The setting works: once the heap has grown, a freed 64 MB block is reused without
    # faulting pages in again, while default malloc maps (and faults in) fresh pages each time.
    pages = 64_000_000 // 4096
    assert kept_faults < pages // 10 < default_faults


def test_keep_freed_memory_is_idempotent() -> None:
    first = keep_freed_memory()
    assert keep_freed_memory() is first
    if GLIBC and os.environ.get("SELFHDR_DEFAULT_MALLOC") != "1":
        assert first
