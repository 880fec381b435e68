"""Training checkpoints: atomic step folders from which a run resumes exactly.

    save_train_state(out / "checkpoints", step, modules={"generator": g}, optimizers={"g": opt},
                     data=reader.state_dict(), config=cfg.to_dict())
    state = load_train_state(out / "checkpoints", modules=..., optimizers=...)   # None if no checkpoint

Layout of one checkpoint (`checkpoints/step_00001000/`):
    modules.safetensors     every module's state dict, keys "<module>.<param>"
    optim.safetensors       every optimiser's tensors, keys "<optim>.<param index>.<state key>"
    torch_rng.safetensors   torch CPU (and CUDA) generator states (uint8)
    state.json              step, data position, python/numpy RNG, optimiser hyper-parameters, config
`checkpoints/latest` names the newest folder. A folder is written under a temporary name and
renamed into place (os.replace), then `latest` is replaced the same way: a killed run leaves
either the old or the new checkpoint, never half of one. Only safetensors and JSON are read.
"""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import WorldsimUserError
from .distributed import barrier, full_tensor, is_main, shard_like

LATEST = "latest"


class TrainCheckpointError(WorldsimUserError):
    pass


def rng_state() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(JSON-able python/numpy states, torch generator states as uint8 tensors)."""
    np_state = np.random.get_state()
    py = random.getstate()
    meta = {"python": [py[0], list(py[1]), py[2]],
            "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])]}
    tensors = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda{i}"] = s
    return meta, tensors


def set_rng_state(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    v, state, gauss = meta["python"]
    random.setstate((v, tuple(state), gauss))
    name, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["cpu"])
    cuda = [tensors[f"cuda{i}"] for i in range(torch.cuda.device_count()) if f"cuda{i}" in tensors]
    if cuda:
        torch.cuda.set_rng_state_all(cuda)


def _split_optimizer(name: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors, plain = {}, {}
    for idx, st in sd["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"{name}.{idx}.{key}"] = full_tensor(value)
            else:
                plain[f"{idx}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "plain": plain}


def _join_optimizer(name: str, tensors: dict, meta: dict) -> dict:
    state: dict[int, dict] = {}
    prefix = name + "."
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, sub = key[len(prefix):].split(".", 1)
            state.setdefault(int(idx), {})[sub] = value
    for key, value in meta["plain"].items():
        idx, sub = key.split(".", 1)
        state.setdefault(int(idx), {})[sub] = value
    groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()}
              for g in meta["param_groups"]]               # JSON turned tuples (betas) into lists
    return {"state": state, "param_groups": groups}


def _shard_optimizer_state(opt: torch.optim.Optimizer, sd: dict) -> dict:
    """Full per-parameter state tensors cut into the local shards of sharded parameters."""
    params = [p for g in opt.param_groups for p in g["params"]]
    for idx, st in sd["state"].items():
        p = params[idx]
        for key, value in st.items():
            if torch.is_tensor(value) and value.shape == p.shape and value.dim() > 0:
                st[key] = shard_like(value, p)
    return sd


def save_train_state(root: str | Path, step: int, modules: dict[str, nn.Module],
                     optimizers: dict[str, torch.optim.Optimizer], data: dict, config: dict,
                     keep: int = 2, elapsed_s: float = 0.0) -> Path:
    """Every rank calls this (sharded tensors are gathered); rank 0 writes. `elapsed_s`: training
    seconds so far (a time-budgeted run resumes with the budget it had left)."""
    root = Path(root)
    final = root / f"step_{step:08d}"
    weights = {f"{m}.{k}": full_tensor(v) for m, mod in modules.items() for k, v in mod.state_dict().items()}
    opt_tensors, opt_meta = {}, {}
    for name, opt in optimizers.items():
        t, m = _split_optimizer(name, opt)
        opt_tensors.update(t)
        opt_meta[name] = m
    if is_main():
        _write(root, final, step, weights, opt_tensors, opt_meta, data, config, keep, elapsed_s)
    barrier()
    return final


def _write(root: Path, final: Path, step: int, weights: dict, opt_tensors: dict, opt_meta: dict,
           data: dict, config: dict, keep: int, elapsed_s: float = 0.0) -> None:
    from safetensors.torch import save_file

    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp_step_{step:08d}_{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(weights, str(tmp / "modules.safetensors"))
    save_file(opt_tensors, str(tmp / "optim.safetensors"))
    rng_meta, rng_tensors = rng_state()
    save_file(rng_tensors, str(tmp / "torch_rng.safetensors"))
    state = {"step": step, "elapsed_s": elapsed_s, "data": data, "rng": rng_meta, "optimizers": opt_meta,
             "config": config}
    (tmp / "state.json").write_text(json.dumps(state, indent=1))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    pointer = root / f".tmp_{LATEST}_{os.getpid()}"
    pointer.write_text(final.name)
    os.replace(pointer, root / LATEST)
    for old in sorted(root.glob("step_*"))[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(root: str | Path) -> Path | None:
    root = Path(root)
    pointer = root / LATEST
    if not pointer.is_file():
        return None
    path = root / pointer.read_text().strip()
    if not (path / "state.json").is_file():
        raise TrainCheckpointError(f"{pointer} names {path.name}, which is missing or incomplete; "
                                   "delete the pointer to start over, or point it at an intact step folder")
    return path


def load_train_state(root: str | Path, modules: dict[str, nn.Module],
                     optimizers: dict[str, torch.optim.Optimizer]) -> dict | None:
    """Restore modules, optimisers and RNG from the newest checkpoint under `root`; returns
    state.json ({"step", "data", "config", ...}) or None when there is no checkpoint."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = latest_checkpoint(root)
    if path is None:
        return None
    try:
        state = json.loads((path / "state.json").read_text())
        weights = load_file(str(path / "modules.safetensors"))
        opt_tensors = load_file(str(path / "optim.safetensors"))
        rng = load_file(str(path / "torch_rng.safetensors"))
    except (OSError, SafetensorError, json.JSONDecodeError) as e:
        raise TrainCheckpointError(f"checkpoint {path} is unreadable ({e})") from None
    for name, mod in modules.items():
        prefix = name + "."
        current = mod.state_dict()
        sub = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        sub = {k: shard_like(v, current[k]) if k in current else v for k, v in sub.items()}
        try:
            mod.load_state_dict(sub, strict=True)
        except RuntimeError as e:
            raise TrainCheckpointError(f"checkpoint {path}: module {name!r} does not match ({e})") from None
    for name, opt in optimizers.items():
        if name not in state["optimizers"]:
            raise TrainCheckpointError(f"checkpoint {path} has no optimiser {name!r}")
        opt.load_state_dict(_shard_optimizer_state(opt, _join_optimizer(name, opt_tensors, state["optimizers"][name])))
    set_rng_state(state["rng"], rng)
    return state
