"""Checkpoints: a folder with `model.safetensors` (weights) and `config.json` (everything else).

    save_checkpoint(model, "ckpt/", controls={"camera": {"kind": "od", "fovy_deg": 60.0, "scales": [...]}})
    model, meta = load_checkpoint("ckpt/", device="cuda", dtype=torch.bfloat16)

config.json:
    {"format": "worldsim-aapt", "version": 1,
     "preset": "default", "resolution": [W, H], "window": N,     # for people; `model` is authoritative
     "model": {...ModelConfig...},
     "controls": {kind: encoder config (e.g. camera kind, fovy, scale constants)},
     "latent_stats": {"mean": [16 floats], "std": [16 floats]}}

Loading builds the model on the meta device and assigns the file's tensors (no double memory,
no init work). Weights are read through safetensors only, never pickle. Every failure (missing
file, corrupt JSON or weights, a config that does not match the weights) raises CheckpointError
saying which file and what to do.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from ..errors import WorldsimUserError
from ..config import ModelConfig
from .model import AaptModel

FORMAT, VERSION = "worldsim-aapt", 1
WEIGHTS, CONFIG = "model.safetensors", "config.json"


class CheckpointError(WorldsimUserError):
    pass


def save_checkpoint(model: AaptModel, path: str | Path, controls: dict[str, dict] | None = None,
                    extra: dict[str, Any] | None = None) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg
    meta = {"format": FORMAT, "version": VERSION, "preset": cfg.name, "resolution": [cfg.width, cfg.height],
            "window": cfg.generator.window, "model": cfg.to_dict(), "controls": controls or {},
            "latent_stats": {"mean": model.vae.latent_mean.float().tolist(),
                             "std": model.vae.latent_std.float().tolist()},
            **(extra or {})}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()
             if not k.startswith(model.omitted)}
    if model.omitted:                           # loaded from a shipped checkpoint: those are zeros, not weights
        meta["omitted"] = list(model.omitted)
    save_file(state, str(path / WEIGHTS), metadata={"format": FORMAT})
    (path / CONFIG).write_text(json.dumps(meta, indent=1))
    return path


def __getattr__(name: str):
    if name == "save_shipped":                  # the shipped format lives in shipped.py
        from .shipped import save_shipped
        return save_shipped
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def weight_files(path: Path, meta: dict[str, Any]) -> list[Path]:
    """The checkpoint's weight files: its shards (config.json `weights`) or model.safetensors."""
    names = meta.get("weights", [WEIGHTS])
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n == Path(n).name for n in names):
        raise CheckpointError(f"{path / CONFIG}: `weights` must be a list of file names in the checkpoint folder")
    return [path / n for n in names]


def read_config(path: str | Path) -> dict[str, Any]:
    """The checkpoint's config.json, checked (no weights are read)."""
    path = Path(path)
    if path.is_file() and path.name in (WEIGHTS, CONFIG):
        path = path.parent
    cfg_file = path / CONFIG
    if not path.is_dir() or not cfg_file.is_file():
        raise CheckpointError(f"no checkpoint at {path}: expected a folder with {CONFIG} and {WEIGHTS} "
                              "(written by save_checkpoint or `worldsim train`)")
    try:
        meta = json.loads(cfg_file.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError) as err:   # RecursionError: absurdly deep nesting
        raise CheckpointError(f"{cfg_file} is not valid JSON ({type(err).__name__}: {str(err)[:200]}); "
                              "the checkpoint is corrupt") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_file} is not a worldsim AAPT checkpoint config (format {FORMAT!r} expected)")
    missing = [f.name for f in weight_files(path, meta) if not f.is_file()]
    if missing:
        raise CheckpointError(f"checkpoint {path} is incomplete: missing {', '.join(missing)}")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{cfg_file} has version {meta.get('version')!r}; this worldsim reads version {VERSION}")
    _check_types(cfg_file, meta)
    stats = meta.get("latent_stats", {})
    channels = meta.get("model", {}).get("vae", {}).get("latent_channels", 16)
    for key in ("mean", "std"):
        values = stats.get(key)
        if not isinstance(values, list) or len(values) != channels or not all(map(_finite, values)):
            raise CheckpointError(f"{cfg_file}: latent_stats.{key} must be {channels} finite numbers")
    if min(stats["std"]) <= 0:
        raise CheckpointError(f"{cfg_file}: latent_stats.std must be positive")
    return meta


def _finite(v: Any) -> bool:
    return type(v) in (int, float) and (type(v) is float or abs(v) < 2 ** 1000) and math.isfinite(v)


def _check_types(cfg_file: Path, meta: dict) -> None:
    """The parts of config.json read before the model config is built must have the right JSON types."""
    for key in ("model", "latent_stats", "controls"):
        if not isinstance(meta.get(key, {}), dict):
            raise CheckpointError(f"{cfg_file}: `{key}` must be a JSON object, got {type(meta[key]).__name__}")
    vae = meta.get("model", {}).get("vae", {})
    if not isinstance(vae, dict):
        raise CheckpointError(f"{cfg_file}: `model.vae` must be a JSON object, got {type(vae).__name__}")
    channels = vae.get("latent_channels", 16)
    if type(channels) is not int or not 0 < channels <= 4096:
        raise CheckpointError(f"{cfg_file}: `model.vae.latent_channels` must be an integer in 1..4096, got {channels!r}")


def load_checkpoint(path: str | Path, device="cpu", dtype: torch.dtype | None = None
                    ) -> tuple[AaptModel, dict[str, Any]]:
    """(model on `device`, config.json contents). dtype: cast the weights (default: as stored)."""
    from .shipped import read_weights

    meta = read_config(path)
    path = Path(path) if Path(path).is_dir() else Path(path).parent
    try:
        cfg = ModelConfig.from_dict(meta["model"])
    except (KeyError, TypeError, ValueError, AttributeError) as err:   # a field of the wrong JSON type
        raise CheckpointError(f"{path / CONFIG}: bad model config ({err})") from None
    files = weight_files(path, meta)
    state = read_weights(path, meta, files, device, dtype)
    with torch.device("meta"):
        model = AaptModel(cfg)
    omitted = tuple(meta.get("omitted", ()))
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith(omitted)}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = [f"{name}: {', '.join(items[:4])}{' ...' if len(items) > 4 else ''}"
                 for name, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if items]
        where = path / WEIGHTS if len(files) == 1 else f"{path}/{files[0].name}..{files[-1].name}"
        raise CheckpointError(f"{where} does not match the model in {CONFIG} "
                              f"(preset {cfg.name!r}): " + "; ".join(parts))
    if dtype is not None:
        state = {k: v.to(dtype) for k, v in state.items()}
    model.load_state_dict(state, assign=True, strict=not omitted)
    if omitted:                                 # left out when shipped: materialised as zeros, unused in play
        for name, module in model.named_modules():
            if f"{name}." in omitted:
                module.to_empty(device=device)
                with torch.no_grad():
                    for t in module.state_dict().values():
                        t.zero_()
                if dtype is not None:
                    module.to(dtype)
        model.omitted = omitted
    model.vae.set_latent_stats(meta["latent_stats"]["mean"], meta["latent_stats"]["std"])
    return model.eval(), meta
