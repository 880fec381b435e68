"""`worldsim bench model`: the generator's steady-state step (one latent frame = 4 video frames).

    worldsim bench model --preset 8b --res 736x416 --window 30 --json            # one GPU, bf16
    worldsim bench model --preset default --res 128x128 --decoder light          # CPU real-time check
    worldsim bench model --preset default --compile                              # the step compiled
    worldsim bench model --preset 8b --res 736x416 --window 30 --compile --fp8   # block linears in fp8
    worldsim bench model --preset 8b --res 736x416 --window 30 --compile --profile 8b.txt   # where the time goes
    worldsim bench model --preset 1.3b --res 832x480 --window 21 --compile --kv-splits 2    # the cache in 2 chunks

The model is randomly initialised directly on the device (meta -> empty -> init), its cache is
filled past the window (the ring full, the steady state of unbounded play), then `--steps` steps
are timed with the device synchronised. FLOPs per step:
2 * P_video * T + 4 * L * T * S * d (T tokens per frame, S keys attended, L layers, d width).

With `--fp8` the blocks' linears run in float8 e4m3 (models/fp8.py) and a full-precision copy of the
same weights (in --dtype) steps beside it on the same inputs and noise, untimed: the JSON reports the
error of the fp8 latents against it (relative L2 and PSNR, of the last step and the worst step).
"""
from __future__ import annotations

import json
import statistics
import time

from ..config import model_preset, replace_generator


def register(sub) -> None:
    p = sub.add_parser("model", help="generator step time, achieved TFLOP/s and video fps")
    p.add_argument("--preset", default="default", help="tiny | default | 1.3b | 8b")
    p.add_argument("--res", default=None, help="video WxH (default: the preset's)")
    p.add_argument("--window", type=int, default=None, help="attention window N in latent frames")
    p.add_argument("--batch", type=int, default=1, help="sessions stepped together")
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--device", default=None, help="cuda | cpu (default: cuda if available)")
    p.add_argument("--dtype", default=None, help="bfloat16 | float16 | float32 (default: bf16 on GPU)")
    p.add_argument("--decoder", choices=["none", "light", "full"], default="none",
                   help="also stream-decode each latent to 4 frames (included in the time)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--compile", nargs="?", const="inductor", default=None, metavar="BACKEND",
                   help="compile the step (torch.compile, fullgraph; default backend inductor, CUDA graphs "
                        "on CUDA); traced before the timed steps, its time reported as compile_s")
    p.add_argument("--compile-scope", choices=["step", "blocks"], default="step",
                   help="with --compile: trace the whole step (default) or each block (their code once per shape, "
                        "whatever the depth; on CUDA the step then captured as a CUDA graph by hand)")
    p.add_argument("--fp8", action="store_true",
                   help="the blocks' linears in float8 e4m3 (rowwise scales, torch._scaled_mm; GPUs of compute "
                        "capability 8.9+) and their error against the same weights in --dtype, stepped beside "
                        "them untimed (fp8_rel_err, fp8_psnr_db); on CPU fp8 is a slow reference kernel, for "
                        "the error only, not the speed")
    p.add_argument("--kv-splits", type=int, default=1, metavar="N",
                   help="attend the cache in N key chunks merged by their log-sum-exps (models/attention.py)")
    p.add_argument("--profile", metavar="FILE", default=None,
                   help="after the timed steps, profile 5 more (torch.profiler) and write the operators and kernels "
                        "by self device time (CPU time on the CPU) to FILE; the JSON gets the top 12 in ms a step")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def main(argv=None) -> int:
    """`python -m worldsim.bench.model ...`: the same benchmark without the rest of the CLI
    (for machines that lack the runtime's dependencies)."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m worldsim.bench.model")
    register(parser.add_subparsers(dest="bench", required=True))
    args = parser.parse_args(["model", *(argv if argv is not None else __import__("sys").argv[1:])])
    return args.func(args)


def step_flops(gen, tokens: int, keys: int) -> float:
    """2 * P_video * T + 4 * L * T * S * d for one session's step."""
    video_linears = [gen.patch_embed, gen.final_proj]
    for blk in gen.blocks:
        s = blk.video
        video_linears += [s.qkv, s.proj, s.mlp[0], s.mlp[2]]
    p_video = sum(m.in_features * m.out_features for m in video_linears)      # nn.Linear or Float8Linear
    cfg = gen.cfg
    return 2.0 * p_video * tokens + 4.0 * cfg.depth * tokens * keys * cfg.dim


