"""How a README example that is not run is checked: parsed, flags, calls, settings, nodes."""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.util
import inspect
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple
from unittest import mock

import numpy as np
import pytest
import torch
import yaml

from test_readme import README, REPO, blocks, section
from selfhdr.archs import build_backbone, list_backbones, save_weights
from selfhdr.cli import COMMANDS, command
from selfhdr.config import Config, load_config
from readme_table import Entry, Example, SMALL, TINY_NET, entry_for, examples, substituted
from readme_runs import _scenes

# ----------------------------------------------------------------------------- parsed commands, flags


class _Reached(Exception):
    """Raised where a command would start working: every argument was accepted."""

    def __init__(self, parser: argparse.ArgumentParser, value: Any) -> None:
        super().__init__()
        self.parser, self.value = parser, value


def reach(name: str, argv: List[str], stop: Optional[str] = None) -> _Reached:
    """Run command ``name`` on ``argv`` until it has parsed its arguments, or until it calls ``stop``."""
    original, seen = argparse.ArgumentParser.parse_args, []

    def parse_args(self: argparse.ArgumentParser, args: Any = None, namespace: Any = None) -> Any:
        self.allow_abbrev = False  # a misspelt flag must not pass as an abbreviation
        ns = original(self, args, namespace)
        seen.append(self)
        if stop is None:
            raise _Reached(self, ns)
        return ns

    def work(cfg: Any, *args: Any, **kwargs: Any) -> None:
        raise _Reached(seen[-1], cfg)

    main = command(name)
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(argparse.ArgumentParser, "parse_args", parse_args))
        if stop:
            stack.enter_context(mock.patch.object(sys.modules[main.__module__], stop, work))
        try:
            rc = main(argv)
        except _Reached as reached:
            return reached
    raise AssertionError(f"selfhdr-{name} {shlex.join(argv)}: exit {rc} before its work started")


def parse_script(argv: List[str]) -> Any:
    """``python scripts/X.py …`` through its own code, up to the work (train: the config; benchmark: its plan)."""
    name = next(n for n, (m, _) in COMMANDS.items() if argv[:2] == ["python", f"scripts/{m}.py"])
    return reach(name, argv[2:], {"train": "run", "benchmark": "run_benchmark"}.get(name)).value


