"""One GPU lease of the long-form model, every stage in this one process (scripts/lease_ttt.sh starts it).

    python plugins/worldsim-ttt/scripts/film_lease.py --work /tmp/wd/ttt --device cuda --minutes 2.5
    python plugins/worldsim-ttt/scripts/film_lease.py --work /tmp/ttt-dry --dry-run    # tiny, CPU, seconds

1. films: --films films of --scenes scenes of --seconds-per-segment each, rendered by --workers
   spawned processes on the CPU (worldsim_ttt.data), encoded by the model's VAE on --device;
2. fine-tune (worldsim_ttt.train.FilmTrainer) from --checkpoint (default: the shipped camera model,
   worldsim/assets/default, whose VAE encoder and light decoder and byte text encoder are reused; its
   generator is the base) for --minutes of wall clock, in --stages of growing films (default: the first
   third on one-scene films, each scene alone, the rest on the whole --scenes-scene films; 1,3,6 with
   --scenes 6: 3-, 9- and 18-s films for 1/6, 2/6 and 3/6 of the time), one optimizer throughout; then the
   checkpoint with its training state (WORK/model, float32: `python -m worldsim_ttt.train --resume`)
   and a float16 copy (WORK/model_f16, what `lease_ttt.sh collect` brings back);
3. both example storyboards rendered to WORK/<name>.mp4 with the trained model;
4. python -m worldsim_ttt.bench_film (random weights of the same preset) to WORK/bench_film.json.

Everything runs in-process: on a device lease, programs started after the call that started this
one has ended cannot load torch, so the render workers start in the first minute and the Triton
kernels compile here. Progress goes to WORK/driver.log; a stage that fails is logged and the next runs.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
import traceback
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PLUGIN.parent.parent), str(PLUGIN)]


class Driver:
    def __init__(self, work: Path):
        work.mkdir(parents=True, exist_ok=True)
        self.work, self.t0 = work, time.time()
        self.log = (work / "driver.log").open("a")

    def note(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')} +{time.time() - self.t0:5.0f}s] {text}"
        print(line, flush=True)
        self.log.write(line + "\n")
        self.log.flush()

    def stage(self, name: str, fn, *args) -> bool:
        started = time.time()
        try:
            fn(*args)
        except Exception as err:                        # noqa: BLE001 - log it, go on to the next stage
            self.note(f"{name} FAILED: {type(err).__name__}: {str(err)[:300]}")
            self.log.write(traceback.format_exc())
            return False
        self.note(f"{name}: done in {time.time() - started:.0f} s")
        return True


def films(d: Driver, a, model):
    from worldsim_ttt.data import encode_films, long_clips
    from worldsim_ttt.render import latent_frames

    cfg = model.base.cfg
    n = latent_frames(a.seconds_per_segment, cfg.fps)
    started = time.time()
    clips = long_clips(a.films, a.scenes, 1 + 4 * (n - 1), a.size, a.size, a.seed, workers=a.workers)
    d.note(f"rendered {a.films} films x {a.scenes} scenes x {1 + 4 * (n - 1)} frames at {a.size}x{a.size} "
           f"in {time.time() - started:.0f} s ({a.workers} workers)")
    x0 = encode_films(model.base.vae, clips).to(a.device)
    d.note(f"encoded: latents {tuple(x0.shape)}")
    return x0, [c.captions for c in clips]


def film_stages(x0, prompts, stages: list[int], seconds: float, batch: int, start: float, minutes: float) -> list:
    """(name, latents, captions, deadline, batch) per stage: stage k cuts each rendered film of S scenes into
    S / k films of k consecutive scenes, at batch * S / k films a step (the same tokens a step), and gets a
    share k-th-stage-index + 1 of the minutes (two stages: the first third, then the rest)."""
    scenes = x0.shape[1]
    weights = [i + 1 for i in range(len(stages))]
    out, deadline = [], start
    for i, k in enumerate(stages):
        deadline += 60 * minutes * weights[i] / sum(weights)
        data = x0.reshape(x0.shape[0] * (scenes // k), k, *x0.shape[2:])
        texts = [film[j:j + k] for film in prompts for j in range(0, scenes, k)]
        out.append((f"{seconds * k:g}-s films", data, texts, deadline, batch * scenes // k))
    return out


def parse_stages(text: str | None, scenes: int) -> list[int]:
    """--stages "1,3,6": scenes a film at each stage, rising, each dividing --scenes, the last --scenes."""
    if text is None:
        return [1, scenes] if scenes > 1 else [1]
    try:
        stages = [int(x) for x in text.split(",")]
    except ValueError:
        raise SystemExit(f"film_lease: --stages must be numbers like 1,3,6, got {text!r}") from None
    if stages != sorted(set(stages)) or stages[-1] != scenes or any(k < 1 or scenes % k for k in stages):
        raise SystemExit(f"film_lease: --stages {text}: rising scene counts that divide --scenes {scenes}, "
                         f"the last equal to it")
    return stages


def train(d: Driver, a, model, x0, prompts) -> None:
    from worldsim_ttt.train import FilmTrainer

    trainer = FilmTrainer(model, a.lr, a.seed)
    stages = film_stages(x0, prompts, a.stages, a.seconds_per_segment, a.batch, time.time(), a.minutes)
    for name, data, texts, deadline, batch in stages:
        first = trainer.step

        def log(step, loss):
            if step % 10 == 0 or step == first + 1:
                d.note(f"{name}: step {step} loss {loss:.4f}")

        losses = trainer.run(data, texts, 10**9, a.shift, 0.1, batch, deadline, log=log)
        if losses:
            d.note(f"{name}: {len(losses)} steps of {batch} films, loss {losses[0]:.4f} -> "
                   f"mean of the last 10 {sum(losses[-10:]) / len(losses[-10:]):.4f}")
    trainer.save(d.work / "model")
    model.save(d.work / "model_f16", dtype="float16")
    d.note(f"saved {d.work / 'model'} (with training state) and {d.work / 'model_f16'} at step {trainer.step}")


def write_mp4(path: Path, frames, fps: float) -> Path:
    """render.write_film (PyAV); where PyAV is missing (the device image has OpenCV, not PyAV),
    OpenCV's MPEG-4 writer."""
    try:
        import av  # noqa: F401
    except ImportError:
        import cv2

        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames.shape[2], frames.shape[1]))
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write {path}")
        for frame in frames:
            writer.write(frame[:, :, ::-1].copy())          # RGB -> BGR
        writer.release()
        return path
    from worldsim_ttt.render import write_film
    return write_film(path, frames, fps)


