"""The README's documented commands, run as written (a documented example is a promise).

"Train on your own photos": every command of its code block runs, in order, on JPEG brackets
with EXIF that the test makes (synthetic dynamic scenes, no HDR anywhere), and every line the
README says it prints (other than lines with "...") is printed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from conftest import write_camera_brackets
from selfhdr.cli import COMMANDS, command
from selfhdr.engine.pipeline import ROWS
from selfhdr.io import read_hdr
from selfhdr.methods.classical import BASELINES

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
# Only sizes change for the test: a tiny network and budget on 48×64 scenes.
TINY_TRAIN = ["--set", "train.epochs=2", "--set", "train.iters_per_epoch=2", "--set", "train.batch_size=2",
              "--set", "data.patch_size=32", "--set", "data.prepare_workers=1",
              "--set", "model={type: AHDRNet, nf: 4, growth: 4, n_dense: 1, n_rdb: 1}"]


def section(title: str) -> str:
    """The README text under heading ``## title`` up to the next level-2 heading."""
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert m, f"README has no section {title!r}"
    return m.group(1)


def blocks(text: str, lang: str) -> List[str]:
    """Fenced code blocks of one language (indented ones included)."""
    return [re.sub(r"^ {0,3}", "", b, flags=re.M) for b in re.findall(rf"```{lang}\n(.*?)```", text, re.S)]


def commands(block: str) -> List[List[str]]:
    """The shell commands of a block, comments dropped."""
    out = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(shlex.split(line))
    return out


def test_train_on_your_own_photos(tmp_path: Path) -> None:
    text = section("Train on your own photos")
    (cmds,) = blocks(text, "bash")
    steps = commands(cmds)
    assert [s[0] for s in steps] == ["pip", "selfhdr-import", "selfhdr-train", "selfhdr-predict"]
    write_camera_brackets(tmp_path / "photos", 4)
    (tmp_path / "configs").symlink_to(REPO / "configs")
    printed = ""
    for argv in steps[1:]:
        name = argv[0].removeprefix("selfhdr-")
        extra = TINY_TRAIN if name == "train" else []
        run = subprocess.run([sys.executable, "-m", "selfhdr", name, *argv[1:], *extra], cwd=tmp_path,
                             capture_output=True, text=True, timeout=600,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])})
        assert run.returncode == 0, run.stdout + run.stderr
        printed += run.stdout + run.stderr
    # What the README says each step prints is printed.
    for block in blocks(text, "text"):
        for line in block.splitlines():
            if line.strip() and "..." not in line:
                assert line.strip() in printed, line
    assert "4 brackets predicted, 0 refused" in printed
    data = tmp_path / "data" / "my_brackets"
    assert not list(data.rglob("HDRImg.hdr*")) or all("_align" in str(p) for p in data.rglob("HDRImg.hdr*"))
    outs = sorted((tmp_path / "runs" / "own_photos" / "predicted").glob("*.hdr"))
    assert [p.stem for p in outs] == ["bracket_01", "bracket_02", "bracket_03", "bracket_04"]
    assert read_hdr(outs[0]).shape == (48, 64, 3) and outs[0].with_suffix(".png").is_file()
    assert (tmp_path / "runs" / "own_photos" / "test" / "selfhdr" / "bracket_03.hdr").is_file()


def test_demo_table_rows_are_the_names_the_run_prints() -> None:
    table = re.search(r"(^\|.*\n)+", section("Demo results (synthetic test split)"), re.M).group(0)  # the first
    rows = re.findall(r"^\| ([^|]+?) \| [\d*.]+", table, re.M)
    printed = [*BASELINES, ROWS["color"], ROWS["selfhdr"].format("AHDRNet"), ROWS["supervised"].format("AHDRNet")]
    assert rows == printed


def test_pip_extras_named_in_the_readme_exist() -> None:
    setup = (REPO / "setup.py").read_text()
    for extra in set(re.findall(r"pip install -e '\.\[(\w+)\]'", README)):
        assert f'"{extra}":' in setup, extra


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help_under_its_console_name(name: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as done:
        command(name)(["--help"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith(f"usage: selfhdr-{name} ")