def check_parse(ex: Example, entry: Entry, w: Path) -> None:
    """A command that needs what cannot exist here: its arguments are accepted, its files exist."""
    argv = ex.argv or []
    if argv[:2] == ["pip", "install"]:
        assert argv[2] == "-e" and argv[3].split("[")[0] == "." and (REPO / "setup.py").is_file(), argv
        for extra in re.findall(r"\[(\w+)\]", " ".join([argv[3], ex.comment])):
            assert f'"{extra}":' in (REPO / "setup.py").read_text(), extra
    elif argv[:3] == ["python", "-m", "pytest"]:
        assert "testpaths = tests" in (REPO / "pytest.ini").read_text()
        assert shlex.join(argv) in (REPO / ".ci/run").read_text()  # "CI (.ci/run) runs exactly that command"
    elif argv[:3] == ["python", "-m", "selfhdr.data.exposure_check"]:
        tree = ast.parse(inspect.getsource(importlib.import_module("selfhdr.data.exposure_check")))
        guard = [ast.unparse(n) for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
        assert len(argv) == 3 and guard and "study_table(tolerance_study())" in guard[0]
    elif argv[:3] == ["python", "-m", "selfhdr.engine.regions"]:  # another run's outputs: parsed, not scored
        from selfhdr.engine import regions

        def table(root: Path, split: str, methods: Any, *_: Any) -> Any:
            raise _Reached(None, (root, split, methods))  # type: ignore[arg-type]

        with mock.patch.object(regions, "region_table", table), pytest.raises(_Reached) as reached:
            regions.main(argv[3:])
        root, split, methods = reached.value.value
        assert (REPO / root).is_dir() or root == Path("data/synthetic"), root
        assert methods and all(str(d).startswith("runs/") for d in methods.values()), methods
    elif argv[1].startswith("scripts/<"):  # python scripts/<name>.py
        for module, _ in COMMANDS.values():
            assert f"from selfhdr.cli.{module} import main" in (REPO / "scripts" / f"{module}.py").read_text()
    elif argv[0] == "torchrun":
        from torch.distributed.run import get_args_parser

        a = get_args_parser().parse_args(argv[1:])
        cfg = parse_script(["python", a.training_script, *a.training_script_args])
        assert cfg.train.batch_size % int(a.nproc_per_node) == 0  # "it must divide"
    elif "--hdrvdp-toolbox" in argv:  # DIR: a toolbox folder (Octave and MATLAB code are not here)
        toolbox = w / "hdrvdp-2.2.2"
        toolbox.mkdir(exist_ok=True)
        (toolbox / "hdrvdp.m").touch()  # what the command checks before any work
        cfg = parse_script([str(toolbox) if a == "DIR" else a for a in argv])
        assert cfg.hdrvdp_toolbox == str(toolbox) and "vdp" in cfg.parts, cfg
    else:
        value = parse_script(argv)
        if "data.root:" in ex.comment:  # "# data.root: data/kalantari"
            assert value.data.root == ex.comment.split("data.root:")[1].split()[0], (value.data.root, ex.comment)
            assert (w / value.data.root / value.data.train_split).is_dir()


BASE = {"train": [], "benchmark": [], "import": ["--input", "i", "--out", "o"], "prepare-color": ["--data-root", "d"],
        "test": ["--checkpoint", "m.pth", "--data-root", "d", "--out", "o"],
        "predict": ["--checkpoint", "m.pth", "--out", "o", "--images", "a", "b", "c"],
        "fusion-data": ["--git-root", "r", "--out", "o"], "fuse": ["--input", "i", "--out", "o"]}


def check_flag(ex: Example, entry: Entry, w: Path) -> None:
    """Each command the entry names takes the flag, spelt out; ``--set`` keys validate."""
    tokens = substituted(ex, entry)
    for name in entry.arg:
        if tokens == ["--help"]:
            with pytest.raises(SystemExit) as done:
                reach(name, tokens)
            assert done.value.code == 0
            continue
        options = reach(name, BASE[name]).parser._option_string_actions
        assert [t for t in tokens if t.startswith("--") and t not in options] == [], f"not options of selfhdr-{name}"
        if len(tokens) > 1 or options[tokens[0]].nargs == 0:  # a bare --tile names the option only
            reach(name, BASE[name] + tokens)
    for key, value in zip(tokens, tokens[1:]):
        if key == "--set" and value != "key.path=value":  # that one is the pattern, not a key
            load_config(None, [value])


# ----------------------------------------------------------------------------- Python calls


def resolve(dotted: str) -> Any:
    """``a.b.c`` as Python reads it after ``import a``: attributes first, submodules where none."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], 2):
        obj = getattr(obj, part) if hasattr(obj, part) else importlib.import_module(".".join(parts[:i]))
    return obj


def params(fn: Callable) -> List[str]:
    """Parameter names as documented: ``**kwargs`` with its stars."""
    stars = {inspect.Parameter.VAR_KEYWORD: "**", inspect.Parameter.VAR_POSITIONAL: "*"}
    return [stars.get(p.kind, "") + p.name for p in inspect.signature(fn).parameters.values()]


def frames(h: int = 32, w: int = 40) -> Tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return tuple(torch.rand(1, 6, h, w, generator=g) for _ in range(3))


BARE = {"write_dataset": "selfhdr.data", "SyntheticSpec": "selfhdr.data"}  # as the README's Data section


def documented_call(text: str) -> Tuple[List[str], ast.Call]:
    """The names and the call of ``a.f(x, k=v)``; ``a.f / g / h(x)`` is one signature of three names."""
    head, *rest = text.split(" / ")
    last, _, args = (rest[-1] if rest else "").partition("(")
    names = [head] + [f"{head.rsplit('.', 1)[0]}.{n}" for n in [*rest[:-1], last] if rest]
    call = ast.parse(f"{head}({args}" if rest else text, mode="eval").body
    assert isinstance(call, ast.Call), text
    names = [ast.unparse(call.func)] if not rest else names
    return [f"{BARE[n]}.{n}" if n in BARE else n for n in names], call


def check_call(ex: Example, entry: Entry, tmp: Path) -> None:
    """The documented names are functions with the documented parameters and defaults, and run."""
    if entry.arg == "keyword":  # tile="auto", tile=None, precision="bf16": reconstruct takes them
        key, _, value = ex.text.partition("=")
        net = build_backbone("AHDRNet", **TINY_NET).eval()
        out = resolve("selfhdr.inference.reconstruct")(net, *frames(), **{key: ast.literal_eval(value)})
        assert out.shape == (1, 3, 32, 40)
        return
    if entry.arg == "weights_only":  # load_checkpoint never unpickles code
        assert "weights_only=True" in inspect.getsource(resolve("selfhdr.archs.checkpoint"))
        return
    names, call = documented_call(ex.text)
    positional = [ast.unparse(a) for a in call.args]
    for name in names if entry.arg != "forward" else []:
        fn = resolve(name)
        assert callable(fn) and not inspect.ismodule(fn), f"{name} is not a function"
        got = params(fn)
        if entry.arg != "write_dataset":  # its second argument is a call: checked by its runner
            assert got[:len(positional)] == positional, (name, got)
        for kw in call.keywords:  # documented keywords exist, with the documented defaults
            assert (f"**{ast.unparse(kw.value)}" in got if kw.arg is None else
                    inspect.signature(fn).parameters[kw.arg].default == ast.literal_eval(kw.value)), (name, kw.arg)
        CALLS[entry.arg](fn, call, tmp)
    if entry.arg == "forward":
        CALLS["forward"](None, call, tmp)


def _forward(fn: None, call: ast.Call, tmp: Path) -> None:
    for name in list_backbones():
        net = build_backbone(name, **SMALL[name]).eval()
        assert params(net.forward) == [ast.unparse(a) for a in call.args] and isinstance(net.size_divisor, int)
        with torch.no_grad():
            y = net(*frames(16, 16))
        assert y.shape == (1, 3, 16, 16) and 0 <= float(y.min()) <= float(y.max()) <= 1, name


def _write_dataset(fn: Callable, call: ast.Call, tmp: Path) -> None:
    assert params(fn)[0] == ast.unparse(call.args[0]) and len(call.args) == 2
    spec = resolve(f"selfhdr.data.{ast.unparse(call.args[1].func)}")
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.args[1].keywords}
    assert set(kwargs) <= set(params(spec)), kwargs
    root = fn(tmp / "hard", spec(**{**kwargs, "height": 48, "width": 64, "n_test": 1}), progress=False)  # sizes only
    assert _scenes(root / "Test") == ["test_001"]


def _build_backbone(fn: Callable, call: ast.Call, tmp: Path) -> None:
    names = re.search(r"the names (.*?)\. ", section("Backbones"), re.S).group(1)
    assert sorted(re.findall(r"`([\w-]+)`", names)) == sorted(list_backbones())
    assert sum(p.numel() for p in fn("AHDRNet", **TINY_NET).parameters()) < 10_000


def _load_checkpoint(fn: Callable, call: ast.Call, tmp: Path) -> None:
    """Published ``{'state_dict': ...}``, bare and ``module.``-prefixed state_dicts, ``.safetensors``."""
    src = build_backbone("AHDRNet", **TINY_NET)
    sd = src.state_dict()
    for name, obj in {"published.pth": {"state_dict": sd}, "bare.pth": sd,
                      "module.pth": {f"module.{k}": v for k, v in sd.items()}}.items():
        torch.save(obj, tmp / name)
    save_weights(src, tmp / "ours.safetensors")
    for name in ["published.pth", "bare.pth", "module.pth", "ours.safetensors"]:
        dst = build_backbone("AHDRNet", **TINY_NET)
        fn(dst, tmp / name)
        assert all(torch.equal(a, b) for a, b in zip(sd.values(), dst.state_dict().values())), name


def _reconstruct(fn: Callable, call: ast.Call, tmp: Path) -> None:
    x, net = frames(33, 45), build_backbone("AHDRNet", **TINY_NET).eval()
    with torch.no_grad():
        assert torch.allclose(fn(net, *x), net(*x), atol=1e-5)  # odd sizes: padded and cropped back


def _hdr_metric(fn: Callable, call: ast.Call, tmp: Path) -> None:
    gt = np.random.default_rng(0).random((24, 24, 3)).astype(np.float32)
    assert np.isfinite(fn(np.clip(gt + 0.01, 0, 1), gt))


def _mef_ssim(fn: Callable, call: ast.Call, tmp: Path) -> None:
    under, over = (np.random.default_rng(0).random((48, 48, 3)) * s for s in (0.4, 1.0))
    assert 0 < fn([under, over], (under + over) / 2) <= 1


def _hdr_vdp2(fn: Callable, call: ast.Call, tmp: Path) -> None:
    """Q is 100 for identical images and lower for a distorted one; P_det follows."""
    ref = 100.0 * np.random.default_rng(0).random((32, 48, 3)) + 1.0
    same, noisy = fn(ref, ref), fn(ref * (1 + 0.2 * np.random.default_rng(1).standard_normal(ref.shape)).clip(0.1), ref)
    assert same.Q == 100 and same.P_det == 0 and noisy.Q < 100 and noisy.P_det > 0
    assert same.P_map.shape == same.C_map.shape == (32, 48)


CALLS = {"forward": _forward, "write_dataset": _write_dataset, "build_backbone": _build_backbone,
         "load_checkpoint": _load_checkpoint, "reconstruct": _reconstruct, "hdr_metric": _hdr_metric,
         "mef_ssim": _mef_ssim, "hdr_vdp2": _hdr_vdp2}


# ----------------------------------------------------------------------------- settings, nodes, names


def check_setting(ex: Example, entry: Entry, w: Path) -> None:
    """``key: value`` is a valid override that sets that value (``key:``: the key exists)."""
    key, _, value = (s.strip() for s in ex.text.partition(":"))
    got, default = load_config(None, [f"{key}={value}"] if value else []), Config()
    for part in key.split("."):
        got, default = getattr(got, part), getattr(default, part)
    assert got == (yaml.safe_load(value) if value else default)


def check_node(ex: Example, entry: Entry, w: Path, request: pytest.FixtureRequest) -> None:
    """A node is what the file it describes holds; ``error:`` is the one line of a blocked output."""
    if entry.arg == "demo-model":  # "(the demo uses `{type: AHDRNet, ...}`)"
        assert load_config(None, [f"model={ex.text}"]).model == load_config(REPO / "configs/demo.yaml").model
    elif entry.arg == "blocked-output":  # checked before the checkpoint (which does not exist) is loaded
        (w / "blocked.txt").write_text("a file where the output folder should be")
        capsys = request.getfixturevalue("capsys")
        rc = command("test")(["--checkpoint", "missing.pth", "--data-root", "data/kalantari", "--out", "blocked.txt"])
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith(ex.text)]
        assert rc == 2 and len(err) == 1 and "blocked.txt" in err[0], err
    else:
        runs = request.getfixturevalue("runs")
        if entry.arg == "state-dict":  # runs/<name>/stage2/model.pth
            assert runs["demo"][0] == 0
            saved = torch.load(w / "runs/demo/stage2/model.pth", map_location="cpu", weights_only=True)
            assert set(re.findall(r"'(\w+)'", ex.text)) <= set(saved)
        else:  # test.py's metrics.json: {"scenes": {name: {...}}, "mean": {...}}
            assert runs["test"][0] == 0
            metrics = json.loads((w / "runs/demo/retest/metrics.json").read_text())
            assert set(re.findall(r'"(\w+)": [{[]', ex.text)) == set(metrics)  # every top-level key, no more
            keys = set(re.findall(r'"(\w+)"', re.search(r"\{name: \{([^}]*)\}", ex.text).group(1)))
            assert all(set(m) == keys for m in metrics["scenes"].values())


def check(ex: Example, w: Path, request: pytest.FixtureRequest, entry: Optional[Entry] = None) -> None:
    """Dispatch one non-run example to its check (the entry it matches, unless given)."""
    entry = entry or entry_for(ex)
    assert entry is not None, ex.text
    if entry.how == "call":
        check_call(ex, entry, w / "calls")
    elif entry.how == "node":
        check_node(ex, entry, w, request)
    elif entry.how == "name":
        assert ex.argv == [ex.text] and ex.text.removeprefix("selfhdr-") in COMMANDS, ex.text
    elif entry.how == "elsewhere":  # a line of the block test_readme.py runs
        assert "def test_train_on_your_own_photos(" in (REPO / "tests/test_readme.py").read_text()
        assert ex.text in blocks(section("Train on your own photos"), "bash")[0]
    else:
        {"parse": check_parse, "flag": check_flag, "setting": check_setting}[entry.how](ex, entry, w)


CHECKED = list({ex.text: ex for ex in examples(README)  # each distinct text once
                 if getattr(entry_for(ex), "how", "run") not in ("run", "not-code")}.values())
