"""World snapshots: a session's whole state as a nested dict, and its file form (docs/sdk.md).

A snapshot is a dict of plain values (str, int, float, bool, None, lists, dicts) and tensors /
numpy arrays. `save(state, path)` writes one safetensors file: the tensors, and the rest as JSON
in the file's metadata (key "worldsim_snapshot"); `load(path)` reads it back.
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


def load(path: str) -> dict:
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(str(path), framework="pt") as f:
        meta = (f.metadata() or {}).get(_KEY)
    if meta is None:
        raise ValueError(f"{path} is not a worldsim snapshot (no {_KEY!r} metadata)")
    return _unflatten(json.loads(meta), load_file(str(path)))
