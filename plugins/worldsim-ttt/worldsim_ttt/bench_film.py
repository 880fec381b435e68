"""Sampling-time benchmark of whole films: `python -m worldsim_ttt.bench_film`.

    python -m worldsim_ttt.bench_film --device cuda --json          # default preset, 3/9/18/30/63-s films
    WORLDSIM_TTT_MLP_FORWARD=split python -m worldsim_ttt.bench_film --device cuda --json   # the hidden-split scan
    python -m worldsim_ttt.bench_film --preset tiny --seconds 1 2 --seconds-per-segment 0.5   # a CPU check
    python -m worldsim_ttt.bench_film --device cuda --seconds 63 --variants ttt-mlp local --profile film.txt --json

Times `render.sample_film` (the sampler `worldsim ttt render` uses: Euler steps of the ODE, CFG as one
forward of batch 2 a step; no VAE decode) for three variants of one model at random weights:
`ttt-mlp` (segment-local attention + gated bidirectional TTT-MLP in every block), `local`
(segment-local attention, no TTT layers: no scan runs) and `full` (every video token attends to the
whole film, no TTT). One row per variant and film length: segments, tokens of the film, ms per
forward (one a step: batch 2 when guided), ms per ODE step, seconds per film (median over --repeats, after a warm-up forward of the
same shape), and the ratio to `local`. A case that runs out of memory is "skipped: memory".
`--profile FILE`: one more forward of the TTT-MLP variant at the last length (batch 2 when guided) under
torch.profiler, its operators and kernels by self device time in FILE and the top 12 in that row (`profile`).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

DEFAULT_SECONDS = (3.0, 9.0, 18.0, 30.0, 63.0)
VARIANTS = ("ttt-mlp", "local", "full")
PROMPT = "walks forward through a pine forest at dawn, in clear air"


def build_variants(preset: str, device: str, backend: str, names=VARIANTS) -> dict:
    """The variants over ONE base at random weights (every path live)."""
    from .longform import LongFormModel, TTTConfig, build_longform

    ttt = build_longform(preset=preset, device=device, zero_init=False, backend=backend)
    out = {"ttt-mlp": ttt, "local": LongFormModel(ttt.base, TTTConfig(backend=backend), ttt_layers=False),
           "full": LongFormModel(ttt.base, TTTConfig(backend=backend), ttt_layers=False, span="film")}
    return {name: out[name].to(device).eval() for name in names}


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def film_tokens(model, segments: int, frames: int, latent_hw: tuple[int, int]) -> int:
    gen = model.base.generator
    per_frame = (latent_hw[0] // gen.cfg.patch) * (latent_hw[1] // gen.cfg.patch)
    return segments * (model.base.text_encoder.length + frames * per_frame)


def measure(model, segments: int, frames: int, latent_hw: tuple[int, int], steps: int, guidance: float,
            repeats: int, device: str) -> dict:
    """Seconds of one film's sampling (median), or {"skipped": "memory"}."""
    from .render import sample_film

    prompts, seeds = [PROMPT] * segments, list(range(segments))
    try:
        with torch.no_grad():                      # warm-up: one forward of this shape (compiles kernels)
            gen = model.base.generator
            x = torch.zeros(1, segments, frames, gen.cfg.latent_channels, *latent_hw, device=device)
            model(x, torch.ones(1, device=device), model.base.text_encoder(prompts)[None])
        _sync(device)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            sample_film(model, prompts, seeds, frames, latent_hw, steps, guidance=guidance)
            _sync(device)
            times.append(time.perf_counter() - start)
        return {"film_s": statistics.median(times)}
    except (torch.cuda.OutOfMemoryError, MemoryError):
        return {"skipped": "memory"}
    finally:
        x = None
        if torch.device(device).type == "cuda":
            torch.cuda.empty_cache()


