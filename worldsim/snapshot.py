"""World snapshots: a session's whole state as a nested dict, and its file form (docs/sdk.md).

A snapshot is a dict of plain values (str, int, float, bool, None, lists, dicts) and tensors /
numpy arrays. `save(state, path)` writes one safetensors file: the tensors, and the rest as JSON
in the file's metadata (key "worldsim_snapshot"); `load(path)` reads it back. `dumps(state)` and
`loads(data)` are the same as bytes: the form a worker sends and takes over the protocol.
"""
from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np

FORMAT = 1
_KEY = "worldsim_snapshot"


def object_state(obj: Any) -> dict:
    """A copy of an object's plain attributes (numbers, strings, None, tuples, arrays, tensors)."""
    import torch
    out = {}
    for name, value in vars(obj).items():
        if value is None or isinstance(value, (bool, int, float, str, np.ndarray, torch.Tensor, tuple, list)):
            out[name] = value.clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value)
    return out


def set_object_state(obj: Any, state: dict) -> None:
    import torch
    for name, value in state.items():
        setattr(obj, name, value.clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value))


def _flatten(value: Any, tensors: dict, path: str) -> Any:
    import torch
    if isinstance(value, torch.Tensor):
        tensors[path] = value.detach().cpu().contiguous().clone()
        return {"__tensor__": path}
    if isinstance(value, np.ndarray):
        tensors[path] = torch.from_numpy(np.ascontiguousarray(value).copy())
        return {"__array__": path}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"snapshot: dict keys must be strings at {path or 'top'}")
        return {"__dict__": {k: _flatten(v, tensors, f"{path}.{k}" if path else k) for k, v in value.items()}}
    if isinstance(value, tuple):
        return {"__tuple__": [_flatten(v, tensors, f"{path}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_flatten(v, tensors, f"{path}.{i}") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"snapshot: cannot store {type(value).__name__} at {path or 'top'}")


def _unflatten(value: Any, tensors: dict) -> Any:
    if isinstance(value, list):
        return [_unflatten(v, tensors) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__array__" in value:
            return tensors[value["__array__"]].numpy()
        if "__tuple__" in value:
            return tuple(_unflatten(v, tensors) for v in value["__tuple__"])
        return {k: _unflatten(v, tensors) for k, v in value["__dict__"].items()}
    return value


def save(state: dict, path: str) -> None:
    from safetensors.torch import save_file
    tensors: dict = {}
    meta = _flatten(state, tensors, "")
    save_file(tensors, str(path), metadata={_KEY: json.dumps(meta)})


def dumps(state: dict) -> bytes:
    from safetensors.torch import save as save_bytes
    tensors: dict = {}
    meta = _flatten(state, tensors, "")
    return save_bytes(tensors, metadata={_KEY: json.dumps(meta)})


def loads(data: bytes, limit: int | None = None) -> dict:
    """`dumps` undone; ValueError (one line) for bytes that are not a worldsim snapshot."""
    from safetensors.torch import load as load_bytes
    data = bytes(data)
    if limit is not None and len(data) > limit:
        raise ValueError(f"a snapshot of {len(data)} bytes exceeds the limit of {limit}")
    try:
        size = int.from_bytes(data[:8], "little")
        if len(data) < 8 or size > len(data) - 8:
            raise ValueError("truncated header")
        meta = (json.loads(data[8:8 + size]).get("__metadata__") or {}).get(_KEY)
        if meta is None:
            raise ValueError(f"no {_KEY!r} metadata")
        return _unflatten(json.loads(meta), load_bytes(data))
    except Exception as err:      # safetensors and json raise several types for garbage
        raise ValueError(f"not a worldsim snapshot ({type(err).__name__}: {' '.join(str(err).split())[:200]})") from None


def load(path: str) -> dict:
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(str(path), framework="pt") as f:
        meta = (f.metadata() or {}).get(_KEY)
    if meta is None:
        raise ValueError(f"{path} is not a worldsim snapshot (no {_KEY!r} metadata)")
    return _unflatten(json.loads(meta), load_file(str(path)))


# ---- World.snapshot / restore: in process, or over the protocol (worldsim.runtime.sharing) -------
def session_state(world, what: str) -> dict:
    """The renderer's state of `world`'s session: from the renderer in this process, or the worker."""
    from .errors import WorldsimUserError
    renderer = getattr(world.client, "renderer", None)
    if renderer is not None and hasattr(world.client, "_states"):
        if not (hasattr(renderer, "snapshot") and hasattr(renderer, "restore")):
            raise WorldsimUserError(f"{what}: the {world.renderer!r} renderer does not support snapshots")
        return renderer.snapshot(world.client._states[world.session.id])
    data = _remote(world, what, lambda: world.client.snapshot(world.session))
    try:
        return loads(data)["session"]
    except (ValueError, KeyError, TypeError) as err:
        raise WorldsimUserError(f"{what}: the worker sent a bad snapshot: {err}") from None


def restore_session(world, state: dict) -> None:
    """Put `state` (a World snapshot) into `world`'s session, here or on its worker."""
    from .errors import WorldsimUserError
    from .rendering import RendererError
    renderer = getattr(world.client, "renderer", None)
    if renderer is not None and hasattr(world.client, "_states"):
        if not (hasattr(renderer, "snapshot") and hasattr(renderer, "restore")):
            raise WorldsimUserError(f"restore: the {world.renderer!r} renderer does not support snapshots")
        try:
            renderer.restore(world.client._states[world.session.id], state["session"])
        except (RendererError, KeyError, ValueError, RuntimeError) as err:
            raise WorldsimUserError(" ".join(f"restore: {err}".split())) from None
        return
    try:
        data = dumps({"format": FORMAT, "renderer": state["renderer"], "size": list(state["size"]),
                      "steps": int(state["steps"]), "session": state["session"]})
    except (KeyError, TypeError, ValueError) as err:
        raise WorldsimUserError(f"restore: not a whole snapshot ({type(err).__name__}: {err})") from None
    _remote(world, "restore", lambda: world.client.restore(world.session, data))


def _remote(world, what: str, call):
    from .errors import WorldsimUserError
    from .runtime.client import RequestError
    if not hasattr(world.client, "snapshot"):
        raise WorldsimUserError(f"{what}: this world's client cannot send snapshots")
    try:
        return call()
    except (RequestError, ValueError) as err:
        raise WorldsimUserError(" ".join(f"{what}: {err}".split())) from None
