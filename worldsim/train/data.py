"""Training clips: a bank of tensors read in a seeded order whose position is saved for resume.

    bank = ClipBank.load("clips.safetensors")          # or ClipBank({"latents": ..., ...}, prompts)
    reader = ClipReader(bank, batch_size=8, seed=0)
    batch = next(reader)                              # {"latents": (B, F, C, h, w), ..., "prompts": [...]}
    state = reader.state_dict(); reader.load_state_dict(state)    # exact resume

A bank file is one safetensors file whose tensors share their first dimension (clips):
    latents   (N, F, C, h, w) float   normalised VAE latents   (stages adapt, distill, adversarial)
    controls  (N, F, K, h, w) float   per-latent-frame control channels (optional)
    video     (N, 3, 1+4k, H, W) uint8  RGB clips               (stage vae)
    c2w       (N, 1+4k, 4, 4) float64   camera poses of the video frames (optional)
and its metadata holds {"prompts": JSON list of N strings, "info": JSON object} (optional).
`worldsim train bank` (bank.py) renders banks from the reference world; `ClipBank.from_frames`
(frames.py) makes one from your own engine's frames and camera poses.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from ..errors import WorldsimUserError


class DataError(WorldsimUserError):
    pass


class ClipBank:
    def __init__(self, tensors: dict[str, Tensor], prompts: list[str] | None = None, info: dict | None = None):
        if not tensors:
            raise DataError("a clip bank needs at least one tensor (latents or video)")
        sizes = {k: v.shape[0] for k, v in tensors.items()}
        if len(set(sizes.values())) != 1:
            raise DataError(f"clip bank tensors disagree on the number of clips: {sizes}")
        self.tensors = tensors
        self.size = next(iter(sizes.values()))
        self.prompts = prompts if prompts is not None else [""] * self.size
        self.info = info or {}          # JSON: how the bank was made; info["controls"] -> checkpoints
        if len(self.prompts) != self.size:
            raise DataError(f"clip bank has {self.size} clips but {len(self.prompts)} prompts")

    @classmethod
    def from_frames(cls, videos, c2w, fovy_deg: float = 60.0, camera: str | None = "od",
                    prompts: list[str] | None = None, scales: list[float] | None = None) -> "ClipBank":
        """A pixel bank from your engine: videos uint8 (N, 1+4k, H, W, 3) (or a list), c2w (N, 1+4k, 4, 4)
        OpenCV camera-to-world; camera controls encoded as the worker does (frames.py)."""
        from .frames import bank_from_frames
        return bank_from_frames(videos, c2w, fovy_deg, camera, prompts, scales)

    def __len__(self) -> int:
        return self.size

    def require(self, *keys: str, path: str = "the clip bank") -> None:
        missing = [k for k in keys if k not in self.tensors]
        if missing:
            raise DataError(f"{path} lacks {', '.join(missing)} (has {', '.join(self.tensors)}); "
                            "see worldsim/train/data.py for the bank format")

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in self.tensors.items()}, str(path),
                  metadata={"prompts": json.dumps(self.prompts), "info": json.dumps(self.info)})

    @classmethod
    def load(cls, path: str | Path) -> "ClipBank":
        from safetensors import SafetensorError, safe_open
        if not Path(path).is_file():
            raise DataError(f"no clip bank at {path!r} (make one with `worldsim train bank`; docs/train.md)")
        try:
            with safe_open(str(path), framework="pt") as f:
                tensors = {k: f.get_tensor(k) for k in f.keys()}
                meta = f.metadata() or {}
                prompts = json.loads(meta.get("prompts", "null"))
                info = json.loads(meta.get("info", "null"))
        except (SafetensorError, OSError, json.JSONDecodeError) as e:
            raise DataError(f"{path} is not a readable clip bank ({e})") from None
        return cls(tensors, prompts, info)


def read_info(path: str | Path) -> dict:
    """A bank's info (how it was made) without reading its tensors; for a checkpoint folder, the
    control encoding it was trained with ({"controls": ...}), so a new bank can encode as it did."""
    from safetensors import SafetensorError, safe_open
    if Path(path).is_dir():
        from ..models.checkpoint import CheckpointError, read_config
        try:
            return {"controls": read_config(path).get("controls") or {}}
        except CheckpointError as e:
            raise DataError(str(e)) from None
    try:
        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {}).get("info", "null")) or {}
    except (SafetensorError, OSError, json.JSONDecodeError) as e:
        raise DataError(f"{path} is not a readable clip bank ({e})") from None


class ClipReader:
    """Batches in a seeded random order, epoch after epoch; (epoch, index) is the data position.

    Under torchrun each of `world` ranks reads `batch_size` clips: the ranks walk one shared
    order in global batches of batch_size * world and rank r takes every world-th clip from r."""

    def __init__(self, bank: ClipBank, batch_size: int, seed: int = 0, frames: int = 0, rank: int = 0,
                 world: int = 1):
        if batch_size * world > len(bank):
            raise DataError(f"batch size {batch_size} x {world} ranks is larger than the clip bank "
                            f"({len(bank)} clips)")
        self.bank, self.batch_size, self.seed, self.frames = bank, batch_size, seed, frames
        self.rank, self.world = rank, world
        self.epoch, self.index = 0, 0
        self._order = self._permutation()

    def _permutation(self) -> Tensor:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(len(self.bank), generator=gen)

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        size = self.batch_size * self.world
        if self.index + size > len(self.bank):                   # drop the ragged tail
            self.epoch, self.index = self.epoch + 1, 0
            self._order = self._permutation()
        rows = self._order[self.index:self.index + size][self.rank::self.world]
        self.index += size
        batch = {k: v[rows] for k, v in self.bank.tensors.items()}
        if self.frames:
            for k in ("latents", "controls"):
                if k in batch:
                    if batch[k].shape[1] < self.frames:
                        raise DataError(f"clips have {batch[k].shape[1]} latent frames, data.frames asks {self.frames}")
                    batch[k] = batch[k][:, :self.frames]
        batch["prompts"] = [self.bank.prompts[int(r)] for r in rows]
        return batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "index": self.index, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if state.get("seed") != self.seed:
            raise DataError(f"checkpoint data seed {state.get('seed')} differs from data.seed {self.seed}")
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
        self._order = self._permutation()
