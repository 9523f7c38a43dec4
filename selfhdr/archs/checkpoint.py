"""Reading and writing network weights: published SelfHDR files, ours, and safetensors.

Accepted layouts: ``{'state_dict': sd, ...metadata}`` (the published format and our training
checkpoints; every key but ``'state_dict'`` is metadata), a bare state_dict, keys prefixed by
``module.`` (DataParallel/DDP), and ``.safetensors`` files. Pickles are read with
``weights_only=True``, which refuses to import or call anything: a checkpoint is data.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes
from torch import Tensor, nn

from ..errors import CheckpointError, PathLike

StateDict = Dict[str, Tensor]

# Buffers the published transformers store but that are functions of the window size; our
# modules may rebuild them on the fly, so a file may carry them when the model does not.
DERIVED_BUFFERS = frozenset({"relative_position_index", "attn_mask"})

_SAFETENSORS_SUFFIX = ".safetensors"
_LISTED = 5  # keys shown per category in a mismatch message


def _looks_like_safetensors(path: Path) -> bool:
    """True if the file starts like safetensors: u64 header length, then a JSON object."""
    with path.open("rb") as f:
        head = f.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return int.from_bytes(head[:8], "little") < path.stat().st_size


def _decode_meta(value: str) -> Any:
    """Metadata values are JSON when we wrote them; keep foreign plain strings as they are."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _read_safetensors(path: Path) -> Tuple[StateDict, dict]:
    """Weights and decoded header metadata of a safetensors file."""
    with safe_open(str(path), framework="pt", device="cpu") as f:
        header = f.metadata() or {}
        state = {key: f.get_tensor(key) for key in f.keys()}
    return state, {key: _decode_meta(value) for key, value in header.items()}


def _split_checkpoint(obj: Any) -> Tuple[Any, dict]:
    """Separate the network weights from the metadata of a loaded ``.pth`` object."""
    if isinstance(obj, Mapping) and "state_dict" in obj:
        return obj["state_dict"], {k: v for k, v in obj.items() if k != "state_dict"}
    if isinstance(obj, Mapping) and obj and all(isinstance(v, Tensor) for v in obj.values()):
        return obj, {}
    keys = list(obj)[:_LISTED] if isinstance(obj, Mapping) else None
    found = f"a dict with keys {keys}" if keys is not None else f"a {type(obj).__name__}"
    raise CheckpointError(
        f"not a checkpoint: expected a state_dict or {{'state_dict': ...}}, found {found}"
    )


def _reason(exc: Exception) -> str:
    """A one-line cause; drops torch's advice to retry with ``weights_only=False``."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        # The pickle holds something other than tensors and plain containers: refused.
        detail = text.split(marker, 1)[1].strip().splitlines()[0]
        return f"refused a pickle that is not plain data (corrupt, or it would run code): {detail}"
    lines = text.strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def _strip_wrapper_prefix(state: StateDict) -> StateDict:
    """Drop the ``module.`` prefix that DataParallel/DDP add, if every key carries it."""
    while state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return state


def read_state_dict(path: PathLike) -> Tuple[StateDict, dict]:
    """Read a checkpoint file into (state_dict, metadata); raises CheckpointError if unusable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        if path.suffix == _SAFETENSORS_SUFFIX or _looks_like_safetensors(path):
            state, meta = _read_safetensors(path)
        else:
            state, meta = _split_checkpoint(torch.load(path, map_location="cpu", weights_only=True))
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001  (corrupt files surface as many exception types)
        raise CheckpointError(f"{path}: cannot read checkpoint: {_reason(exc)}") from exc
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f"{path}: 'state_dict' is empty or not a mapping")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"{path}: state_dict entries are not tensors: {bad[:_LISTED]}")
    return _strip_wrapper_prefix(dict(state)), meta


def _unwrap(model: nn.Module) -> nn.Module:
    """The network inside a DataParallel/DDP wrapper, or the model itself."""
    wrappers = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    return model.module if isinstance(model, wrappers) else model


