"""`worldsim train vae | base | adapt | distill | adversarial --config FILE`, and the data and
measurement tools beside them: `worldsim train bank | encode | samples | throughput` (docs/train.md)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..devices import require_device
from .config import STAGES, ConfigError

STAGE_HELP = {
    "vae": "stage 0: the causal VAE, on a pixel clip bank",
    "base": "stage 0: the bidirectional base DiT, on latents",
    "adapt": "stage 1: adapt the base to causal, frame-by-frame diffusion",
    "distill": "stage 2: distil to one step per frame (consistency distillation)",
    "adversarial": "stage 3: adversarial post-training with student forcing (long rollouts)",
}
REQUIRED = {"vae": ("video",), "base": ("latents",), "adapt": ("latents",), "distill": ("latents",),
            "adversarial": ("latents",)}


def stage_class(name: str):
    if name == "vae":
        from .vae import VAEStage
        return VAEStage
    if name == "base":
        from .base import BaseStage
        return BaseStage
    if name == "adapt":
        from .adapt import AdaptStage
        return AdaptStage
    if name == "distill":
        from .distill import DistillStage
        return DistillStage
    from .adversarial import AdversarialStage
    return AdversarialStage


def run_stage(args: argparse.Namespace) -> int:
    from .build import export_model
    from .config import ConfigError, load_config
    from .data import ClipBank, ClipReader
    from .distributed import init_distributed, is_main
    from .loop import StepContext, train

    cfg = load_config(args.config, stage=args.stage)
    if args.steps is not None:
        cfg.loop.steps = args.steps
    if args.out is not None:
        cfg.loop.out_dir = args.out
    if args.device is not None:
        cfg.loop.device = args.device
    require_device(cfg.loop.device, "--device" if args.device else f"{args.config}: loop.device")
    if not cfg.data.path:
        raise ConfigError(f"{args.config}: set data.path to a clip bank (docs/train.md)")
    bank = ClipBank.load(cfg.data.path)
    bank.require(*REQUIRED[cfg.stage], path=cfg.data.path)
    if cfg.stage == "adversarial" and cfg.adversarial.long_frames:      # before any GPU work: can the bank serve it
        from .long_video import LongPlan
        stored = bank.tensors["latents"].shape[1]
        try:
            LongPlan.of(cfg.adversarial, min(cfg.data.frames or stored, stored), f"data.path {cfg.data.path}")
        except ConfigError as e:
            raise ConfigError(f"{args.config}: {e}") from None
    rank, world = init_distributed()
    ctx = StepContext.from_config(cfg, rank, world)
    stage = stage_class(cfg.stage)(cfg, ctx)
    reader = ClipReader(bank, cfg.data.batch_size, cfg.data.seed, cfg.data.frames, rank, world)
    sampler = None
    if cfg.loop.sample_every and cfg.stage != "vae":
        from .samples import PeriodicSamples
        if not Path(cfg.data.val_path).is_file():
            raise ConfigError(f"{args.config}: data.val_path: no clip bank at {cfg.data.val_path!r}")
        sampler = PeriodicSamples(ClipBank.load(cfg.data.val_path), cfg.loop.out_dir, base=cfg.stage == "base")
    history = train(stage, reader, cfg, ctx, sampler)
    frames = 0 if cfg.stage == "vae" else cfg.data.frames or bank.tensors["latents"].shape[1]
    if cfg.stage == "adversarial":
        frames = max(frames, cfg.adversarial.long_frames)            # long-video rollouts reach further
    controls = bank.info.get("controls")
    if cfg.stage == "vae" and cfg.vae.train == "light":     # the init's generator plays on: its controls and clips stay
        from ..models.checkpoint import read_config
        init = read_config(cfg.model.init)
        controls, frames = init.get("controls"), init.get("trained_clip_frames", 0)
    path = export_model(stage.model, cfg.loop.out_dir, cfg.stage, controls=controls, clip_frames=frames)
    last = history[-1] if history else {}
    if is_main():
        print(f"{cfg.stage}: {len(history)} steps this run on {world} process(es), last {last}; model -> {path}")
    return 0


def output_folder(path: str) -> None:
    """Make the folder a file is written to, before hours of work go into it (one line if it cannot be)."""
    from .data import DataError
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"--out {path}: cannot make its folder ({err.strerror})") from None


def run_bank(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .bank import BankSpec, build_bank, build_bank_parallel, describe, parse_seeds
    from .data import DataError

    if args.from_dir:
        return run_bank_from_dir(args)
    if not args.world_seeds:
        raise DataError("give --world-seeds (the reference world) or --from-dir (your own frames and poses)")
    try:
        width, height = (int(v) for v in (args.size or "128x128").lower().split("x"))
    except ValueError:
        raise DataError(f"--size must look like 128x128, got {args.size!r}") from None
    spec = BankSpec(width=width, height=height, frames=args.frames, clips_per_seed=args.clips_per_seed,
                    camera=args.camera or "", kind=args.kind, device=args.device, batch=args.batch,
                    compile=args.compile)
    if args.camera_from:
        from .data import read_info
        camera = read_info(args.camera_from).get("controls", {}).get("camera")
        if camera is None:
            raise DataError(f"{args.camera_from} has no camera controls to take the encoding from")
        spec.camera, spec.scales = camera["kind"], camera["scales"]
    spec.check()
    require_device(args.device)
    seeds = parse_seeds(args.world_seeds)
    output_folder(args.out)
    vae = None
    if args.vae:
        import torch

        from ..models.checkpoint import load_checkpoint
        vae = load_checkpoint(args.vae, device=args.device, dtype=torch.float32)[0].vae.eval()
    with tqdm(total=len(seeds) * spec.clips_per_seed, desc="bank", unit="clip") as bar:
        if args.workers > 1:
            if vae is not None:
                raise DataError("--workers renders pixels only: encode afterwards with `worldsim train encode`")
            bank = build_bank_parallel(seeds, spec, args.workers, f"{args.out}.parts", progress=bar.update)
        else:
            bank = build_bank(seeds, spec, vae, keep_video=args.keep_video or vae is None, progress=bar.update)
    bank.save(args.out)
    print(f"{args.out}: {describe(bank)}")
    return 0


def run_bank_from_dir(args: argparse.Namespace) -> int:
    """`worldsim train bank --from-dir DIR`: your own recordings (frames.py) -> a clip bank."""
    import torch

    from .bank import describe, encode_latents
    from .data import DataError, read_info
    from .frames import read_dir

    for flag, default in (("world_seeds", None), ("size", None), ("kind", "camera"), ("workers", 1)):
        if getattr(args, flag) != default:
            raise DataError(f"--{flag.replace('_', '-')} is for reference-world banks, not --from-dir "
                            "(clips take the recordings' size)")
    camera, fovy, scales = args.camera, args.fovy, None
    if args.camera_from:
        config = read_info(args.camera_from).get("controls", {}).get("camera")
        if config is None:
            raise DataError(f"{args.camera_from} has no camera controls to take the encoding from")
        camera, fovy, scales = config["kind"], config["fovy_deg"], config["scales"]
    require_device(args.device)
    output_folder(args.out)
    bank = read_dir(args.from_dir, args.frames, fovy, camera, scales)
    if args.vae:
        from ..models.checkpoint import load_checkpoint
        vae = load_checkpoint(args.vae, device=args.device, dtype=torch.float32)[0].vae.eval()
        video = bank.tensors["video"]
        bank.tensors["latents"] = torch.cat([encode_latents(vae, video[i:i + args.batch])
                                             for i in range(0, len(bank), args.batch)])
        if not args.keep_video:
            del bank.tensors["video"]
    bank.save(args.out)
    print(f"{args.out}: {describe(bank)}")
    return 0


def run_encode(args: argparse.Namespace) -> int:
    import torch

    from ..models.checkpoint import load_checkpoint
    from .bank import describe, encode_latents, store_latent_stats
    from .data import ClipBank

    require_device(args.device)
    bank = ClipBank.load(args.bank)
    bank.require("video", path=args.bank)
    output_folder(args.out)
    vae = load_checkpoint(args.vae, device=args.device, dtype=torch.float32)[0].vae.eval()
    video = bank.tensors["video"]

    def encode_all():
        from tqdm import tqdm
        with tqdm(total=len(bank), desc="encode", unit="clip") as bar:
            parts = []
            for i in range(0, len(bank), args.batch):
                parts.append(encode_latents(vae, video[i:i + args.batch]))
                bar.update(parts[-1].shape[0])
        return torch.cat(parts)
    if args.measure_stats:
        vae.set_latent_stats(torch.zeros_like(vae.latent_mean), torch.ones_like(vae.latent_std))
        raw = encode_all()                                                # (N, F, C, h, w)
        mean, std = raw.mean(dim=(0, 1, 3, 4)), raw.std(dim=(0, 1, 3, 4)).clamp(min=1e-4)
        store_latent_stats(args.vae, mean.tolist(), std.tolist())
        vae.set_latent_stats(mean.to(vae.latent_mean), std.to(vae.latent_std))
    bank.tensors["latents"] = encode_all()
    if not args.keep_video:
        del bank.tensors["video"]
    bank.info["vae"] = str(args.vae)
    bank.save(args.out)
    print(f"{args.out}: {describe(bank)}")
    return 0


def run_samples(args: argparse.Namespace) -> int:
    from ..models.checkpoint import load_checkpoint
    from .data import ClipBank
    from .samples import sample_strip

    require_device(args.device)
    model = load_checkpoint(args.model, device=args.device)[0].eval()
    path = sample_strip(model, ClipBank.load(args.bank), args.out, args.clips, args.every, args.base, args.seed)
    print(f"samples -> {path}")
    return 0


def run_throughput(args: argparse.Namespace) -> int:
    """Median step time and clips/s of training logs after `--skip` warm-up steps; speed-up vs the first."""
    import json
    import statistics

    first = None
    for path in args.logs:
        try:
            records = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()][args.skip:]
        except OSError as err:
            raise ConfigError(f"{path}: cannot read the training log ({err.strerror})") from None
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}: not a training log (log.jsonl): line {err.lineno} is not JSON") from None
        if not records or "step_s" not in records[0]:
            raise ConfigError(f"{path}: no timed steps after the first {args.skip} (log_every must be 1)")
        rate = statistics.median(r["clips_per_s"] for r in records)
        first = rate if first is None else first
        print(f"{path}: {len(records)} steps, median {statistics.median(r['step_s'] for r in records) * 1e3:.1f} "
              f"ms/step, {rate:.1f} clips/s, x{rate / first:.2f} vs the first log")
    return 0


def run_ship(args: argparse.Namespace) -> int:
    """Re-write a checkpoint in the shipped form (worldsim/models/shipped.py) and print the sizes."""
    import torch

    from ..models.checkpoint import load_checkpoint
    from ..models.shipped import save_shipped

    model, meta = load_checkpoint(args.model, dtype=torch.float32)
    layout = {"format", "version", "preset", "resolution", "window", "model", "controls", "latent_stats",
              "weights", "omitted", "dtype", "quantization"}
    path = save_shipped(model, args.out, dtype=args.dtype, controls=meta.get("controls"),
                        extra={k: v for k, v in meta.items() if k not in layout})
    sizes = {f.name: f.stat().st_size for f in sorted(path.glob("model-*.safetensors"))}
    print(f"{path}: {args.dtype}, {len(sizes)} shards, {sum(sizes.values()) / 2**20:.1f} MiB "
          f"(largest {max(sizes.values()) / 2**20:.1f} MiB)")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a stage of the AAPT pipeline; build clip banks",
                              description="Train one stage: vae, base, adapt, distill, adversarial; or build a clip "
                                          "bank from the reference world (docs/train.md). A run whose out_dir "
                                          "holds a checkpoint resumes from it exactly.")
    sub = p.add_subparsers(dest="stage", required=True, metavar="{" + ",".join(STAGES) + ",bank,encode,samples,throughput,ship}")
    for stage in STAGES:
        sp = sub.add_parser(stage, help=STAGE_HELP[stage], description=STAGE_HELP[stage] + " (docs/train.md).")
        sp.add_argument("--config", required=True, help="TOML config (examples in configs/)")
        sp.add_argument("--steps", type=int, help="override loop.steps")
        sp.add_argument("--out", help="override loop.out_dir")
        sp.add_argument("--device", help="override loop.device (auto | cpu | cuda)")
        sp.set_defaults(func=run_stage)
    b = sub.add_parser("bank", help="a clip bank: rendered from the reference world, or from your own frames",
                       description="Clips of the reference world's stochastic player (walks, or the puppet "
                                   "scene), rendered, encoded with a VAE checkpoint, with control channels; "
                                   "one safetensors clip bank. --from-dir DIR takes your own engine's "
                                   "recordings instead: DIR/NAME.mp4 (or DIR/NAME/*.png) + DIR/NAME.npy, "
                                   "(T, 4, 4) OpenCV camera-to-world poses, one per frame (+ DIR/NAME.txt, "
                                   "an optional caption); each recording is cut into clips of --frames.")
    b.add_argument("--world-seeds", help="e.g. 0-63 or 0-7,100 (use other seeds for validation)")
    b.add_argument("--from-dir", metavar="DIR", help="your recordings: NAME.mp4 or NAME/*.png + NAME.npy poses")
    b.add_argument("--fovy", type=float, default=60.0, help="with --from-dir: your camera's vertical field "
                                                            "of view in degrees")
    b.add_argument("--out", required=True, help="bank file (.safetensors)")
    b.add_argument("--clips-per-seed", type=int, default=4, help="clips (players) per world seed")
    b.add_argument("--frames", type=int, default=17, help="video frames per clip, 1 + 4k")
    b.add_argument("--size", help="WIDTHxHEIGHT, multiples of 8 (default 128x128)")
    b.add_argument("--vae", help="checkpoint whose VAE encodes the clips into `latents` (else pixels only)")
    b.add_argument("--keep-video", action="store_true", help="keep `video` beside the latents")
    b.add_argument("--camera", choices=("od", "plucker"), help="add camera `controls` (25 channels)")
    b.add_argument("--camera-from", help="a bank (or a checkpoint folder) whose camera encoding (kind, fovy, "
                                         "scales) to reuse: validation banks must encode as the training bank did, "
                                         "and a model that goes on training as it was trained")
    b.add_argument("--kind", choices=("camera", "pose"), default="camera",
                   help="camera: walks through worlds; pose: the puppet scene with pose controls")
    b.add_argument("--device", default="cpu", help="render and encode on cpu or cuda")
    b.add_argument("--batch", type=int, default=16, help="clips rendered per call")
    b.add_argument("--compile", action="store_true", help="torch.compile the ray-marcher")
    b.add_argument("--workers", type=int, default=1,
                   help="render in N processes (round robin over the GPUs with --device cuda); pixels only")
    b.set_defaults(func=run_bank)
    e = sub.add_parser("encode", help="add VAE `latents` to a pixel clip bank",
                       description="Encode a bank's `video` with a (trained) VAE checkpoint into `latents`.")
    e.add_argument("--bank", required=True, help="pixel clip bank (.safetensors with `video`)")
    e.add_argument("--vae", required=True, help="checkpoint folder whose VAE encodes")
    e.add_argument("--out", required=True, help="bank file to write (.safetensors)")
    e.add_argument("--keep-video", action="store_true", help="keep `video` beside the latents")
    e.add_argument("--measure-stats", action="store_true",
                   help="measure the per-channel latent mean/std on this bank and store them in the VAE checkpoint")
    e.add_argument("--device", default="cpu", help="encode on cpu or cuda")
    e.add_argument("--batch", type=int, default=16, help="clips encoded per call")
    e.set_defaults(func=run_encode)
    s = sub.add_parser("samples", help="a PNG strip of a model's rollouts beside validation clips")
    s.add_argument("--model", required=True, help="checkpoint folder")
    s.add_argument("--bank", required=True, help="validation clip bank (latents; video and controls if any)")
    s.add_argument("--out", required=True, help="PNG file")
    s.add_argument("--clips", type=int, default=4, help="validation clips in the strip (one row each)")
    s.add_argument("--every", type=int, default=4, help="every n-th video frame")
    s.add_argument("--base", action="store_true", help="a bidirectional base model: sample whole clips from noise")
    s.add_argument("--seed", type=int, default=0, help="noise seed of the rollouts")
    s.add_argument("--device", default="cpu", help="run the model on cpu or cuda")
    s.set_defaults(func=run_samples)
    t = sub.add_parser("throughput", help="step time and clips/s of training logs (log.jsonl)")
    t.add_argument("logs", nargs="+", help="log.jsonl files; speed-ups are against the first")
    t.add_argument("--skip", type=int, default=5, help="warm-up steps left out")
    t.set_defaults(func=run_throughput)
    sh = sub.add_parser("ship", help="write a checkpoint in the shipped form (small shards, float16 or int8)",
                        description="Shards of <= 15 MiB without the full VAE decoder; --dtype int8 stores "
                                    "weight matrices as per-channel int8 (docs/model.md).")
    sh.add_argument("--model", required=True, help="checkpoint folder (full or shipped)")
    sh.add_argument("--out", required=True, help="folder to write (e.g. worldsim/assets/default)")
    sh.add_argument("--dtype", choices=("float16", "int8"), default="float16",
                    help="weight storage: float16, or per-channel int8 weight matrices")
    sh.set_defaults(func=run_ship)
