"""Long-video training for stage 3 (docs/train.md): G generates a long video in overlapping segments.

    video = LongRollout.run(gen, first, controls, text, eps, clip_frames=F, overlap=1)
    for seg in video.segments:                     # D clips of F frames: overlap context + new frames
        fake = video.fake(gen, seg, text)          # with gradients into this segment only
        ...loss(fake).backward()                   # accumulate per segment, then one optimiser step

The rollout runs frame by frame with the KV cache under no_grad, recycling the generator's own
outputs, and snapshots the cache before each segment. A segment's frames are then recomputed in
one forward against that snapshot (worldsim.models.segment): its outputs equal the rollout's, its
gradients reach its own frames' keys/values and stop at the segment boundary (the cache is
detached between segments). Segment k covers frames [a - overlap, b) with new frames [a, b); the
first segment is [0, F) with the real first frame as context. Each D clip has the bank's clip
length F, so D judges segments against the real clips of the batch.

Controls past the bank's clip (camera variant) are new trajectories made by appending other
clips' per-frame controls: camera controls are relative poses, so any sequence of them is a walk.
A long bank (clips of at least `long_frames` latent frames, e.g. 60-s walks) has the truth for the
whole rollout instead: `LongPlan` then takes the clip's own controls, D's real clip for a segment
is the true one at the same positions, and the regression anchor can reach every segment.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..models.generator import Generator
from ..models.segment import Snapshot, cache_snapshot
from .adapt import compiled_steps, stepping_eagerly
from .config import AdversarialSection, ConfigError


@dataclass
class LongPlan:
    """What a long rollout follows and what D compares it with, for clips of `clip_frames` latent frames."""
    frames: int                  # latent frames of the rollout (long_frames)
    segment: int                 # latent frames per segment (D clip)
    truth: bool                  # the clips cover the rollout: own controls, true segments, regression

    @classmethod
    def of(cls, ac: AdversarialSection, clip_frames: int, where: str = "the clip bank") -> "LongPlan":
        """The plan, or one ConfigError line naming `where` (the bank) when its clips cannot serve it."""
        truth = clip_frames >= ac.long_frames
        segment = ac.segment_frames or min(clip_frames, ac.long_frames)
        if ac.regression_weight > 0 and not truth:
            raise ConfigError(
                f"adversarial.regression_weight needs the true frames of the whole long rollout: {where} has "
                f"clips of {clip_frames} latent frames, long_frames is {ac.long_frames} (render a long bank, "
                f"`worldsim train bank --frames {4 * (ac.long_frames - 1) + 1}`, or set regression_weight = 0)")
        if not truth and segment > clip_frames:
            raise ConfigError(f"adversarial.segment_frames ({segment}) is longer than {where}'s clips "
                              f"({clip_frames} latent frames): D has no real clips that long")
        if not 2 <= segment <= ac.long_frames:
            raise ConfigError(f"adversarial.segment_frames must be in 2..long_frames ({ac.long_frames}), got {segment}")
        if not 1 <= ac.segment_overlap < segment:
            raise ConfigError(f"adversarial.segment_overlap must be in 1..{segment - 1} (segments of {segment} "
                              f"latent frames), got {ac.segment_overlap}")
        return cls(ac.long_frames, segment, truth)

    def controls(self, controls: Tensor) -> Tensor:
        """(B, frames, K, h, w) the rollout follows: the clip's own, or extended by other clips'."""
        return controls[:, :self.frames] if self.truth else extend_controls(controls, self.frames)


def extend_controls(controls: Tensor, frames: int) -> Tensor:
    """(B, F, K, h, w) -> (B, frames, K, h, w): frames 1.. of other clips of the batch appended."""
    out, shift = [controls], 1
    while sum(c.shape[1] for c in out) < frames:
        out.append(controls.roll(shift, dims=0)[:, 1:])
        shift += 1
    return torch.cat(out, dim=1)[:, :frames]


def segment_bounds(frames: int, clip_frames: int, overlap: int) -> list[tuple[int, int, int]]:
    """[(context start, first new frame, end)] of the segments of a `frames`-long video."""
    if not 1 <= overlap < clip_frames:
        raise ValueError(f"segment_overlap must be in 1..{clip_frames - 1} (clip length {clip_frames}), got {overlap}")
    if frames < clip_frames:
        raise ValueError(f"long_frames ({frames}) must be at least the clip length ({clip_frames})")
    bounds, a = [(0, 1, clip_frames)], clip_frames
    while a < frames:
        ctx = a - overlap
        end = min(frames, ctx + clip_frames)
        bounds.append((end - clip_frames, a, end))            # the last segment keeps F frames
        a = end
    return bounds


@dataclass
class Segment:
    context: int                 # first frame of the D clip (given, not judged)
    start: int                   # first new frame
    end: int
    cache: Snapshot              # the generator's cache before frame `start`


@dataclass
class LongRollout:
    frames: Tensor               # (B, L, C, h, w) detached: the rollout, frame 0 real
    eps: Tensor                  # (B, L, C, h, w) the noise of each step
    controls: Tensor             # (B, L, K, h, w)
    segments: list[Segment]

    @classmethod
    @torch.no_grad()
    def run(cls, gen: Generator, first: Tensor, controls: Tensor, text: Tensor, eps: Tensor,
            clip_frames: int, overlap: int) -> "LongRollout":
        b, length = eps.shape[:2]
        with stepping_eagerly(gen):
            gen.ensure_cache(b, tuple(first.shape[-2:]), text.shape[1])
            gen.start(first, text)
            frames, segments = [first], []
            for context, start, end in segment_bounds(length, clip_frames, overlap):
                segments.append(Segment(context, start, end, cache_snapshot(gen)))
                with compiled_steps(gen):
                    frames += [gen.step(controls[:, i], noise=eps[:, i]) for i in range(start, end)]
        return cls(torch.stack(frames, dim=1), eps, controls, segments)

    def fake(self, gen: Generator, seg: Segment, text: Tensor) -> Tensor:
        """The D clip (B, F, C, h, w) of a segment: its context frames (detached) and its new frames
        recomputed with gradients against the segment's cache snapshot (eagerly)."""
        a, e = seg.start, seg.end
        inputs = gen.frame_inputs(self.eps[:, a:e], self.frames[:, a - 1:e - 1], self.controls[:, a:e])
        t = torch.ones(inputs.shape[0], device=inputs.device)
        with stepping_eagerly(gen):                     # against a cache: its shapes change with the segment
            v = gen.forward_segment(inputs, t, text, seg.cache, a)
        new = (self.eps[:, a:e] - v).to(self.frames.dtype)
        return torch.cat([self.frames[:, seg.context:a], new], dim=1)

    def clip_controls(self, seg: Segment) -> Tensor:
        return self.controls[:, seg.context:seg.end]
