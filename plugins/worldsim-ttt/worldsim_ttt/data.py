"""Multi-scene films from the reference world, one caption per scene, for fine-tuning the long-form model.

    film = long_clip(world_seeds=[3, 4, 5], player_seed=7, frames=13, width=32, height=32)
    film.frames      # uint8 (S, T, H, W, 3): scene after scene
    film.captions    # ["walks forward through a pine forest at dawn, in clear air", ...]

Scene j of a film is a walk of the stochastic player (its own player seed, so its own actions)
through world seed world_seeds[j]: a new world is a new region of terrain and landmarks, its own
time of day and its own haze, so the film cuts from scene to scene as a storyboard does. Captions
are worldsim/worlds/captions.py's, plus the air.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

HAZY = 0.0065             # fog density per metre above which the air reads as hazy (worlds: 0.004..0.008)


@dataclass
class LongClip:
    frames: torch.Tensor          # uint8 (S, T, H, W, 3)
    captions: list[str]           # one per scene
    world_seeds: list[int]


def air(world) -> str:
    return "in hazy air" if world.sky.fog_density > HAZY else "in clear air"


def long_clip(world_seeds: list[int], player_seed: int, frames: int, width: int = 128, height: int = 128,
              device="cpu") -> LongClip:
    """One film of len(world_seeds) scenes of `frames` video frames each, rendered in one batched call."""
    from worldsim.worlds.dataset import camera_clips
    from worldsim.worlds.world import build_world

    walks = [(w, player_seed * 1009 + j) for j, w in enumerate(world_seeds)]
    clips = camera_clips(walks, frames, width, height, device)
    captions = [f"{c.caption}, {air(build_world(w))}" for c, w in zip(clips, world_seeds)]
    return LongClip(torch.stack([c.frames.cpu() for c in clips]), captions, list(world_seeds))


def long_clips(films: int, scenes: int, frames: int, width: int, height: int, seed: int = 0,
               device="cpu", workers: int = 0) -> list[LongClip]:
    """`films` films of `scenes` scenes each; film i uses world seeds seed*10_000 + i*scenes + j.
    `workers` > 0: rendered in that many spawned processes (one thread each), a film per job."""
    jobs = [([seed * 10_000 + i * scenes + j for j in range(scenes)], seed * 10_000 + i, frames, width, height,
             device) for i in range(films)]
    if workers <= 0:
        return [long_clip(*job) for job in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(workers, films), mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_render_film, jobs))


def _render_film(job) -> LongClip:
    torch.set_num_threads(1)
    return long_clip(*job)


@torch.no_grad()
def encode_films(vae, films: list[LongClip]) -> torch.Tensor:
    """Normalised latents (N, S, n, C, h, w) of films whose scenes are 1 + 4 (n - 1) frames."""
    from worldsim.train.bank import encode_latents

    return torch.stack([encode_latents(vae, f.frames.permute(0, 4, 1, 2, 3).contiguous()) for f in films])