def fp8_errors(latent, ref_latent, noise) -> tuple[float, float, float]:
    """(relative L2, PSNR dB) of the fp8 step's latent against the full-precision one, and the
    relative L2 of the velocity v = noise - latent (a random model's latent is mostly its noise)."""
    from ..models.fp8 import psnr_db, relative_error
    return (relative_error(latent, ref_latent), psnr_db(latent, ref_latent),
            relative_error(noise - latent, noise - ref_latent))


def run(args) -> int:
    import torch   # here, not at import: listing commands must not load torch

    from ..errors import WorldsimUserError
    from ..models.generator import Generator
    from ..models.model import build_module
    from ..models.vae import CausalVAE, StreamingDecoder

    try:
        cfg = model_preset(args.preset)
    except KeyError as err:
        raise WorldsimUserError(err.args[0]) from None
    if args.window:
        cfg = replace_generator(cfg, window=args.window)
    width, height = (int(v) for v in args.res.lower().split("x")) if args.res else (cfg.width, cfg.height)
    gcfg = cfg.generator
    if width % (8 * gcfg.patch) or height % (8 * gcfg.patch):
        raise WorldsimUserError(f"--res {width}x{height}: sizes must be divisible by {8 * gcfg.patch}")
    if args.kv_splits < 1:
        raise WorldsimUserError(f"--kv-splits must be at least 1, got {args.kv_splits}")
    if args.threads:
        torch.set_num_threads(args.threads)
    from worldsim.devices import require_device
    require_device(args.device)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = getattr(torch, args.dtype) if args.dtype else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    t0 = time.perf_counter()
    gen = build_module(Generator, gcfg, device=device, dtype=dtype, zero_init=False)
    gen.kv_splits = args.kv_splits
    params = sum(p.numel() for p in gen.parameters())         # before fp8 turns the block weights into buffers
    ref, fp8_linears, errors = None, 0, []
    if args.fp8:
        import copy

        from ..models.fp8 import check_fp8_device, to_float8
        try:
            check_fp8_device(device)
        except ValueError as err:
            raise WorldsimUserError(f"--fp8: {err}") from None
        ref = copy.deepcopy(gen)                               # the same weights in full precision
        fp8_linears = to_float8(gen)
    decoder = None
    if args.decoder != "none":
        vae = build_module(CausalVAE, cfg.vae, device=device, dtype=dtype)
        decoder = StreamingDecoder(vae, light=args.decoder == "light")
    h, w = height // 8, width // 8
    b = args.batch
    for g in (gen, ref) if ref is not None else (gen,):
        g.setup_cache(b, (h, w), cfg.text.length)
    compile_s = None
    if args.compile:
        from ..models.warmup import warm_up_step
        cuda_graphs = args.compile == "inductor" and device.type == "cuda"
        gen.compile_step(args.compile, mode="reduce-overhead" if cuda_graphs else None, scope=args.compile_scope)
        sync()
        t_compile = time.perf_counter()
        warm_up_step(gen, (b,))                  # every graph of this batch, both ring phases; the cache reset after
        sync()
        compile_s = time.perf_counter() - t_compile
    with torch.no_grad():
        first = torch.randn(b, gcfg.latent_channels, h, w, device=device, dtype=dtype)
        text = torch.randn(b, cfg.text.length, gcfg.text_dim, device=device, dtype=dtype)
        gen.start(first, text)
        if ref is not None:
            ref.start(first, text)
        controls = torch.randn(b, gcfg.control_channels, h, w, device=device, dtype=dtype)
        if decoder is not None:
            decoder(gen.prev_latent)
        sync()
        build_s = time.perf_counter() - t0
        times = []
        for i in range(gcfg.window + 2 + args.steps):         # fill the ring, then time the steady state
            sync()
            start = time.perf_counter()
            noise = torch.randn_like(gen.prev_latent) if ref is not None else None   # as step draws it
            latent = gen.step(controls, noise)
            if decoder is not None:
                decoder(latent)
            sync()
            if i >= gcfg.window + 2:
                times.append(time.perf_counter() - start)
            if ref is not None:                                # untimed: the same step in full precision
                errors.append(fp8_errors(latent, ref.step(controls, noise), noise))
        top = None
        if args.profile:
            def one_step():
                latent = gen.step(controls)
                if decoder is not None:
                    decoder(latent)
                sync()
            from ..profiling import profile_calls
            top = profile_calls(one_step, 5, args.profile, device.type == "cuda")
    ms = 1000.0 * statistics.median(times)
    tokens = (h // gcfg.patch) * (w // gcfg.patch)
    keys = cfg.text.length + tokens * (1 + gcfg.window)
    flops = b * step_flops(gen, tokens, keys)
    result = {
        "ms_per_step": round(ms, 3), "tflops": round(flops / (ms / 1000.0) / 1e12, 4),
        "fps": round(4 * 1000.0 / ms, 2), "preset": cfg.name, "res": f"{width}x{height}", "window": gcfg.window,
        "batch": b, "tokens_per_frame": tokens, "keys": keys, "tflop_per_step": round(flops / 1e12, 3),
        "generator_params": params, "decoder": args.decoder,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}",
        "dtype": str(dtype).removeprefix("torch."), "steps": len(times), "ms_min": round(1000 * min(times), 3),
        "build_s": round(build_s, 2), "compile": args.compile, "fp8": args.fp8, "kv_splits": args.kv_splits,
        "compile_scope": args.compile_scope if args.compile else None,
        "compile_s": None if compile_s is None else round(compile_s, 2),
    }
    if args.fp8:
        last = errors[-1]
        result.update({"fp8_linears": fp8_linears, "fp8_rel_err": round(last[0], 6),
                       "fp8_psnr_db": round(last[1], 2), "fp8_rel_err_v": round(last[2], 6),
                       "fp8_rel_err_max": round(max(e[0] for e in errors), 6),
                       "fp8_psnr_db_min": round(min(e[1] for e in errors), 2), "fp8_error_steps": len(errors)})
    if top is not None:
        result["profile"], result["profile_file"] = top, args.profile
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{cfg.name} {width}x{height} window {gcfg.window} batch {b} on {result['device']} ({result['dtype']}): "
              f"{ms:.2f} ms/step, {result['fps']:.1f} video fps per session, {result['tflops']:.2f} TFLOP/s "
              f"({result['tflop_per_step']} TFLOP/step, T={tokens}, S={keys})")
        if args.fp8:
            print(f"fp8: {fp8_linears} linears; error against {result['dtype']} over {len(errors)} steps: latent "
                  f"relative L2 {result['fp8_rel_err']:.2e} (worst {result['fp8_rel_err_max']:.2e}), PSNR "
                  f"{result['fp8_psnr_db']:.1f} dB (worst {result['fp8_psnr_db_min']:.1f}); velocity relative L2 "
                  f"{result['fp8_rel_err_v']:.2e}")
        for row in top or []:
            print(f"  {row['ms_per_step']:8.3f} ms/step {100 * row['share']:5.1f} %  x{row['calls_per_step']:<6} {row['name']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