def _is_derived(key: str) -> bool:
    """True for buffers computed from the window size (compared by the last name component)."""
    return key.rsplit(".", 1)[-1] in DERIVED_BUFFERS


def _listing(label: str, keys: List[str]) -> str:
    """'N <label> keys (first few, ...)' for an error message."""
    shown = ", ".join(keys[:_LISTED]) + (", ..." if len(keys) > _LISTED else "")
    return f"{len(keys)} {label} key{'s' if len(keys) != 1 else ''} ({shown})"


def load_checkpoint(model: nn.Module, path: PathLike, strict: bool = True) -> dict:
    """Load a checkpoint's weights into ``model`` and return its metadata.

    ``strict=False`` tolerates missing and unexpected keys; mis-shaped keys are always an
    error. Derived buffers (``relative_position_index``, ``attn_mask``) the model does not
    hold are ignored, and the model's own are kept if the file lacks them.
    """
    state, meta = read_state_dict(path)
    net = _unwrap(model)
    own = net.state_dict()
    missing = [k for k in own if k not in state and not _is_derived(k)]
    unexpected = [k for k in state if k not in own and not _is_derived(k)]
    misshaped = [
        f"{k}: file {list(state[k].shape)} vs model {list(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    problems = []
    if misshaped:
        problems.append(_listing("mis-shaped", misshaped))
    if strict and missing:
        problems.append(_listing("missing", missing))
    if strict and unexpected:
        problems.append(_listing("unexpected", unexpected))
    if problems:
        raise CheckpointError(
            f"{path}: checkpoint does not match {type(net).__name__}: " + "; ".join(problems)
        )
    net.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return meta


def _encode_meta(path: Path, meta: Mapping[str, Any]) -> Dict[str, str]:
    """Safetensors headers hold strings only: store each metadata value as JSON."""
    header = {}
    for key, value in meta.items():
        try:
            header[str(key)] = json.dumps(value)
        except TypeError as exc:
            raise CheckpointError(
                f"{path}: metadata {key!r} cannot go in a safetensors header (not JSON): {exc}"
            ) from exc
    return header


def save_weights(
    model_or_state_dict: Union[nn.Module, Mapping[str, Tensor]],
    path: PathLike,
    meta: Optional[Mapping[str, Any]] = None,
) -> None:
    """Atomically write weights (+ metadata) as ``{'state_dict': sd, **meta}`` or safetensors."""
    path = Path(path)
    src = model_or_state_dict
    state = _unwrap(src).state_dict() if isinstance(src, nn.Module) else src
    meta = dict(meta or {})
    if "state_dict" in meta:
        raise CheckpointError(f"{path}: metadata may not use the reserved key 'state_dict'")
    # Own CPU copies: portable files, and safetensors refuses tensors that share storage.
    state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}
    if path.suffix == _SAFETENSORS_SUFFIX:
        payload: Optional[bytes] = safetensors_bytes(state, metadata=_encode_meta(path, meta))
    else:
        payload = None

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if payload is not None:
                f.write(payload)
            else:
                torch.save({"state_dict": state, **meta}, f)
            f.flush()
            os.fsync(f.fileno())
        if payload is None:
            _check_loadable(path, Path(tmp_name))
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; a weights file is meant to be shared
        os.replace(tmp_name, path)
    except BaseException:
        # Leave no half-written temp file behind, then let the failure propagate.
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def _check_loadable(path: Path, written: Path) -> None:
    """Refuse to publish a file our own safe loader would reject (e.g. numpy objects in meta)."""
    try:
        torch.load(written, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (same varied failures as when reading)
        raise CheckpointError(
            f"{path}: not written: metadata holds objects that weights_only loading refuses "
            f"(keep to tensors, numbers, strings, lists and dicts): {_reason(exc)}"
        ) from exc


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the file itself is already synced
    finally:
        os.close(fd)
