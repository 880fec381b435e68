"""One evaluation: the ground truth and the subject through every trajectory, then the measures.

    summary = evaluate(subject, EvalConfig(), out_dir="eval-out", label="aapt ckpt/")

The ground truth is a `reference` renderer at the subject's size and fps, driven by the same
packets; the subject starts every session from the truth's first frame.
"""
from __future__ import annotations

import datetime
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..worlds.world import cpu_threads
from .config import EvalConfig
from .drift import drift
from .fidelity import autoregressive, psnr_curve, teacher_forced
from .revisit import revisit
from .rollout import can_teacher_force, roll_out, steps_needed
from .speed import speed
from .trajectories import Trajectory, build_trajectories, frame_count
from .yaw import yaw_following

AR_TRAJECTORIES = ("walk", "yaw", "strafe", "still")
TEACHER_TRAJECTORIES = ("walk", "yaw", "strafe")
YAW_TRAJECTORIES = ("yaw", "turn360", "revisit")


def truncate(traj: Trajectory, frames: int) -> Trajectory:
    frames = min(frames, traj.frames)
    return Trajectory(traj.name, traj.packets[:frames], traj.c2w[:frames], traj.revisit)


def ground_truth(spec, fovy_deg: float = 60.0):
    from ..worlds.renderer import ReferenceRenderer
    return ReferenceRenderer(width=spec.width, height=spec.height, fps=spec.fps, fovy_deg=fovy_deg)


def evaluate(subject, cfg: EvalConfig, out_dir: str | Path | None = None, label: str = "",
             progress: bool = True, truth_renderer=None) -> dict:
    spec, seeds = subject.spec, list(cfg.seeds)
    truth_renderer = truth_renderer or ground_truth(spec)
    trajs = build_trajectories(cfg, spec.fps, kinds=list(spec.control_kinds))
    fovy = float(truth_renderer.spec.info.get("fovy_deg", 60.0))
    teach = can_teacher_force(subject)
    n_teach = frame_count(cfg.teacher_seconds, spec.fps)
    total = sum(steps_needed(truth_renderer.spec, t.frames) + steps_needed(spec, t.frames) for t in trajs)
    total += sum(steps_needed(spec, min(n_teach, t.frames)) for t in trajs if teach and t.name in TEACHER_TRAJECTORIES)
    bar = _bar(total, progress)
    started = time.perf_counter()
    truth, ar, tf = {}, {}, {}
    step_times, frames_made = [], 0
    # The truth renders one trajectory ahead in a second thread (one CPU thread each): on a 2-core
    # machine the reference and the subject run side by side.
    with ThreadPoolExecutor(1) as pool, cpu_threads(1):
        ahead = {t.name: pool.submit(roll_out, truth_renderer, seeds, t, progress=bar.update) for t in trajs}
        try:
            for traj in trajs:
                truth[traj.name] = ahead[traj.name].result()
                first = truth[traj.name].frames[:, 0]
                run = roll_out(subject, seeds, traj, first_frames=first, progress=bar.update)
                ar[traj.name] = run
                step_times += run.step_seconds
                frames_made += traj.frames
                if teach and traj.name in TEACHER_TRAJECTORIES:
                    true = [np.ascontiguousarray(v[:n_teach]) for v in truth[traj.name].frames]
                    tf[traj.name] = roll_out(subject, seeds, truncate(traj, n_teach), first_frames=first,
                                             teacher=true, progress=bar.update)
        finally:
            for future in ahead.values():
                future.cancel()
            bar.close()
    by_name = {t.name: t for t in trajs}
    rolled = time.perf_counter()

    def rows(names, runs, limit=None):
        return [(truncate(by_name[n], limit or by_name[n].frames), truth[n].frames[:, :runs[n].frames.shape[1]],
                 runs[n].frames, runs[n].positions) for n in names if n in runs]

    window = spec.info.get("window")
    summary = {
        "format": "worldsim-eval", "version": 1, "label": label or spec.name,
        "subject": {"renderer": spec.name, "width": spec.width, "height": spec.height, "fps": spec.fps,
                    "info": _plain(spec.info)},
        "ground_truth": {"renderer": truth_renderer.spec.name, "fovy_deg": fovy},
        "seeds": seeds, "config": cfg.to_dict(),
        "trajectories": {t.name: {"frames": t.frames, "seconds": (t.frames - 1) / spec.fps} for t in trajs},
        "date": datetime.date.today().isoformat(), "host": {"machine": platform.machine(), "python": platform.python_version()},
        "teacher_forced": teacher_forced(rows(TEACHER_TRAJECTORIES, tf)) if teach else None,
        "autoregressive": autoregressive(rows(AR_TRAJECTORIES, ar, frame_count(cfg.seconds, spec.fps)),
                                         spec.fps, cfg.seconds),
        "walk_psnr_per_second": psnr_curve(truth["walk"].frames, ar["walk"].frames, spec.fps),
        "yaw": {"autoregressive": yaw_following(rows(YAW_TRAJECTORIES, ar), spec.height, fovy, window),
                "teacher_forced": yaw_following(rows(("yaw",), tf), spec.height, fovy, window) if teach else None},
        "drift": drift(truth["walk"].frames, ar["walk"].frames, spec.fps),
        "revisit": revisit([(by_name[n], truth[n].frames, ar[n].frames) for n in ("turn360", "revisit")], spec.fps),
        "speed": speed(step_times, frames_made, len(seeds)),
    }
    summary["wall_s"] = {"rollouts": rolled - started, "measures": time.perf_counter() - rolled}
    if out_dir is not None and cfg.video_seconds > 0:
        summary["videos"] = write_videos(out_dir, seeds, truth["walk"].frames, ar["walk"].frames,
                                         frame_count(cfg.video_seconds, spec.fps), spec.fps)
    return summary


def write_videos(out_dir, seeds, true: np.ndarray, gen: np.ndarray, frames: int, fps: float) -> list[str]:
    """One mp4 per seed of the walk: ground truth | subject, side by side."""
    from ..train.samples import write_mp4
    paths = []
    for seed, t, g in zip(seeds, true, gen):
        path = Path(out_dir) / f"walk-seed-{seed}.mp4"
        if write_mp4(path, np.concatenate([t[:frames], g[:frames]], axis=2), fps):
            paths.append(path.name)
    return paths


def _plain(value):
    """Spec info as JSON-able values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


class _NoBar:
    def update(self, n: int = 1) -> None: ...
    def set_postfix_str(self, text: str) -> None: ...
    def close(self) -> None: ...


def _bar(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, unit="step", desc="eval", leave=False, dynamic_ncols=True)
