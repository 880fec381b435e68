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


class PatternWalk:
    """A stochastic clip process with a real choice at every frame: latent frames are one of M
    fixed patterns (a random channel signature, constant over a 2x2 grid), and the next pattern is
    k + 1 or k - 1 (mod M) with equal odds, so the previous frame does not determine the next."""

    def __init__(self, patterns: int = 6, seed: int = 42):
        gen = torch.Generator().manual_seed(seed)
        self.patterns = torch.randn(patterns, 16, 1, 1, generator=gen).expand(patterns, 16, 2, 2).contiguous()

    def clips(self, clips: int, frames: int, seed: int) -> tuple[ClipBank, torch.Tensor]:
        """A bank of `clips` walks and their pattern indices (N, F)."""
        m = len(self.patterns)
        gen = torch.Generator().manual_seed(seed)
        k = [torch.randint(0, m, (clips,), generator=gen)]
        for _ in range(frames - 1):
            k.append((k[-1] + 2 * torch.randint(0, 2, (clips,), generator=gen) - 1) % m)
        index = torch.stack(k, dim=1)
        return ClipBank({"latents": self.patterns[index]}, [""] * clips), index

    def nearest_next_error(self, latents: torch.Tensor, index: torch.Tensor) -> float:
        """Mean squared distance of frames 1.. of `latents` (N, F, C, h, w) to the nearer of the two
        frames the process could have produced after each true previous frame."""
        m, prev = len(self.patterns), index[:, :-1]
        options = torch.stack([self.patterns[(prev + 1) % m], self.patterns[(prev - 1) % m]])
        return float((latents[None, :, 1:] - options).pow(2).mean(dim=(-3, -2, -1)).min(0).values.mean())


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


@pytest.fixture
def pattern_walk():
    return PatternWalk()
