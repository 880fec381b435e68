"""One evaluation: the ground truth and the subject through every trajectory, then the measures.

    summary = evaluate(subject, EvalConfig(), out_dir="eval-out", label="aapt ckpt/")

The ground truth is a `reference` renderer at the subject's size and fps, driven by the same
packets; the subject starts every session from the truth's first frame.
"""
from __future__ import annotations

import datetime
import platform
import time
from pathlib import Path

import numpy as np

from ..worlds.world import cpu_threads
from .config import EvalConfig
from .detail import detail
from .drift import drift
from .fidelity import autoregressive, psnr_curve, teacher_forced
from .revisit import revisit
from .rollout import can_teacher_force, roll_out
from .truth import TruthPool
from .truth_cache import TruthCache
from .speed import speed
from .trajectories import Trajectory, build_trajectories, frame_count
from .yaw import yaw_following

AR_TRAJECTORIES = ("walk", "yaw", "strafe", "still")
TEACHER_TRAJECTORIES = ("walk", "yaw")            # moving; each costs a VAE encode of the true video per seed
YAW_TRAJECTORIES = ("yaw", "turn360", "revisit")


def truncate(traj: Trajectory, frames: int) -> Trajectory:
    frames = min(frames, traj.frames)
    return Trajectory(traj.name, traj.packets[:frames], traj.c2w[:frames], traj.revisit)


def evaluate(subject, cfg: EvalConfig, out_dir: str | Path | None = None, label: str = "",
             progress: bool = True, truth_renderer=None, truth_cache: TruthCache | None = None) -> dict:
    """`truth_cache`: read the ground truth's runs from there where kept, keep the ones rendered (truth_cache.py)."""
    spec, seeds = subject.spec, list(cfg.seeds)
    trajs = build_trajectories(cfg, spec.fps, kinds=list(spec.control_kinds))
    teach = can_teacher_force(subject)
    n_teach = frame_count(cfg.teacher_seconds, spec.fps)
    bar = _bar(sum(2 * t.frames + (min(n_teach, t.frames) if teach and t.name in TEACHER_TRAJECTORIES else 0)
                   for t in trajs) * len(seeds), progress)
    started = time.perf_counter()
    truth, ar, tf = {}, {}, {}
    prompts = cfg.prompts()
    pool = TruthPool(spec, renderer=truth_renderer, cache=truth_cache)
    fovy = pool.fovy_deg
    with cpu_threads(1 if truth_renderer is not None else None):     # a truth thread here: one thread each
        ahead = {t.name: pool.submit(seeds, t) for t in trajs}
        for t in trajs:
            ahead[t.name].add_done_callback(lambda _, n=t.frames: bar.update(n * len(seeds)))
        try:
            for traj in trajs:
                bar.set_postfix_str(traj.name)
                truth[traj.name] = ahead[traj.name].result()
                first = truth[traj.name].frames[:, 0]
                run = roll_out(subject, seeds, traj, first_frames=first, progress=_frames(bar, spec, len(seeds)),
                               prompts=prompts)
                ar[traj.name] = run
                if teach and traj.name in TEACHER_TRAJECTORIES:
                    true = [np.ascontiguousarray(v[:n_teach]) for v in truth[traj.name].frames]
                    tf[traj.name] = roll_out(subject, seeds, truncate(traj, n_teach), first_frames=first,
                                             teacher=true, progress=_frames(bar, spec, len(seeds)), prompts=prompts)
        finally:
            pool.close()
            bar.close()
    by_name = {t.name: t for t in trajs}
    rolled = time.perf_counter()

    def rows(names, runs, limit=None):
        return [(truncate(by_name[n], limit or by_name[n].frames), truth[n].frames[:, :runs[n].frames.shape[1]],
                 runs[n].frames, runs[n].positions) for n in names if n in runs]

    with cpu_threads(1):                      # robust on a shared small CPU (OpenMP threads wait on each other)
        summary = _measures(spec, cfg, trajs, truth, ar, tf, rows, teach, fovy)
    summary["label"] = label or spec.name
    summary["ground_truth"] = {"renderer": pool.name, "fovy_deg": fovy, "runs_read_back": pool.hits}
    summary["wall_s"] = {"rollouts": rolled - started, "measures": time.perf_counter() - rolled}
    if out_dir is not None and cfg.video_seconds > 0:
        summary["videos"] = write_videos(out_dir, seeds, truth["walk"].frames, ar["walk"].frames,
                                         frame_count(cfg.video_seconds, spec.fps), spec.fps)
    return summary


def _measures(spec, cfg, trajs, truth, ar, tf, rows, teach, fovy) -> dict:
    seeds, by_name, frames_made = list(cfg.seeds), {t.name: t for t in trajs}, sum(t.frames for t in trajs)
    step_times = [t for run in ar.values() for t in run.step_seconds]
    window = spec.info.get("window")
    return {
        "format": "worldsim-eval", "version": 1,
        "subject": {"renderer": spec.name, "width": spec.width, "height": spec.height, "fps": spec.fps,
                    "info": _plain(spec.info)},
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
        "detail": detail(rows(AR_TRAJECTORIES, ar, frame_count(cfg.seconds, spec.fps)), truth["walk"].frames,
                         ar["walk"].frames, spec.fps, cfg.seconds),
        "revisit": revisit([(by_name[n], truth[n].frames, ar[n].frames) for n in ("turn360", "revisit")], spec.fps),
        "speed": speed(step_times, frames_made, len(seeds)),
    }


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


def _frames(bar, spec, sessions: int):
    """A rollout's progress callback (one call per step) as video frames on the bar."""
    count = {"step": 0}

    def update(_: int) -> None:
        bar.update(spec.frames_for_step(count["step"]) * sessions)
        count["step"] += 1
    return update


class _NoBar:
    def update(self, n: int = 1) -> None: ...
    def set_postfix_str(self, text: str) -> None: ...
    def close(self) -> None: ...


def _bar(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, unit="frame", desc="eval", leave=False, dynamic_ncols=True)
