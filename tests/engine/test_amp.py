"""Fast training by default: train.amp=auto, train.channels_last, train.compile and their log line.

The CPU flags are faked (``device._cpu_flags``) so every branch of the detection runs on any
machine; conftest fakes an AVX2-only CPU for all other tests.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
from torch import nn

import selfhdr.engine.device as device
from selfhdr.archs import build_backbone, list_backbones
from selfhdr.archs.fusion_net import FusionNet
from selfhdr.config import load_config
from selfhdr.data import BracketDataset
from selfhdr.engine.device import bf16_support, is_cnn, resolve_amp, resolve_channels_last
from selfhdr.engine.trainer import TrainConfig, Trainer
from selfhdr.errors import ConfigError
from selfhdr.methods.supervised import Supervised

REAL_FLAGS = device._cpu_flags  # bound at import, before conftest's fake
TINY_NET = dict(nf=4, growth=4, n_dense=1, n_rdb=1)
CPU = torch.device("cpu")
AVX2 = frozenset({"fpu", "sse2", "avx2", "fma"})
CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile amx_bf16
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: fpu sse2
"""


def _flags(monkeypatch: pytest.MonkeyPatch, flags: Any) -> None:
    monkeypatch.setattr(device, "_cpu_flags", lambda: flags)


# ----------------------------------------------------------------------------- detection