def storyboards(d: Driver, a, model) -> None:
    from worldsim_ttt.render import render_film
    from worldsim_ttt.storyboard import load_storyboard, model_segments

    for path in sorted((PLUGIN / "examples").glob("*.toml")):
        started = time.time()
        segments = model_segments(load_storyboard(path), a.seconds_per_segment, 0)
        frames = render_film(model.eval(), segments, a.seconds_per_segment, a.render_steps, 5.5, 5.0)
        out = write_mp4(d.work / f"{path.stem}.mp4", frames, model.base.cfg.fps)
        d.note(f"{out.name}: {len(segments)} segments, {frames.shape[0]} frames, {a.render_steps} steps, "
               f"{time.time() - started:.0f} s")


def bench(d: Driver, a) -> None:
    from worldsim_ttt.bench_film import main

    argv = ["--preset", a.preset, "--device", a.device, "--json", *a.bench]
    with (d.work / "bench_film.json").open("w") as out, contextlib.redirect_stdout(out):
        rc = main(argv)
    d.note(f"bench_film {' '.join(argv)}: rc {rc}\n" + (d.work / "bench_film.json").read_text())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--checkpoint", default="worldsim/assets/default")
    p.add_argument("--device", default="cuda")
    p.add_argument("--films", type=int, default=48)
    p.add_argument("--scenes", type=int, default=3, help="scenes of the longest training films")
    p.add_argument("--kind", choices=("mlp", "linear", "none"), default="mlp",
                   help="the TTT layers; none: no TTT layers, the segment-local baseline trained the same way")
    p.add_argument("--stages", help="scenes a film at each fine-tuning stage, e.g. 1,3,6 (3-, 9-, 18-s films at 3 s a "
                   "segment; default 1,SCENES)")
    p.add_argument("--seconds-per-segment", type=float, default=3.0)
    p.add_argument("--size", type=int, default=128, help="square frames rendered for training")
    p.add_argument("--workers", type=int, default=14)
    p.add_argument("--minutes", type=float, default=2.5, help="wall clock of the whole fine-tuning")
    p.add_argument("--batch", type=int, default=8, help="films a step at the longest length (x scenes before)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--shift", type=float, default=3.0)
    p.add_argument("--render-steps", type=int, default=16, help="ODE steps of the storyboard films")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dry-run", action="store_true", help="tiny preset on the CPU, seconds a stage")
    p.add_argument("--no-bench", action="store_true",
                   help="skip bench_film (when the GPU is shared: time it later, alone on a GPU)")
    a = p.parse_args()
    a.stages = parse_stages(a.stages, a.scenes)
    a.preset, a.bench = "default", []
    if a.dry_run:
        a.preset, a.checkpoint, a.device, a.films, a.size, a.workers = "tiny", None, "cpu", 2, 32, 2
        a.seconds_per_segment, a.minutes, a.batch, a.render_steps = 1.0, 0.05, 1, 2
        a.bench = ["--seconds", "2", "4", "--seconds-per-segment", "1", "--steps", "2"]
    import torch

    from worldsim_ttt.longform import TTTConfig, build_longform

    d = Driver(a.work)
    d.note(f"start: {vars(a)}; torch {torch.__version__}"
           + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    backend = "triton" if a.device.startswith("cuda") else "torch"
    model = build_longform(a.preset if a.dry_run else None, a.checkpoint, cfg=TTTConfig(kind=a.kind), device=a.device,
                           seed=a.seed, backend=backend)
    d.note(f"model from {a.checkpoint or a.preset}: TTT {model.cfg.kind} ({backend}), "
           f"omitted {list(getattr(model.base, 'omitted', ())) or 'nothing'}")
    data = []
    if d.stage("films", lambda: data.extend(films(d, a, model))) and d.stage("train", train, d, a, model, *data):
        d.stage("storyboards", storyboards, d, a, model)
    del model, data
    if a.device.startswith("cuda"):
        torch.cuda.empty_cache()
    if not a.no_bench:
        d.stage("bench_film", bench, d, a)
    d.note("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
