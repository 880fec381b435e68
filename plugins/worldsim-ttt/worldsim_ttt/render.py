"""`worldsim ttt render storyboard.toml -o film.mp4`: a storyboard through the long-form model.

The whole film is sampled at once (bidirectional in time: every segment's TTT state reads the
whole film) by Euler steps of the flow-matching ODE from t = 1 to 0 on the base's shifted grid,
with classifier-free guidance v = v_u + g (v_c - v_u) (unconditional: "" for every segment; the
conditional and unconditional passes run as one forward of batch 2: on a GPU the TTT scan is
latency-bound, so a batch of 2 costs about what one film does). Each
model segment has `latent_frames(seconds)` latent frames and decodes to 1 + 4 (n - 1) video frames.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .longform import LongFormModel


def latent_frames(seconds: float, fps: float) -> int:
    """Latent frames n of a segment: 1 + 4 (n - 1) video frames as close to seconds * fps as can be."""
    return max(1, round((seconds * fps - 1) / 4) + 1)


def scene_frames(scenes, seconds_per_segment: float, fps: float) -> list[int]:
    """Video frames of each storyboard scene in a film `render` wrote: its model segments
    (`storyboard.scene_parts`), each decoded to 1 + 4 (n - 1) frames (n = latent_frames), in order."""
    from .storyboard import scene_parts

    per_segment = 1 + 4 * (latent_frames(seconds_per_segment, fps) - 1)
    return [parts * per_segment for parts in scene_parts(scenes, seconds_per_segment)]


@torch.no_grad()
def sample_film(model: LongFormModel, prompts: list[str], seeds: list[int], frames: int,
                latent_hw: tuple[int, int], steps: int = 32, s: float = 5.5, guidance: float = 5.0,
                progress=None) -> Tensor:
    """Latents (1, S, frames, C, h, w) of one film: segment i starts from noise of seeds[i]."""
    from worldsim.train.adapt import shift

    gen = model.base.generator
    dev = gen.patch_embed.weight.device
    shape = (frames, gen.cfg.latent_channels, *latent_hw)
    x = torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(sd)) for sd in seeds])[None].to(dev)
    cond = model.base.text_encoder(prompts)[None]                          # (1, S, Lt, text_dim)
    uncond = model.base.text_encoder([""] * len(prompts))[None] if guidance != 1.0 else None
    grid = shift(torch.linspace(1.0, 0.0, steps + 1), s).tolist()
    text = cond if uncond is None else torch.cat([cond, uncond])          # guided: both halves in one forward
    for t_now, t_next in zip(grid[:-1], grid[1:]):
        t = torch.full((text.shape[0],), t_now, device=dev)
        v = model(x.expand(text.shape[0], *x.shape[1:]), t, text).float()
        if uncond is not None:
            v_c, v_u = v[:1], v[1:]
            v = v_u + guidance * (v_c - v_u)
        x = x + (t_next - t_now) * v
        if progress is not None:
            progress(1)
    return x


def render_film(model: LongFormModel, segments: list[tuple[str, int]], seconds_per_segment: float,
                steps: int = 32, s: float = 5.5, guidance: float = 5.0, progress=None) -> np.ndarray:
    """A film's uint8 frames (N, H, W, 3) from its (prompt, noise seed) model segments
    (`storyboard.model_segments`), at the model's size: `sample_film` then `decode_film`. The one
    path of `worldsim ttt render` and the `ttt-film` renderer."""
    cfg = model.base.cfg
    n = latent_frames(seconds_per_segment, cfg.fps)
    hw = (cfg.height // 8, cfg.width // 8)
    prompts, seeds = [p for p, _ in segments], [sd for _, sd in segments]
    return decode_film(model, sample_film(model, prompts, seeds, n, hw, steps, s, guidance, progress))


@torch.no_grad()
def decode_film(model: LongFormModel, latents: Tensor) -> np.ndarray:
    """(1, S, n, C, h, w) -> uint8 frames (S * (1 + 4 (n - 1)), H, W, 3), segment after segment.
    A base loaded from a shipped checkpoint (worldsim/assets/default) has no full decoder (zeros):
    its light decoder decodes then."""
    vae = model.base.vae
    light = "vae.decoder." in getattr(model.base, "omitted", ())
    out = []
    for seg in latents[0]:
        video = vae.decode(seg.permute(1, 0, 2, 3)[None], light=light)        # (1, 3, T, H, W)
        out.append(((video[0].float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 3, 0).cpu().numpy())
    return np.concatenate(out)


def write_film(path: str | Path, frames: np.ndarray, fps: float) -> Path:
    from worldsim.render.video import VideoWriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(path, fps, frames.shape[2], frames.shape[1]) as writer:
        writer.write(frames)
    return path


def read_film(path: str | Path) -> tuple[np.ndarray, float]:
    """A film's frames (N, H, W, 3) uint8 and its frame rate; one-line WorldsimUserErrors."""
    import av
    from worldsim.errors import WorldsimUserError
    from worldsim.render.video import read_video

    path = Path(path)
    if not path.is_file():
        raise WorldsimUserError(f"{path}: no such film")
    try:
        frames = read_video(path)
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
    except (ValueError, IndexError, av.FFmpegError) as err:
        raise WorldsimUserError(f"{path}: not a readable video ({' '.join(str(err).split())[:200]})") from None
    if not rate:
        raise WorldsimUserError(f"{path}: the video has no frame rate")
    return frames, float(rate)


def cut_film(frames, counts: list[int], what: str) -> list:
    """The film's frames cut into scenes of `counts` frames; the last scene takes what is left.
    A film off by more than a frame per scene is a one-line error."""
    from worldsim.errors import WorldsimUserError

    want = sum(counts)
    if abs(len(frames) - want) > len(counts):
        raise WorldsimUserError(f"{what}: {len(frames)} frames, but its storyboard's {len(counts)} scenes "
                                f"make {want} (off by more than a frame per scene: another storyboard, "
                                f"fps or --seconds-per-segment?)")
    starts = [sum(counts[:i]) for i in range(len(counts))]
    return [frames[a:b] for a, b in zip(starts, starts[1:] + [len(frames)])]


def film_scenes(path: str | Path, scenes, seconds_per_segment: float) -> tuple[np.ndarray, float, list]:
    """A film `render` wrote, read and cut into its storyboard's scenes as `render` laid them out
    (`scene_frames` at the film's frame rate): (frames, fps, per-scene frames). The one split of
    `worldsim ttt agreement` and `worldsim ttt consistency`; one-line WorldsimUserErrors."""
    frames, fps = read_film(path)
    return frames, fps, cut_film(frames, scene_frames(scenes, seconds_per_segment, fps), f"{path} ({fps:g} fps)")
