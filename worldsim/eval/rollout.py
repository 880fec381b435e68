"""Roll a renderer through a trajectory, every seed a session, all seeds batched in one step call.

    run = roll_out(renderer, seeds, trajectory)                          # the ground truth
    run = roll_out(subject, seeds, trajectory, first_frames=truth[:, 0])  # autoregressive
    run = roll_out(subject, seeds, part, first_frames=..., teacher=[truth video per seed])

`teacher` uses the subject's optional `step_teacher_forced(states, packets, true_frames)` (the
aapt renderer has it): each step recycles the ground truth instead of the subject's own output.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .trajectories import Trajectory


@dataclass
class Run:
    frames: np.ndarray                   # (S, T, H, W, 3) uint8, one video per seed
    positions: np.ndarray                # (T,) step index that made each frame (0 = the first step)
    step_seconds: list[float] = field(default_factory=list)   # wall time of each batched step


def can_teacher_force(renderer) -> bool:
    return callable(getattr(renderer, "step_teacher_forced", None))


def step_positions(spec, frames: int) -> np.ndarray:
    """(frames,) the step index that makes each video frame under the renderer's step sizes."""
    out, step = [], 0
    while len(out) < frames:
        out += [step] * spec.frames_for_step(step)
        step += 1
    return np.array(out[:frames])


def roll_out(renderer, seeds: Sequence[int], trajectory: Trajectory, first_frames: np.ndarray | None = None,
             teacher: list[np.ndarray] | None = None, progress: Callable[[int], None] | None = None,
             prompts: Sequence[str] | None = None) -> Run:
    spec = renderer.spec
    kinds = list(spec.control_kinds)
    missing = [k for k in kinds if k not in trajectory.packets[0]]
    if missing:
        raise ValueError(f"{spec.name} needs controls {missing} the trajectories do not make")
    total = trajectory.frames
    packets = [{k: p[k] for k in kinds} for p in trajectory.packets]
    states = [renderer.open(int(seed), "" if prompts is None else prompts[i],
                            first_frame=None if first_frames is None else first_frames[i], controls=kinds)
              for i, seed in enumerate(seeds)]
    videos: list[list[np.ndarray]] = [[] for _ in seeds]
    times, done, step = [], 0, 0
    try:
        while done < total:
            n = spec.frames_for_step(step)
            part = packets[done:done + n]
            part += [part[-1]] * (n - len(part))                         # a step size that overshoots the end
            started = time.perf_counter()
            if teacher is None:
                out = renderer.step(states, [part] * len(states))
            else:
                out = renderer.step_teacher_forced(states, [part] * len(states), teacher)
            times.append(time.perf_counter() - started)
            for video, frames in zip(videos, out):
                video.append(np.asarray(frames))
            done, step = done + n, step + 1
            if progress:
                progress(1)
    finally:
        for state in states:
            renderer.close(state)
    frames = np.stack([np.concatenate(v)[:total] for v in videos])      # (S, T, H, W, 3)
    return Run(frames, step_positions(spec, total), times)