def run(args) -> list[dict]:
    from worldsim.config import model_preset
    from worldsim.errors import WorldsimUserError

    from .render import latent_frames
    from .storyboard import Scene, scene_parts
    from .train import parse_size

    try:
        cfg = model_preset(args.preset)
    except KeyError as err:
        raise WorldsimUserError(err.args[0]) from None
    width, height = parse_size(args.res, (cfg.width, cfg.height))
    if width % (8 * cfg.generator.patch) or height % (8 * cfg.generator.patch):
        raise WorldsimUserError(f"--res must be multiples of {8 * cfg.generator.patch} for this preset")
    if args.steps < 1 or args.repeats < 1 or any(not s > 0 for s in args.seconds):
        raise WorldsimUserError("--steps and --repeats must be >= 1 and every --seconds positive")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise WorldsimUserError("--device cuda but no CUDA GPU here")
    backend = args.backend or ("triton" if args.device.startswith("cuda") else "torch")
    if backend == "triton" and not args.device.startswith("cuda"):
        raise WorldsimUserError("--backend triton runs on CUDA only (use --backend torch on the CPU)")
    models = build_variants(args.preset, args.device, backend, args.variants)
    n = latent_frames(args.seconds_per_segment, cfg.fps)
    hw = (height // 8, width // 8)
    forwards = args.steps                # one forward a step (batch 2 with guidance: render.sample_film)
    rows = []
    for seconds in args.seconds:
        segments = scene_parts([Scene("film", seconds)], args.seconds_per_segment)[0]
        group = []
        for name, model in models.items():
            row = {"variant": name, "seconds": seconds, "segments": segments,
                   "tokens": film_tokens(model, segments, n, hw), "res": f"{width}x{height}", "steps": args.steps,
                   "cfg": args.cfg, "backend": backend if name == "ttt-mlp" else "-", "device": args.device}
            if name == "ttt-mlp" and backend == "triton":      # which scan forward ($WORLDSIM_TTT_MLP_FORWARD)
                from .triton_mlp import mlp_forward_name
                row["mlp_forward"] = mlp_forward_name()
            row.update(measure(model, segments, n, hw, args.steps, args.cfg, args.repeats, args.device))
            if "film_s" in row:
                row["ms_per_forward"] = 1000 * row["film_s"] / forwards
                row["ms_per_step"] = 1000 * row["film_s"] / args.steps
            group.append(row)
        local = next((r["film_s"] for r in group if r["variant"] == "local" and "film_s" in r), None)
        for row in group:
            if local and "film_s" in row:
                row["ratio_to_local"] = row["film_s"] / local
            print(json.dumps(row) if args.json else format_row(row), flush=True)
        rows += group
    if args.profile and "ttt-mlp" in models:
        row = next(r for r in reversed(rows) if r["variant"] == "ttt-mlp")
        row["profile"] = profile_forward(models["ttt-mlp"], row["segments"], n, hw, args.cfg, args.device, args.profile)
        row["profile_file"] = args.profile
        print(json.dumps({"variant": "ttt-mlp", "seconds": row["seconds"], "profile": row["profile"]}) if args.json
              else "\n".join(f"  {r['ms_per_step']:9.3f} ms {100 * r['share']:5.1f} %  x{r['calls_per_step']:<7} {r['name']}"
                             for r in row["profile"]), flush=True)
    return rows


def profile_forward(model, segments: int, frames: int, latent_hw: tuple[int, int], guidance: float, device: str,
                    path: str) -> list[dict]:
    """One forward of a film of `segments` (batch 2 when guided, as sample_film runs it) under torch.profiler."""
    from worldsim.profiling import profile_calls

    batch = 1 if guidance == 1 else 2
    gen = model.base.generator
    x = torch.zeros(batch, segments, frames, gen.cfg.latent_channels, *latent_hw, device=device)
    text = model.base.text_encoder([PROMPT] * segments)[None].expand(batch, -1, -1, -1)

    def forward():
        with torch.no_grad():
            model(x, torch.ones(batch, device=device), text)
        _sync(device)
    return profile_calls(forward, 1, path, torch.device(device).type == "cuda")


def format_row(row: dict) -> str:
    head = f"{row['variant']:8s} {row['seconds']:5.1f} s  {row['segments']:3d} segments  {row['tokens']:7d} tokens"
    if "skipped" in row:
        return f"{head}  skipped: {row['skipped']}"
    ratio = f"  x{row['ratio_to_local']:.2f} of local" if "ratio_to_local" in row else ""
    return (f"{head}  {row['ms_per_forward']:9.1f} ms/forward  {row['ms_per_step']:9.1f} ms/step  "
            f"{row['film_s']:8.2f} s/film{ratio}")


def main(argv: list[str] | None = None) -> int:
    from worldsim.errors import WorldsimUserError

    p = argparse.ArgumentParser(prog="python -m worldsim_ttt.bench_film", description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="default", help="model preset at random weights (default: the shipped model's)")
    p.add_argument("--res", default="", help="WxH of the film (default: the preset's)")
    p.add_argument("--seconds", type=float, nargs="+", default=list(DEFAULT_SECONDS), help="film lengths")
    p.add_argument("--seconds-per-segment", type=float, default=3.0)
    p.add_argument("--steps", type=int, default=4, help="Euler steps of the ODE")
    p.add_argument("--cfg", type=float, default=5.0, help="guidance (1: no unconditional pass; else one forward of batch 2 a step)")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--backend", choices=("torch", "triton"), default=None,
                   help="TTT scan (default: triton on CUDA, torch on the CPU)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--profile", metavar="FILE", default=None,
                   help="profile one forward of the TTT-MLP variant at the last length; the table to FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    args = p.parse_args(argv)
    try:
        if args.device.startswith("cuda") and torch.cuda.is_available():
            print(f"# device: {torch.cuda.get_device_name()}, torch {torch.__version__}", file=sys.stderr)
        run(args)
    except WorldsimUserError as err:
        print(f"python -m worldsim_ttt.bench_film: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
