"""Every code example in README.md runs in a test (issue 15: a documented example is a promise).

What is extracted and how each kind is checked: tests/readme_table.py.
"""

from __future__ import annotations

import importlib.util
import re
import typing
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any, Dict, List

import pytest

from test_readme import README, REPO, section
from selfhdr.cli import COMMANDS
from selfhdr.config import Config, load_config
from readme_table import Example, TABLE, entry_for, examples
from readme_runs import Ran, command_lines, make_workdir, run_jobs
from readme_checks import CHECKED, check, resolve


def test_every_example_is_in_the_table() -> None:
    found = examples(README)
    assert len(found) > 80, "the extractor lost the README's examples"
    assert [ex.text for ex in found if entry_for(ex) is None] == [], "README examples no test checks: add to TABLE"


def test_no_stale_entries() -> None:
    used = {id(entry_for(ex)) for ex in examples(README)}
    assert [e.key for e in TABLE if id(e) not in used] == []


def test_a_new_example_is_caught() -> None:
    new = ["x: 1", "python scripts/frobnicate.py --all", "selfhdr.metrics.psnr_x(a, b)"]
    text = README + f"\n`{new[1]}`, `{new[2]}`\n```yaml\n{new[0]}\n```\n"
    assert [ex.text for ex in examples(text) if entry_for(ex) is None and not README.count(ex.text)] == new



@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working folder of the README's commands, holding what a user brings along."""
    return make_workdir(tmp_path_factory.mktemp("readme"))


@pytest.fixture(scope="module")
def runs(workdir: Path) -> Dict[str, Ran]:
    """Every run job of the README, once for the module."""
    return run_jobs(command_lines(README), workdir)


@pytest.mark.parametrize("job", [e.arg for e in TABLE if e.how == "run"])
def test_documented_command_runs(job: str, runs: Dict[str, Ran]) -> None:
    assert job in runs, f"README has no example for job {job}"
    rc, out, problem = runs[job]
    assert rc == 0, out[-4000:]
    assert problem is None, f"{problem}\n{out[-3000:]}"


@pytest.mark.parametrize("ex", CHECKED, ids=[ex.text[:50] for ex in CHECKED])
def test_example(ex: Example, workdir: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir)
    (workdir / "calls").mkdir(exist_ok=True)
    check(ex, workdir, request)


BREAKS = [  # (README text, broken on purpose, what the check of that example then raises)
    ("--parts infer --repeats 1", "--part infer --repeats 1", SystemExit),  # a renamed flag of a parsed command
    ("`--aligned-inputs`", "`--aligned-input`", AssertionError),  # an abbreviation is no flag
    ("# data.root: data/kalantari", "# data.root: data/kalantari2", AssertionError),  # the config says otherwise
    ('overlap=None, precision="fp32"', 'overlap=64, precision="fp32"', AssertionError),  # a wrong default
    ("`eval.tile: null`", "`eval.tile: none`", Exception),  # not a valid value
    ("n_dense: 3, n_rdb: 2}", "n_dense: 3, n_rdb: 3}", AssertionError),  # not what the demo uses
    ("--nproc_per_node=4", "--nproc_per_node=3", AssertionError),  # 3 does not divide the batch
    ("ssim_mu(pred, gt)", "ssim_mu(pred, target)", AssertionError),  # a wrong parameter name
]


@pytest.mark.parametrize("old, new, error", BREAKS, ids=[b[1] for b in BREAKS])
def test_a_broken_example_fails(old: str, new: str, error: type, workdir: Path, request: pytest.FixtureRequest,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Each is checked as the example it replaces: its entry is that one's."""
    monkeypatch.chdir(workdir)

    def the(text: str, part: str) -> Example:
        (ex,) = [e for e in examples(text) if part.strip("`# ") in f"{e.text} # {e.comment}"]
        return ex

    assert README.count(old) == 1
    with pytest.raises(error):
        check(the(README.replace(old, new), new), workdir, request, entry_for(the(README, old)))


def test_an_unexported_function_fails(workdir: Path, request: pytest.FixtureRequest,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import selfhdr.metrics

    monkeypatch.delattr(selfhdr.metrics, "mef_ssim")  # `selfhdr.metrics.mef_ssim` is then the module
    with pytest.raises(AssertionError, match="not a function"):
        check(Example("selfhdr.metrics.mef_ssim(sources, fused)"), workdir, request)


def test_config_error_message_is_the_documented_one() -> None:
    (msg,) = re.findall(r"`(unknown config key '[^`]+)`", section("Configs"))
    with pytest.raises(Exception, match=re.escape(msg)):
        load_config(None, [re.match(r"unknown config key '([\w.]+)'", msg).group(1) + "=x"])


def _config_path(parts: List[str]) -> bool:
    """Whether ``parts`` name a config field (``*``: any field of a section)."""
    cls: Any = Config
    for part in parts:
        if not is_dataclass(cls) or (part != "*" and part not in typing.get_type_hints(cls)):
            return False
        if part == "*":
            return True
        tp = typing.get_type_hints(cls)[part]
        cls = next((a for a in typing.get_args(tp) if is_dataclass(a)), tp)
    return True


def test_dotted_names_resolve() -> None:
    """Dotted names in backticks are config keys (``data.val_fraction``, ``align.*``) or importable."""
    spans = re.findall(r"`([A-Za-z_]\w*(?:\.(?:\w+|\*))+)`", re.sub(r"```\w*\n.*?```", "", README, flags=re.S))
    names = [s for s in spans if not re.search(r"\.(py|txt|json|jsonl|png|yaml|pth|md|hdr|exr|tif|jpg|safetensors|m)$", s)]
    assert {"data.val_fraction", "selfhdr.errors.InputError", "align.*"} <= set(names)
    for name in names:
        assert _config_path(name.split(".")) or resolve(name) is not None, name


def test_package_table_names_exist() -> None:
    """Each package row of "What is here" names what that package has."""
    rows = re.findall(r"^\| `(selfhdr\.\w+)` \| (.*) \|$", section("What is here"), re.M)
    assert len(rows) >= 10
    for package, text in rows:
        pkg = importlib.import_module(package)
        for name in re.findall(r"`([^`]+)`", text):
            if re.fullmatch(r"[a-z_]\w*", name):
                assert hasattr(pkg, name) or importlib.util.find_spec(f"{package}.{name}"), f"{package}.{name}"
            elif name.startswith("selfhdr-"):
                assert name.removeprefix("selfhdr-") in COMMANDS, name
            elif "*" in name:
                assert list(REPO.glob(name)), name
