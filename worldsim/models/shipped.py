"""The shipped checkpoint format: small weight shards to carry inside the package.

    save_shipped(model, "worldsim/assets/default", dtype="int8", controls=..., extra=...)
    worldsim train ship --model runs/adapt --out worldsim/assets/default --dtype int8

A shipped folder is a checkpoint folder (config.json as save_checkpoint writes it) whose weights
are shards model-00001.safetensors, ... of at most `shard_bytes` each, listed in config.json
`weights`; the modules under `omitted` (the full VAE decoder: play decodes with the light one)
are left out, and `dtype` says how the rest is stored:

- float16 / bfloat16 / float32: every tensor cast to it.
- int8: every floating weight of 2 or more dimensions (linear matrices, embeddings, conv kernels)
  as symmetric int8 per output channel (dim 0): q = round(w / s), s = max|w| / 127 of that
  channel, stored as float16 in KEY.int8_scale beside KEY; everything else (norms, biases,
  buffers) in float16. Dequantised (q * s) on load, into the dtype asked of load_checkpoint.

load_checkpoint reads the shards through `read_weights`; a shard listed but absent, truncated,
or holding a tensor of the wrong shape, or a key missing, is a one-line CheckpointError.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

SCALE_SUFFIX = ".int8_scale"
SHARD_BYTES = 15 * 2**20
DTYPES = ("float16", "bfloat16", "float32", "int8")


def quantize_int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8: (q int8 like w, scale float16 (w.shape[0],))."""
    flat = w.detach().float().reshape(w.shape[0], -1)
    amax = flat.abs().amax(dim=1)
    scale = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax)).to(torch.float16)
    scale = torch.where(scale > 0, scale, torch.full_like(scale, 2.0 ** -24))    # underflowed to 0 in fp16
    q = (flat / scale.float()[:, None]).round().clamp(-127, 127).to(torch.int8)
    return q.reshape(w.shape), scale


def dequantize_int8(q: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return (q.float() * scale.float().reshape(-1, *([1] * (q.dim() - 1)))).to(dtype)


def _quantizable(t: torch.Tensor) -> bool:
    return t.is_floating_point() and t.dim() >= 2 and t.shape[0] > 0


def shipped_state(state: dict[str, torch.Tensor], dtype: str) -> dict[str, torch.Tensor]:
    """The tensors to store for `dtype` (int8: quantised weights + their scales, the rest float16)."""
    if dtype not in DTYPES:
        raise ValueError(f"shipped dtype must be one of {DTYPES}, got {dtype!r}")
    out: dict[str, torch.Tensor] = {}
    for key, t in state.items():
        t = t.detach().cpu()
        if dtype == "int8" and _quantizable(t):
            out[key], out[key + SCALE_SUFFIX] = quantize_int8(t)
        else:
            out[key] = t.to(torch.float16 if dtype == "int8" else getattr(torch, dtype)) if t.is_floating_point() else t
    return {k: v.contiguous() for k, v in out.items()}


def save_shipped(model, path: str | Path, dtype: torch.dtype | str = torch.float16,
                 shard_bytes: int = SHARD_BYTES, omit: tuple[str, ...] = ("vae.decoder.",),
                 controls: dict[str, dict] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write `model` as a shipped checkpoint (module docstring): `dtype` float16 | bfloat16 | float32 | int8,
    shards of at most `shard_bytes`, the modules under `omit` left out."""
    from safetensors.torch import save_file

    from .checkpoint import CONFIG, FORMAT, WEIGHTS, save_checkpoint

    dtype = str(dtype).removeprefix("torch.")
    omit = tuple(dict.fromkeys((*omit, *model.omitted)))     # what the model itself lacks stays out
    path = Path(path)
    save_checkpoint(model, path, controls=controls, extra=extra)        # config.json (and full weights)
    (path / WEIGHTS).unlink()
    for old in path.glob("model-*.safetensors"):                        # a previous shipping's shards
        old.unlink()
    state = shipped_state({k: v for k, v in model.state_dict().items() if not k.startswith(omit)}, dtype)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in state.items():                 # a weight and its scale are adjacent: same or next shard
        nbytes = tensor.numel() * tensor.element_size()
        if nbytes > shard_bytes:
            raise ValueError(f"{key} alone ({nbytes} bytes) is larger than a shard ({shard_bytes} bytes)")
        if size + nbytes > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    names = [f"model-{i + 1:05d}.safetensors" for i in range(len(shards))]
    for name, shard in zip(names, shards):
        save_file(shard, str(path / name), metadata={"format": FORMAT})
    meta = json.loads((path / CONFIG).read_text())
    meta.update(weights=names, omitted=list(omit), dtype=dtype)
    if dtype == "int8":
        meta["quantization"] = {"scheme": "symmetric int8 per output channel (dim 0)",
                                "scales": f"KEY{SCALE_SUFFIX} (float16)"}
    (path / CONFIG).write_text(json.dumps(meta, indent=1))
    return path


def read_weights(path: Path, meta: dict[str, Any], files: list[Path], device,
                 dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """All tensors of the weight files, int8 ones dequantised (to `dtype`, float32 if None)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .checkpoint import CheckpointError

    state: dict[str, torch.Tensor] = {}
    for file in files:
        try:
            state.update(load_file(str(file), device=str(device)))
        except (SafetensorError, OSError, RuntimeError) as err:
            raise CheckpointError(f"{file} is not a readable safetensors file ({str(err)[:200]}); "
                                  "the checkpoint is corrupt or truncated") from None
    if meta.get("dtype") != "int8":
        return state
    for key in [k for k in state if k.endswith(SCALE_SUFFIX)]:
        scale, name = state.pop(key), key[:-len(SCALE_SUFFIX)]
        q = state.get(name)
        if q is None or q.dtype != torch.int8 or q.dim() < 1 or scale.shape != (q.shape[0],):
            got = "absent" if q is None else f"{q.dtype} {tuple(q.shape)}"
            raise CheckpointError(f"{path}: the int8 scale {key} {tuple(scale.shape)} does not fit {name} ({got}); "
                                  "the checkpoint is corrupt")
        state[name] = dequantize_int8(q, scale, dtype or torch.float32)
    stray = [k for k, v in state.items() if v.dtype == torch.int8]
    if stray:
        raise CheckpointError(f"{path}: int8 tensors without a {SCALE_SUFFIX}: {', '.join(stray[:4])}; "
                              "the checkpoint is corrupt")
    return state