def test_cpuinfo_reader(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(CPUINFO)
    assert REAL_FLAGS(str(info)) == {"fpu", "sse2", "avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}
    assert REAL_FLAGS(str(tmp_path / "missing")) is None
    (tmp_path / "noflags").write_text("processor\t: 0\n")
    assert REAL_FLAGS(str(tmp_path / "noflags")) is None


@pytest.mark.parametrize("flags, fast, why", [
    ({"avx2", "amx_bf16", "avx512_bf16"}, True, "CPU has AMX-BF16"),
    ({"avx2", "avx512f", "avx512_bf16"}, True, "CPU has AVX512-BF16"),
    ({"avx2", "avx512f", "avx512bw"}, False, "no fast bf16 on this CPU"),
    (AVX2, False, "no fast bf16 on this CPU"),
])
def test_cpu_flags_decide(monkeypatch: pytest.MonkeyPatch, flags: set, fast: bool, why: str) -> None:
    _flags(monkeypatch, frozenset(flags))
    assert bf16_support(CPU) == (fast, why)
    assert resolve_amp("auto", CPU) == ("bf16" if fast else "off")


@pytest.mark.parametrize("capability, fast", [("AVX2", False), ("AVX512", False), ("DEFAULT", False),
                                              ("AMX_BF16", True), ("AVX512_BF16", True)])
def test_without_cpuinfo_torch_capability_decides(monkeypatch: pytest.MonkeyPatch, capability: str,
                                                  fast: bool) -> None:
    _flags(monkeypatch, None)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert bf16_support(CPU)[0] is fast
    assert resolve_amp("auto", CPU) == ("bf16" if fast else "off")


@pytest.mark.parametrize("supported", [True, False])
def test_cuda_asks_torch_without_emulation(monkeypatch: pytest.MonkeyPatch, supported: bool) -> None:
    seen: List[Dict[str, Any]] = []

    def fake(**kw: Any) -> bool:
        seen.append(kw)
        return supported

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", fake)
    assert resolve_amp("auto", torch.device("cuda")) == ("bf16" if supported else "off")
    assert seen == [{"including_emulation": False}]


def test_explicit_amp_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    _flags(monkeypatch, frozenset({"amx_bf16"}))
    assert [resolve_amp(a, CPU) for a in ("off", "bf16", "fp16")] == ["off", "bf16", "fp16"]


def test_this_machine_resolves_by_its_own_flags() -> None:
    """Whatever runs the suite: auto is bf16 exactly when the real flags name fast bf16."""
    flags = REAL_FLAGS()
    if flags is None:
        pytest.skip("no /proc/cpuinfo")
    fast = bool(flags & {"amx_bf16", "avx512_bf16"})
    real = device._cpu_flags
    try:
        device._cpu_flags = REAL_FLAGS
        assert resolve_amp("auto", CPU) == ("bf16" if fast else "off")
    finally:
        device._cpu_flags = real


def test_cnn_detection() -> None:
    cnn = {name: is_cnn(build_backbone(name)) for name in list_backbones()}
    assert cnn == {"AHDRNet": True, "FSHDR": True, "HDR-Transformer": False, "SCTNet": False}
    assert is_cnn(FusionNet())
    assert not is_cnn(nn.Linear(2, 2))


def test_channels_last_resolution() -> None:
    cnn, vit = build_backbone("AHDRNet", **TINY_NET), build_backbone("SCTNet")
    assert resolve_channels_last("auto", CPU, cnn, "bf16")
    assert resolve_channels_last("auto", CPU, cnn, "off")  # fp32 too: 1.23-1.32x (benchmark)
    assert not resolve_channels_last("auto", CPU, vit, "bf16")
    assert not resolve_channels_last("auto", torch.device("cuda"), cnn, "bf16")
    assert resolve_channels_last(True, CPU, vit, "off") and not resolve_channels_last(False, CPU, cnn, "bf16")


# ----------------------------------------------------------------------------- config


def test_config_accepts_the_new_settings() -> None:
    assert load_config(None).train.amp == "auto"
    assert load_config(None).train.channels_last == "auto" and load_config(None).train.compile is False
    cfg = load_config(None, ["train.amp=auto", "train.channels_last=true", "train.compile=true"])
    assert (cfg.train.amp, cfg.train.channels_last, cfg.train.compile) == ("auto", True, True)
    for name in sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")):
        assert load_config(name).train.amp in ("auto", "off", "bf16", "fp16"), name


def test_unquoted_off_means_off(tmp_path: Path) -> None:
    """YAML 1.1 reads ``off`` as false: ``--set train.amp=off`` and ``amp: off`` still mean fp32."""
    assert load_config(None, ["train.amp=off"]).train.amp == "off"
    (tmp_path / "c.yaml").write_text("train:\n  amp: off\n")
    assert load_config(tmp_path / "c.yaml").train.amp == "off"
    with pytest.raises(ConfigError, match="train.amp: True is not one of"):
        load_config(None, ["train.amp=on"])


@pytest.mark.parametrize("override, names", [
    ("train.amp=bf17", "'auto', 'off', 'bf16', 'fp16'"),
    ("train.channels_last=maybe", "'auto' | true/false"),
    ("train.compile=auto", "true or false"),
])
def test_config_rejects_bad_values_naming_the_choices(override: str, names: str) -> None:
    with pytest.raises(ConfigError, match="train\\.") as err:
        load_config(None, [override])
    assert names in str(err.value)


# ----------------------------------------------------------------------------- trainer


def _trainer(root: Path, out: Path, **kw: Any) -> Trainer:
    base: Dict[str, Any] = dict(batch_size=2, epochs=1, iters_per_epoch=2, lr=1e-3, checkpoint_every=1,
                                log_every=1, image_every=0, val_every=0)
    base.update(kw)
    cfg = TrainConfig(**base)
    torch.manual_seed(0)
    ds = BracketDataset(root / "Training", labels={"gt": "gt"}, patch_size=16,
                        length=cfg.iters_per_epoch * cfg.batch_size, seed=0)
    return Trainer(Supervised(build_backbone("AHDRNet", **TINY_NET)), ds, cfg, out, seed=0, stage="stage1",
                   progress=False)


def _weights(path: Path) -> Dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _lines(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> List[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "selfhdr.engine.trainer" and r.levelno == level]


def test_auto_on_an_avx2_cpu_is_fp32_channels_last(tiny_root: Path, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="selfhdr.engine.trainer"):
        auto = _trainer(tiny_root, tmp_path / "auto")
        assert (auto.amp, auto.channels_last) == ("off", True)
        path = auto.fit()
    assert [m for m in _lines(caplog) if "training in" in m] == [
        "stage1: training in fp32 (no fast bf16 on this CPU), channels-last: numerics differ from fp32 "
        "(channels-last kernels round differently)"]
    # The same fp32 arithmetic in another memory layout: equal up to summation order.
    plain = _trainer(tiny_root, tmp_path / "off", amp="off", channels_last=False).fit()
    a, b = _weights(path), _weights(plain)
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)
    assert all(p.is_contiguous() for p in auto.net.parameters())


def test_auto_on_an_amx_cpu_trains_bf16_channels_last(tiny_root: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    _flags(monkeypatch, frozenset({"avx2", "amx_bf16"}))
    tr = _trainer(tiny_root, tmp_path / "a")
    assert (tr.amp, tr.channels_last) == ("bf16", True)
    seen: List[bool] = []

    def hook(_: nn.Module, args: Any) -> None:
        seen.append(all(x.is_contiguous(memory_format=torch.channels_last) for x in args)
                    and torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)

    handle = tr.net.register_forward_pre_hook(hook)
    with caplog.at_level(logging.INFO, logger="selfhdr.engine.trainer"):
        path = tr.fit()
    handle.remove()
    assert seen == [True, True]
    (line,) = [m for m in _lines(caplog) if "training in" in m]
    assert line.startswith("stage1: training in bf16 autocast (CPU has AMX-BF16), channels-last: "
                           "numerics differ from fp32")
    # The weights go back to the usual layout and load into a fresh network.
    assert all(p.is_contiguous() for p in tr.net.parameters())
    net = build_backbone("AHDRNet", **TINY_NET)
    net.load_state_dict(_weights(path))


def test_bf16_covers_the_network_only_and_losses_run_in_fp32(tiny_root: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Under autocast the SSIM structure loss's variances cancel in bf16 and stage 2 diverged
    (measured: 20 non-finite steps by step 66 of configs/cpu_long.yaml on an AVX512-BF16 EPYC)."""
    import selfhdr.methods.supervised as supervised

    _flags(monkeypatch, frozenset({"avx2", "amx_bf16"}))
    tr = _trainer(tiny_root, tmp_path / "a")
    seen: List[Any] = []
    real = supervised.mu_l1

    def recording(pred: torch.Tensor, label: torch.Tensor, *a: Any) -> torch.Tensor:
        seen.append((pred.dtype, torch.is_autocast_enabled("cpu")))
        return real(pred, label, *a)

    monkeypatch.setattr(supervised, "mu_l1", recording)
    tr.fit()
    assert seen == [(torch.float32, False)] * 2


def test_selfhdr_stage2_loss_under_bf16_is_the_fp32_loss_of_its_output() -> None:
    from selfhdr.losses.ssim import SSIMStructureLoss
    from selfhdr.methods.selfhdr import SelfHDRStage2, Stage2Config

    torch.manual_seed(0)
    net = build_backbone("AHDRNet", **TINY_NET)
    method = SelfHDRStage2(net, Stage2Config(structure_loss="ssim", noise_sigma=0.0))
    g = torch.Generator().manual_seed(1)
    batch = {f"x{i}": torch.rand(2, 6, 24, 24, generator=g) for i in (1, 2, 3)}
    batch.update(color=torch.rand(2, 3, 24, 24, generator=g), stru=torch.rand(2, 3, 24, 24, generator=g),
                 t=torch.tensor([[1.0, 4.0, 16.0]] * 2))
    method.autocast_dtype = torch.bfloat16
    result = method.training_step(batch)
    out = result["out"]
    assert out.dtype == torch.float32
    from selfhdr.losses.mu_l1 import mu_l1
    from selfhdr.methods.selfhdr import stage2_mask
    expected = mu_l1(out, batch["color"], stage2_mask(batch["color"], batch["stru"], method.cfg.mask_threshold)) \
        + SSIMStructureLoss()(out, batch["stru"])
    assert torch.allclose(result["loss"], expected, rtol=1e-6, atol=0)


def test_explicit_settings_that_change_numerics_say_so(tiny_root: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "compile", lambda m, **_: m)
    tr = _trainer(tiny_root, tmp_path / "a", amp="bf16", channels_last=True, compile=True)
    assert tr.numerics() == (
        "stage1: training in bf16 autocast (train.amp=bf16), channels-last, torch.compile: numerics differ "
        "from fp32 (bf16 rounding; channels-last kernels round differently; compiled kernels fuse and reorder)")
    assert _trainer(tiny_root, tmp_path / "b", amp="off", channels_last=False).numerics() == \
        "stage1: training in fp32 (train.amp=off): numerics are plain fp32"


def test_resuming_with_other_numerics_warns(tiny_root: Path, tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    _trainer(tiny_root, tmp_path, amp="off").fit()
    tr = _trainer(tiny_root, tmp_path, amp="bf16", epochs=2)
    with caplog.at_level(logging.WARNING, logger="selfhdr.engine.trainer"):
        assert tr.resume()
    (msg,) = _lines(caplog, logging.WARNING)
    assert "amp=off" in msg and "amp=bf16" in msg and "differ" in msg


# ----------------------------------------------------------------------------- compile


def test_compiled_training_saves_the_plain_keys(tiny_root: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """Dynamo for real (its cheap 'eager' backend: no C++ build in the test): checkpoints keep
    the bare module's keys, not OptimizedModule's ``_orig_mod.`` ones."""
    real, made = torch.compile, []

    def compile_eager(module: nn.Module, **_: Any) -> nn.Module:
        made.append(real(module, backend="eager"))
        return made[-1]

    monkeypatch.setattr(torch, "compile", compile_eager)
    torch._dynamo.reset()
    tr = _trainer(tiny_root, tmp_path, compile=True)
    keys = set(build_backbone("AHDRNet", **TINY_NET).state_dict())
    with caplog.at_level(logging.WARNING, logger="selfhdr.engine.trainer"):
        path = tr.fit()
    assert len(made) == 1 and any(k.startswith("_orig_mod.") for k in made[0].state_dict())
    assert not _lines(caplog, logging.WARNING)
    assert set(_weights(path)) == keys
    assert set(torch.load(tmp_path / "checkpoint.pth", weights_only=False)["state_dict"]) == keys
    assert tr.method.net is tr.net  # the wrapper is gone after fit
    torch._dynamo.reset()


def test_compile_unavailable_falls_back_with_one_warning(tiny_root: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("torch.compile is not supported on this platform")

    monkeypatch.setattr(torch, "compile", broken)
    with caplog.at_level(logging.WARNING, logger="selfhdr.engine.trainer"):
        path = _trainer(tiny_root, tmp_path / "c", compile=True).fit()
    (msg,) = _lines(caplog, logging.WARNING)
    assert "torch.compile failed" in msg and "not supported on this platform" in msg and "eagerly" in msg
    eager = _weights(_trainer(tiny_root, tmp_path / "e").fit())
    assert all(torch.equal(v, eager[k]) for k, v in _weights(path).items())


class _FailsToCompile(nn.Module):
    """What inductor without a C++ compiler does: the wrapper raises on its first call."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, *args: Any) -> Any:
        self.calls += 1
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nlong traceback text")


def test_compile_failing_on_the_first_step_continues_eagerly(tiny_root: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    made: List[_FailsToCompile] = []
    monkeypatch.setattr(torch, "compile", lambda m, **_: made.append(_FailsToCompile(m)) or made[-1])
    with caplog.at_level(logging.WARNING, logger="selfhdr.engine.trainer"):
        tr = _trainer(tiny_root, tmp_path / "c", compile=True, iters_per_epoch=3)
        path = tr.fit()
    assert made[0].calls == 1  # tried once, then eager for the rest
    (msg,) = _lines(caplog, logging.WARNING)
    assert "No working C++ compiler found" in msg and "long traceback" not in msg
    eager = _weights(_trainer(tiny_root, tmp_path / "e", iters_per_epoch=3).fit())
    assert all(torch.equal(v, eager[k]) for k, v in _weights(path).items())
    assert set(_weights(path)) == set(eager)


def test_an_error_that_is_not_the_compilers_still_raises(tiny_root: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "compile", lambda m, **_: _FailsToCompile(m))
    tr = _trainer(tiny_root, tmp_path, compile=True)

    def bad_step(batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        tr.method.net(batch["x1"], batch["x2"], batch["x3"])
        raise ValueError("a bug in the method")

    monkeypatch.setattr(tr.method, "training_step", bad_step)
    with pytest.raises(ValueError, match="a bug in the method"):
        tr.fit()


def test_a_run_started_with_amp_off_reopens_with_the_new_default(tmp_path: Path) -> None:
    """Run folders saved before 'auto' existed (amp: off) keep working without --resume."""
    from selfhdr.engine.run_dir import open_run

    base = ["name=r", f"output_dir={tmp_path}"]
    open_run(load_config(None, [*base, "train.amp=off"]))
    (tmp_path / "r" / "stage1").mkdir(parents=True)
    (tmp_path / "r" / "stage1" / "checkpoint.pth").write_bytes(b"x")
    cfg = open_run(load_config(None, base))
    assert (cfg.train.amp, cfg.train.channels_last, cfg.train.compile) == ("auto", "auto", False)
    cfg = open_run(load_config(None, base), resume=True, overrides=["train.compile=true"])
    assert cfg.train.compile is True
