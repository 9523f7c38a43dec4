"""The README's code examples and the table of how each is checked.

``examples`` extracts them from README.md: each command of a fenced ``bash`` block (``a && b``
is two), any other fenced block but ``text`` (outputs) whole, and inline spans that are commands
(``python …``, ``pip …``, ``selfhdr-…``, ``torchrun …``, ``/usr/bin/time …``, ``--flag …``), calls
(``name(...)``, ``kw=value``), settings (``key: value``) or nodes (``{...}``). ``TABLE`` maps each
to its check by the longest key it starts with; an example no entry matches, or an entry no
example matches, fails. Checks: ``run`` runs the command as written (``python scripts/X.py`` is
``scripts/X.py``) in one working folder shared by the module, after the steps it needs, two at a
time, with only what ``JOBS`` adds (sizes, one thread and one worker a process), then checks
what it leaves; ``parse`` (a command needing what cannot exist here: the entry says what) goes
through the command's own code up to where work would start; ``flag``: each command the README
gives it to accepts it spelt out; ``call``: the name is a function with the documented
parameters and defaults, run on tiny inputs; ``setting``/``node``: a valid override, or what the
file it describes holds; ``name``: a command; ``elsewhere``: tests/test_readme.py runs it;
``not-code``: a formula in prose (listed for coverage only).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional


from test_readme import blocks, commands

TINY_NET = {"nf": 4, "growth": 4, "n_dense": 1, "n_rdb": 1}
SMALL = {"AHDRNet": TINY_NET, "FSHDR": dict(nf=8, n_sdc=1),  # as tests/archs/test_backbones.py
         "HDR-Transformer": dict(embed_dim=16, depths=(2,), num_heads=(2,)),
         "SCTNet": dict(embed_dim=24, depths=(2, 2), num_heads=(2, 2), channel_heads=2)}
STEPS = ["--set", "train.epochs=1", "--set", "train.iters_per_epoch=2", "--set", "train.batch_size=2",
         "--set", "data.patch_size=24", "--set", "data.prepare_workers=1", "--set", "threads=1",
         "--set", "data.synthetic.height=48", "--set", "data.synthetic.width=64"]
# The demo keeps its 12 + 4 scenes (at 48×64), so that make_synthetic's documented
# --n-train 12 --n-test 4 finds the demo's dataset already complete.
HDR_TINY = [*STEPS, "--set", "model={type: AHDRNet, nf: 4, growth: 4, n_dense: 1, n_rdb: 1}",
            "--set", "selfhdr.stage2.structure_loss=ssim"]
FUSION_TINY = [*STEPS, "--set", "data.synthetic.n_train=2", "--set", "data.synthetic.n_test=2",
               "--set", "fusion.net={widths: [4, 8], convs_per_stage: 1}"]
TIME = Path("/usr/bin/time")


@dataclass
class Entry:
    """How the README examples containing ``key`` are checked."""

    key: str
    how: str  # run | parse | flag | call | setting | node | name | elsewhere | not-code
    arg: Any = None  # run: job; parse, not-code: why; flag: commands; call, node: which check
    subs: Dict[str, str] = field(default_factory=dict)  # placeholder → what the test uses


ALL = ["import", "predict"]
TABLE: List[Entry] = [
    Entry("python scripts/train.py --config configs/demo.yaml", "run", "demo"),
    Entry("python scripts/make_synthetic.py", "run", "make-synthetic"),
    Entry("python scripts/train.py --config configs/demo.yaml --set report.cues", "run", "cues"),
    Entry("python scripts/train.py --config C --resume", "run", "resume", {"C": "configs/fusion.yaml"}),
    Entry("python scripts/test.py", "run", "test"),
    Entry("python scripts/test.py --checkpoint runs/demo/stage2/model.pth --data-root data/synthetic "
          "--out runs/demo/retest_vdp", "run", "test-vdp"),
    Entry("python scripts/test.py --checkpoint runs/demo/stage1/model.pth", "run", "test-stage1"),
    Entry("python scripts/evaluate_color.py", "run", "evaluate-color"),
    Entry("python scripts/prepare_color.py", "run", "prepare-color"),
    Entry("python scripts/train.py --config configs/fusion.yaml", "run", "fusion"),
    Entry("python scripts/fuse.py", "run", "fuse", {"DIR": "data/synthetic_static/Test"}),
    Entry("python scripts/fuse.py --checkpoint runs/fusion_real", "parse",
          "the network trained on real pairs and MEFB's 100 pairs (minutes)"),
    Entry("python scripts/fusion_data.py", "parse",
          "git copies of five public repositories (tests/data/test_mef_sources.py builds pairs from stand-ins)"),
    Entry("python scripts/train.py --config configs/fusion_real.yaml", "parse",
          "data/mef_real, which scripts/fusion_data.py builds from the public repositories"),
    Entry("python scripts/predict.py --checkpoint model.pth --images", "run", "predict-images"),
    Entry("python scripts/predict.py --checkpoint model.pth --input", "run", "predict-folder"),
    Entry("python scripts/predict.py --images", "run", "predict-shipped"),
    Entry("/usr/bin/time -v python scripts/predict.py", "run", "predict-timed"),
    Entry("python -m selfhdr", "run", "list"),
    Entry("python -m selfhdr.engine.regions", "run", "regions"),
    Entry("python -m selfhdr.engine.regions --saturation", "run", "regions-saturation"),
    Entry("python -m selfhdr.engine.regions --data-root data/synthetic --split Test SelfHDR=runs/cpu_long", "parse",
          "the long reference run's test outputs (runs/cpu_long, 35 minutes to 2 hours of training)"),
    Entry("python -m selfhdr.engine.label_study", "run", "label-study",
          {"runs/m_robust": "runs/demo", "runs/m_published": "runs/demo"}),
    Entry("python scripts/train.py --config configs/demo.yaml --set align.merge", "parse",
          "a demo run per merge (tens of minutes): its overrides are checked"),
    Entry("python scripts/train.py --config configs/demo.yaml --set name=demo_lin1", "parse",
          "a demo run per loss setting (minutes): its overrides are checked"),
    Entry("python scripts/train.py --config configs/demo.yaml --set name=demo_pub_s1", "parse",
          "a demo run per seed and set-up (minutes): its overrides are checked"),
    Entry("python scripts/train.py --config configs/selfhdr_ahdrnet.yaml", "parse",
          "Kalantari's dataset, torchvision's ImageNet VGG19 weights, 180,000 iterations"),
    Entry("python scripts/train.py --config configs/cpu_long.yaml", "parse",
          "the long reference run: 24000 training steps, 35 minutes to 2 hours"),
    Entry("torchrun", "parse", "4 GPUs"),
    Entry("python scripts/benchmark.py", "parse", "about 90 minutes"),
    Entry("python scripts/benchmark.py --quick", "parse",
          "minutes of separate measuring processes (tests/engine/test_benchmark.py runs the quick path)"),
    Entry("python scripts/benchmark.py --parts vdp", "parse",
          "GNU Octave and the MATLAB toolbox (tests/engine/test_benchmark.py runs the vdp part at 64×96)"),
    Entry("python scripts/benchmark.py --backbones", "parse", "published-width networks at 1000×1500: minutes each"),
    Entry("python -m selfhdr.data.exposure_check", "parse", "a study of over 10 minutes, without size "
          "arguments (tests/data/test_exposure_check.py runs tolerance_study at 48×64)"),
    Entry("pip install", "parse", "installs into this environment"),
    Entry("python -m pytest", "parse", "the whole suite, this file included"),
    Entry("python scripts/<", "parse", "a pattern: each command's wrapper"),
    Entry("selfhdr-import --input photos", "elsewhere"),
    Entry("selfhdr-train --config configs/own_photos.yaml", "elsewhere"),
    Entry("selfhdr-predict --checkpoint runs/own_photos/stage2/model.pth", "elsewhere"),
    Entry("selfhdr-", "name"),
    Entry("--help", "flag", ["import"]),
    Entry("--exposures", "flag", ["import", "predict"]),
    Entry("--allow-mismatch", "flag", ["import", "predict"]),
    Entry("--images", "flag", ["predict"]),
    Entry("--set ", "flag", ["train"], {"...": "data/my_brackets"}),
    Entry("--resume", "flag", ["train"]),
    Entry("--make-data", "flag", ["train"]),
    Entry("--git-root", "flag", ["fusion-data"]),
    Entry("--protocol", "flag", ["fuse"]),
    Entry("--checkpoint", "flag", ["test", "predict"]),
    Entry("--tile", "flag", ["test", "predict"]),
    Entry("--overlap", "flag", ["test", "predict"]),
    Entry("--precision", "flag", ["test", "predict"]),
    Entry("--aligned-inputs", "flag", ["test"]),
    Entry("--force", "flag", ["prepare-color"]),
    Entry("--stream-widths", "flag", ["benchmark"]),
    Entry("--metrics", "flag", ["test"]),
    Entry("--hdr-vdp2-", "flag", ["test"]),
    Entry("selfhdr.archs.build_backbone(", "call", "build_backbone"),
    Entry("forward(", "call", "forward"),
    Entry("selfhdr.archs.load_checkpoint(", "call", "load_checkpoint"),
    Entry("torch.load(weights_only=True)", "call", "weights_only"),
    Entry("selfhdr.inference.reconstruct(", "call", "reconstruct"),
    Entry("tile=", "call", "keyword"),
    Entry("precision=", "call", "keyword"),
    Entry("write_dataset(", "call", "write_dataset"),
    Entry("selfhdr.metrics.psnr_l / ", "call", "hdr_metric"),
    Entry("selfhdr.metrics.mef_ssim(", "call", "mef_ssim"),
    Entry("selfhdr.metrics.hdr_vdp2(", "call", "hdr_vdp2"),
    Entry("L1(T(out)", "not-code", "a loss formula; tests/methods pins it against the published code"),
    Entry("backward()", "not-code", "the published model's method, the source of a transcription"),
    Entry("method:", "setting"),
    Entry("selfhdr.stage2.", "setting"),
    Entry("eval.", "setting"),
    Entry("align.", "setting"),
    Entry("train.", "setting"),
    Entry("data.", "setting"),
    Entry("error:", "node", "blocked-output"),
    Entry("{type: ", "node", "demo-model"),
    Entry("{'state_dict'", "node", "state-dict"),
    Entry('{"scenes"', "node", "metrics-json"),
]

CMD = r"(?:python3?|pip|torchrun|/usr/bin/time|selfhdr-[a-z-]+)(?: |$)|--[a-z]"
INLINE = re.compile(rf"^(?:{CMD}|[A-Za-z_][\w.]*(?: / [\w.]+)*\(|[a-z_]\w*=\S+$|[a-z_][\w.]*:(?: \S+)?$|\{{)")


@dataclass
class Example:
    """One code example of the README: its text, its argv (commands) and the comment after it."""

    text: str
    argv: Optional[List[str]] = None
    comment: str = ""


def examples(text: str) -> List[Example]:
    """Every code example of a README text (see the module docstring)."""
    out: List[Example] = []
    for lang in sorted(set(re.findall(r"```(\w+)\n", text)) - {"text"}):
        for block in blocks(text, lang):
            if lang != "bash":
                out.append(Example(block.strip()))
                continue
            for line in block.splitlines():
                code, _, comment = line.partition("#")
                for piece in filter(None, (p.strip() for p in code.split("&&"))):
                    (argv,) = commands(piece)
                    out.append(Example(piece, argv, comment.strip()))
    for span in re.findall(r"`([^`]+)`", re.sub(r"```\w*\n.*?```", "", text, flags=re.S)):
        span = " ".join(span.split())
        if INLINE.match(span):
            out.append(Example(span, shlex.split(span) if re.match(CMD, span) else None))
    return out


def entry_for(ex: Example) -> Optional[Entry]:
    """The table entry of an example: the longest key it starts with."""
    return max((e for e in TABLE if ex.text.startswith(e.key)), key=lambda e: len(e.key), default=None)


def substituted(ex: Example, entry: Entry) -> List[str]:
    """The example's argv with the entry's placeholders (an argument, or a value after ``=``) replaced."""
    out = []
    for a in ex.argv or []:
        key, eq, value = a.rpartition("=")
        out.append(entry.subs.get(a) or (key + eq + entry.subs[value] if eq and value in entry.subs else a))
    return out

