"""A fixed tiny clip bank and tiny-preset configs for the training tests."""
from __future__ import annotations

import pytest
import torch

from worldsim.train.config import TrainConfig, config_from_dict
from worldsim.train.data import ClipBank


def make_bank(clips: int = 8, frames: int = 5, seed: int = 0) -> ClipBank:
    """Latent clips (N, F, 16, 4, 4) of the tiny preset: a random pattern that slides one latent
    pixel to the right per frame, so the next frame is predictable from the recycled one."""
    gen = torch.Generator().manual_seed(seed)
    first = torch.randn(clips, 16, 4, 4, generator=gen)
    latents = torch.stack([first.roll(i, dims=-1) for i in range(frames)], dim=1)
    return ClipBank({"latents": latents}, [f"clip {i}" for i in range(clips)])


def make_config(out_dir, stage: str = "adapt", steps: int = 20, **sections) -> TrainConfig:
    values = {"model": {"preset": "tiny"},
              "data": {"batch_size": 4, "seed": 0},
              "optim": {"lr": 3e-3, "warmup_steps": 0},
              "loop": {"steps": steps, "out_dir": str(out_dir), "log_every": 1, "checkpoint_every": 1000,
                       "device": "cpu", "tensorboard": False, "progress": False}}
    for name, extra in sections.items():
        values.setdefault(name, {}).update(extra)
    return config_from_dict(values, stage)


@pytest.fixture(autouse=True)
def _one_thread():
    # Identical float results across runs need a fixed intra-op thread count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_bank():
    return make_bank


@pytest.fixture
def tiny_config():
    return make_config
