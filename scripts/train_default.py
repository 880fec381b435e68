"""Train the embedded default model end to end on one GPU, every stage in this one process.

    CUDA_VISIBLE_DEVICES=0 python scripts/train_default.py camera --work /tmp/wd/camera --compile
    CUDA_VISIBLE_DEVICES=1 python scripts/train_default.py camera --work /tmp/wd/wide --compile \
        --bank-from /tmp/wd/camera --vae-set channels=64,128,256,256 --vae-set time_up_kernel=3
    CUDA_VISIBLE_DEVICES=1 python scripts/train_default.py pose --work /tmp/wd/pose \
        --then-adversarial-ablation /tmp/wd/camera

Stages (docs/train.md), each bounded by a wall-clock budget (loop.max_seconds, cosine learning
rate over the budget) instead of a step count, so the whole run fits a device lease:
bank (rendered in worker processes, or another run's with --bank-from) -> vae -> encode (and the
VAE's round trip on the validation clips: PSNR, and motion inside and across latent frames) -> adapt (from the VAE
run: a random generator, trained block-causally on clips longer than the attention window) ->
distill -> adversarial (student forcing); a budget of 0 skips a stage. After each generator stage:
a sample strip of the validation clips, a shipped copy (`save_shipped`: int8 shards <= 15 MiB,
no full VAE decoder) under WORK/ship_<stage> and the whole model in float16 shards under
WORK/full_<stage> (what a later lease carries: `--continue-from WORK/full_adapt` renders the banks
with that model's camera encoding, encodes them with its VAE and statistics, and trains its
generator on; `--continue-from worldsim/assets/default` goes on from the shipped int8 weights). `--then-adversarial-ablation CAMERA_WORK` afterwards
runs the teacher-forced adversarial ablation of that camera run (it waits for CAMERA_WORK/distill/model).
With --compile a stage that fails to compile is run again eagerly (logged).

Everything runs in-process (`worldsim.train.__main__.main`): a device lease may end the call
that started this process, and programs started after that cannot load torch. Progress goes to
WORK/driver.log; every stage's log.jsonl and out/ stay under WORK.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import tomli_w

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BANKS = {   # kind: (train world seeds, clips per seed, validation seeds)
    "camera": ("0-383", 3, "1000-1007"),
    "pose": ("0-383", 1, "1000-1007"),      # pose clips: one per seed (the puppet's look and walk)
}


class Driver:
    def __init__(self, kind: str, work: Path, scale: float, workers: int, dry_run: bool = False,
                 compile: bool = False, bank_from: Path | None = None, vae_set: dict | None = None):
        self.kind, self.work, self.scale, self.workers = kind, work, scale, workers
        self.compile, self.bank_from, self.vae_set = compile, bank_from, vae_set or {}
        self.attention, self.t_one_fraction = "sdpa", 0.0          # generator attention, adapt.t_one_fraction
        self.recycle_warp, self.latents_from = False, None          # model.recycle_warp; --latents-from
        self.continue_from, self.adapt_lr = None, 4e-4              # --continue-from; adapt's peak lr
        self.recycle_keep = False                                   # model.recycle_warp_keep
        self.own_passes, self.own_fraction = 0, 0.5                 # adapt.own_passes / own_fraction
        self.motion_weight = 0.0                                    # adapt.motion_weight
        self.profile_steps = 0                                      # loop.profile_steps of every stage
        self.adv_lr, self.adv_regression = 1e-5, 0.0                # adversarial g_lr (= d_lr) / regression_weight
        self.adv_d_lr, self.adv_r_lambda = None, None                # adversarial d_lr (None: adv_lr) / r_lambda
        self.long_frames, self.segment_frames = 0, 21                # adversarial.long_frames / segment_frames
        self.adv_warmup, self.adv_batch = 100, 8                     # stage 3's optim.warmup_steps, batch
        self.adv_teacher_forced = False                              # stage 3 on the true clips (Fig. 7's ablation)
        self.ship_dtype = "int8"                                    # what comes back from a lease must be small
        # A dry run (CPU, `tiny`, a few seconds a stage) checks the whole driver before a lease.
        self.preset, self.device, self.size = ("tiny", "cpu", "32x32") if dry_run else ("default", "cuda", "128x128")
        self.frames = 17 if dry_run else 81    # video frames per clip: 81 = 21 latent frames > the 16-frame window
        self.train_frames = self.frames        # --clip-frames: the training bank's (long walks: 1441 = 60 s)
        self.seeds = ("0-3", 4, "1000") if dry_run else BANKS[kind]
        self.batch_cap = 4 if dry_run else 1024
        work.mkdir(parents=True, exist_ok=True)
        self.log = (work / "driver.log").open("a")
        self.t0 = time.time()

    def note(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')} +{time.time() - self.t0:6.0f}s] {self.kind}: {text}"
        print(line, flush=True)
        self.log.write(line + "\n")
        self.log.flush()

    def train(self, *argv: str) -> None:
        from worldsim.train.__main__ import main
        started = time.time()
        try:
            rc = main(list(argv))
        except Exception as e:                       # noqa: BLE001 - a compiled stage falls back to eager
            if not self.compile or "--config" not in argv:
                raise
            self.note(f"{argv[0]} failed compiled ({type(e).__name__}: {str(e)[:300]}); again eagerly")
            path = Path(argv[argv.index("--config") + 1])
            import shutil
            import tomllib
            cfg = tomllib.loads(path.read_text())
            cfg["loop"]["compile"] = False
            cfg["model"]["attention"] = "sdpa"       # flex is only fast compiled
            path.write_text(tomli_w.dumps(cfg))
            shutil.rmtree(cfg["loop"]["out_dir"], ignore_errors=True)
            rc = main(list(argv))
        self.note(f"{' '.join(argv[:2])}: rc {rc} in {time.time() - started:.0f} s")
        if rc:
            raise SystemExit(f"{argv[0]} failed (rc {rc})")

    def config(self, stage: str, seconds: float, batch: int, lr: float, bank: str, model: dict,
               extra: dict | None = None, compile: bool | None = None, warmup: int = 100, log_every: int = 10,
               data: dict | None = None) -> str:
        cfg = {"stage": stage, "model": {"preset": self.preset, **model},
               "data": {"path": bank, "batch_size": min(batch, self.batch_cap), **(data or {})},
               "optim": {"lr": lr, "warmup_steps": warmup, "schedule": "cosine", "final_lr_fraction": 0.05},
               "loop": {"steps": 1_000_000, "max_seconds": seconds * self.scale, "out_dir": str(self.work / stage),
                        "log_every": log_every, "checkpoint_every": 1_000_000, "device": self.device, "progress": False,
                        "tensorboard": False, "profile_steps": self.profile_steps,
                        "compile": self.compile if compile is None else compile}, **(extra or {})}
        path = self.work / f"{stage}.toml"
        path.write_text(tomli_w.dumps(cfg))
        return str(path)

    def banks(self, camera_from: Path | None = None) -> None:
        if self.bank_from is not None:               # another run renders it: wait, then link
            self.wait_for(self.bank_from, ("train_px.safetensors", "val_px.safetensors"))
            for name in ("train_px.safetensors", "val_px.safetensors"):
                src = self.bank_from / name
                if not (self.work / name).exists():
                    (self.work / name).symlink_to(src.resolve())
            self.note(f"bank from {self.bank_from}")
            return
        seeds, per_seed, val = self.seeds
        common = ["--size", self.size, "--device", self.device, "--kind", self.kind]
        camera = ["--camera-from", str(camera_from)] if camera_from else ["--camera", "od"]
        if not (self.work / "train_px.safetensors").exists():
            self.train("bank", "--world-seeds", seeds, "--clips-per-seed", str(per_seed), *common,
                       "--frames", str(self.train_frames), "--workers", str(self.workers), "--out", str(self.work / "train_px.safetensors"),
                       *(camera if self.kind == "camera" else []))
        if not (self.work / "val_px.safetensors").exists():
            self.train("bank", "--world-seeds", val, "--clips-per-seed", "2", *common, "--frames", str(self.frames),
                       "--out", str(self.work / "val_px.safetensors"),
                       *(["--camera-from", str(self.work / "train_px.safetensors")] if self.kind == "camera" else []))
        for name in ("train_px.safetensors", "val_px.safetensors"):
            (self.work / f"{name}.done").touch()     # for runs waiting with --bank-from

    def encode(self, vae: Path, measure: bool) -> None:
        """Latents of the train and validation banks; `measure`: the VAE's latent statistics first
        (stored in its checkpoint), else the ones it has (a model that goes on training keeps them)."""
        batch = 64 if self.train_frames <= 81 else 2      # long walks: the encoder holds every frame at once
        self.train("encode", "--bank", str(self.work / "train_px.safetensors"), "--vae", str(vae),
                   *(["--measure-stats"] if measure else []), "--device", self.device, "--batch", str(batch),
                   "--out", str(self.work / "train.safetensors"))
        self.train("encode", "--bank", str(self.work / "val_px.safetensors"), "--vae", str(vae), "--keep-video",
                   "--device", self.device, "--out", str(self.work / "val.safetensors"))
        for name in ("train.safetensors", "val.safetensors"):
            (self.work / f"{name}.done").touch()   # for runs waiting with --latents-from

    @staticmethod
    def wait_for(work: Path, names: tuple[str, ...]) -> None:
        """Until another run's files exist and are marked done (NAME.done)."""
        while not all((work / n).exists() and (work / f"{n}.done").exists() for n in names):
            time.sleep(5)

    def vae_bank(self) -> str:
        """The VAE trains on 17-frame windows of the clips (5 per 81-frame clip, sharing end frames)."""
        import torch

        from worldsim.train.data import ClipBank
        path = self.work / "vae_px.safetensors"
        if not path.exists():
            bank = ClipBank.load(self.work / "train_px.safetensors")
            video = bank.tensors["video"]                                        # (N, 3, 81, H, W)
            windows = torch.cat([video[:, :, s:s + 17] for s in range(0, self.frames - 16, 16)])
            ClipBank({"video": windows}, bank.prompts * (windows.shape[0] // video.shape[0]), bank.info).save(path)
            self.note(f"vae bank: {tuple(windows.shape)}")
        return str(path)

    def strip_and_ship(self, stage: str, val: Path | None = None) -> None:
        import torch

        from worldsim.models.checkpoint import load_checkpoint, read_config, save_shipped
        model_dir = self.work / stage / "model"
        self.train("samples", "--model", str(model_dir), "--bank", str(val or self.work / "val.safetensors"),
                   "--out", str(self.work / f"samples_{stage}.png"), "--device", self.device)
        model, meta = load_checkpoint(model_dir, dtype=torch.float32)
        keep = {k: meta[k] for k in ("trained_by", "trained_clip_frames") if k in meta}
        controls = read_config(model_dir)["controls"]
        save_shipped(model, self.work / f"ship_{stage}", dtype=self.ship_dtype, controls=controls, extra=keep)
        # the whole model (full VAE decoder too) in float16 shards: small enough to come back from a
        # lease, and what a later lease carries to go on training (--continue-from)
        save_shipped(model, self.work / f"full_{stage}", dtype="float16", omit=(), controls=controls, extra=keep)
        self.note(f"shipped {stage} -> {self.work / f'ship_{stage}'} (whole model, float16: full_{stage})")
        (self.work / f"{stage}.done").touch()     # for a run waiting with --then-adversarial-ablation

    def vae_init(self) -> dict:
        """--vae-set: a random checkpoint of the preset with those VAEConfig fields to start from."""
        if not self.vae_set:
            return {}
        from dataclasses import replace

        from worldsim.config import model_preset
        from worldsim.models.checkpoint import save_checkpoint
        from worldsim.models.model import build_model
        cfg = model_preset(self.preset)
        cfg = replace(cfg, vae=replace(cfg.vae, **self.vae_set))
        path = self.work / "init_vae"
        save_checkpoint(build_model(cfg), path, extra={"trained_by": "random init (train_default --vae-set)"})
        return {"init": str(path)}

    def round_trip(self) -> None:
        """The VAE's round trip on the validation clips, light (play) and full decoder: PSNR, and how
        the decoded frames follow the real ones' horizontal motion (least-squares gain of LK shifts,
        100 = as the truth) inside latent frames and across their boundaries."""
        import numpy as np
        import torch

        from worldsim.eval.lk import lk_shifts, pair_masks
        from worldsim.eval.yaw import following_gain as gain
        from worldsim.models.checkpoint import load_checkpoint
        from worldsim.train.data import ClipBank

        model, _ = load_checkpoint(self.work / "vae" / "model", device=self.device)
        video = ClipBank.load(self.work / "val_px.safetensors").tensors["video"]        # (N, 3, T, H, W) uint8
        inside, boundary = pair_masks(video.shape[2])
        real = video.permute(0, 2, 3, 4, 1).numpy()
        truth = lk_shifts(real, inside | boundary)
        out = {}
        with torch.no_grad():
            for light in (True, False):
                rec = torch.cat([model.vae.decode(model.vae.encode(c[None].to(self.device).float() / 127.5 - 1),
                                                  light=light).clamp(-1, 1).cpu() for c in video])
                mse = (rec - (video.float() / 127.5 - 1)).pow(2).mean().item()
                frames = ((rec + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 4, 1).numpy()
                dx = lk_shifts(frames, inside | boundary)
                pct = [gain(dx[:, m], truth[:, m]) for m in (inside, boundary)]     # None: the truth did not move
                inside_pct, across_pct = ("n/a" if v is None else f"{v:.0f} %" for v in pct)
                out["light" if light else "full"] = (f"PSNR {10 * np.log10(4 / mse):.2f} dB, motion gain inside "
                                                     f"{inside_pct}, across {across_pct}")
        self.note(f"vae round trip on validation clips: {out}")

    def run(self, budgets: dict[str, float]) -> None:
        if self.latents_from is not None:            # another run's VAE and encoded banks: wait, then link
            self.wait_for(self.latents_from, ("train.safetensors", "val.safetensors"))
            for name in ("train.safetensors", "val.safetensors"):
                if not (self.work / name).exists():
                    (self.work / name).symlink_to((self.latents_from / name).resolve())
            vae = self.continue_from or self.latents_from / "vae" / "model"
            self.note(f"VAE and latents from {self.latents_from}")
        elif self.continue_from is not None:     # a trained model's VAE (stats kept) and generator go on
            self.banks(camera_from=self.continue_from)     # encoded with the model's own camera scales
            vae = self.continue_from
            self.encode(vae, measure=False)
        else:
            self.banks()
            vae = self.work / "vae" / "model"
            self.train("vae", "--config", self.config("vae", budgets["vae"], 16, 3e-4, self.vae_bank(),
                                                      self.vae_init()))
            self.round_trip()
            self.encode(vae, measure=True)
        bank = str(self.work / "train.safetensors")
        if budgets["adapt"] <= 0:               # e.g. a run that only waits to run another's ablation
            self.note("no adapt stage (budget 0)")
            if self.continue_from is not None and budgets["adversarial"] > 0:   # stage 3 of the given model
                self.adversarial(self.work, "adversarial", not self.adv_teacher_forced, budgets["adversarial"])
            return
        from safetensors import safe_open
        with safe_open(bank, framework="pt") as f:
            channels = f.get_slice("controls").get_shape()[2]   # camera rays (25) | pose heatmaps
        self.train("adapt", "--config", self.config("adapt", budgets["adapt"], 64, self.adapt_lr, bank,
                                                    {"init": str(vae), "control_channels": channels,
                                                     "attention": self.attention, "recycle_warp": self.recycle_warp,
                                                     "recycle_warp_keep": self.recycle_keep},
                                                    {"adapt": {"t_one_fraction": self.t_one_fraction,
                                                               "own_passes": self.own_passes,
                                                               "own_fraction": self.own_fraction,
                                                               "motion_weight": self.motion_weight}}))
        self.strip_and_ship("adapt")
        adapt = str(self.work / "adapt" / "model")
        if budgets["distill"] <= 0:          # adapt's t = 1 clips already make it a one-step model
            if budgets["adversarial"] > 0:
                self.adversarial(self.work, "adversarial", not self.adv_teacher_forced, budgets["adversarial"])
            return
        self.train("distill", "--config", self.config("distill", budgets["distill"], 32, 5e-5, bank, {"init": adapt},
                                                      {"distill": {"teacher": adapt}}))
        self.strip_and_ship("distill")
        if budgets["adversarial"] > 0:
            self.adversarial(self.work, "adversarial", not self.adv_teacher_forced, budgets["adversarial"])

    def adversarial(self, camera: Path, name: str, student_forcing: bool, seconds: float) -> None:
        """Stage 3 from CAMERA's distilled model (its adapt model where it ran no distill stage; the
        --continue-from model where it ran neither), with a discriminator from its adapt model (or that
        one). With --compile its whole-clip forwards (D's judgements, G's recompute) run compiled on --attention and
        the student-forced rollout through G's compiled one-frame step (as adapt's own rollouts); long video
        (--long-frames) stays eager."""
        from safetensors import safe_open
        bank = str(camera / "train.safetensors")
        adapt = camera / "adapt" / "model"
        init = next((p for p in (camera / "distill" / "model", adapt) if p.exists()), self.continue_from)
        section = {"discriminator": str(adapt if adapt.exists() else init), "student_forcing": student_forcing,
                   "g_lr": self.adv_lr, "d_lr": self.adv_d_lr or self.adv_lr, "regression_weight": self.adv_regression}
        if self.adv_r_lambda is not None:
            section["r_lambda"] = self.adv_r_lambda
        data, log_every = {}, 10
        if self.long_frames:                    # segments of segment_frames, overlap 1; few steps: log each
            section.update(long_frames=self.long_frames, segment_frames=self.segment_frames, segment_overlap=1)
            with safe_open(bank, framework="pt") as f:
                stored = f.get_slice("latents").get_shape()[1]
            data = {"frames": self.long_frames} if stored >= self.long_frames else {}   # a long bank: its first L
            log_every = 1
        compiled = self.compile and not self.long_frames
        model = {"init": str(init), "attention": self.attention if compiled else "sdpa"}   # flex is only fast compiled
        cfg = self.config(name, seconds, self.adv_batch, self.adv_lr, bank, model, {"adversarial": section},
                          compile=compiled, warmup=self.adv_warmup, log_every=log_every, data=data)
        self.train("adversarial", "--config", cfg)
        self.strip_and_ship(name, camera / "val.safetensors")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=("camera", "pose"))
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--scale", type=float, default=1.0, help="multiply every stage's time budget")
    p.add_argument("--workers", type=int, default=12, help="bank rendering processes")
    p.add_argument("--budgets", default="{}", help='JSON seconds per stage, e.g. {"adapt": 480}')
    p.add_argument("--then-adversarial-ablation", type=Path, help="a camera run's WORK: teacher-forced stage 3 of it")
    p.add_argument("--dry-run", action="store_true", help="tiny preset on the CPU, seconds per stage")
    p.add_argument("--compile", action="store_true", help="torch.compile the stages (eager again if that fails)")
    p.add_argument("--bank-from", type=Path, help="use the clip banks another run's WORK renders (waits for them)")
    p.add_argument("--vae-set", action="append", default=[], metavar="FIELD=VALUE",
                   help="a VAEConfig field instead of the preset's (repeatable), e.g. channels=64,128,256,256 "
                        "or time_up_kernel=3")
    p.add_argument("--attention", default="sdpa", choices=("sdpa", "flex"), help="generator attention in training")
    p.add_argument("--recycle-warp", action="store_true",
                   help="model.recycle_warp: the recycled latent re-projected to the new view (models/warp.py)")
    p.add_argument("--recycle-keep", action="store_true",
                   help="with --recycle-warp: the unwarped latent too (model.recycle_warp_keep)")
    p.add_argument("--latents-from", type=Path, help="use another run's VAE and encoded banks (waits for them); "
                   "only the generator stages run here")
    p.add_argument("--continue-from", type=Path, help="a trained model (e.g. a lease's full_adapt) whose VAE encodes "
                   "the banks (its latent statistics kept) and whose generator adapt goes on training; no VAE stage")
    p.add_argument("--adapt-lr", type=float, default=4e-4, help="adapt's peak learning rate (default 4e-4)")
    p.add_argument("--own-passes", type=int, default=0, help="adapt.own_passes: recycle the model's own predictions, "
                   "K passes deep (K-step rollouts; -1: the free rollout through the KV cache), for a share "
                   "--own-fraction of the batches")
    p.add_argument("--own-fraction", type=float, default=0.5, help="adapt.own_fraction (default 0.5)")
    p.add_argument("--profile-steps", type=int, default=0, help="loop.profile_steps of every stage: profile that many "
                   "steps from step 20 (out_dir/profile.txt)")
    p.add_argument("--motion-weight", type=float, default=0.0, help="adapt.motion_weight: a frame's loss weighs 1 + "
                   "this x its true change over the batch's mean change (normalised; turns count most; default 0)")
    p.add_argument("--adv-lr", type=float, default=1e-5, help="stage 3's G and D learning rate (default 1e-5)")
    p.add_argument("--adv-d-lr", type=float, help="stage 3's D learning rate (default: --adv-lr)")
    p.add_argument("--adv-r-lambda", type=float, help="adversarial.r_lambda, the weight of D's approximate R1/R2 "
                   "smoothness penalty (default 1000)")
    p.add_argument("--adv-regression", type=float, default=0.0,
                   help="adversarial.regression_weight: G also regresses its frames onto the true ones (default 0)")
    p.add_argument("--clip-frames", type=int, help="video frames per training-bank clip, 1 + 4k (default 81; "
                   "1441: 60-s walks, 361 latent frames, the truth of a long-video rollout)")
    p.add_argument("--train-seeds", help="training-bank world seeds and walks per seed, e.g. 0-95:1 (default 0-383:3)")
    p.add_argument("--long-frames", type=int, default=0, help="stage 3 long video: adversarial.long_frames latent "
                   "frames in segments of --segment-frames (on a bank that long: its own controls and truth)")
    p.add_argument("--segment-frames", type=int, default=21, help="adversarial.segment_frames (default 21)")
    p.add_argument("--adv-warmup", type=int, default=100, help="stage 3's warm-up steps (default 100)")
    p.add_argument("--adv-teacher-forced", action="store_true",
                   help="stage 3 teacher-forced: G's fakes are its one-step predictions from the true clips, no rollout (AAPT Fig. 7's ablation)")
    p.add_argument("--adv-batch", type=int, default=8, help="stage 3's batch (default 8)")
    p.add_argument("--t-one", type=float, default=0.0, help="adapt.t_one_fraction: share of clips trained at t = 1")
    args = p.parse_args()
    budgets = {"vae": 200, "adapt": 480, "distill": 150, "adversarial": 180, "ablation": 180}
    if args.kind == "pose":
        budgets.update(adapt=400, distill=120, adversarial=0)
    budgets.update(json.loads(args.budgets))
    if args.dry_run:
        budgets = {k: min(v, 4.0) for k, v in budgets.items()}
    vae_set = {}
    for item in args.vae_set:
        field, _, value = item.partition("=")
        numbers = tuple(int(v) for v in value.split(","))
        vae_set[field] = numbers if "," in value else numbers[0]
    d = Driver(args.kind, args.work, args.scale, args.workers, args.dry_run, args.compile, args.bank_from, vae_set)
    d.attention, d.t_one_fraction = args.attention, args.t_one
    d.recycle_warp, d.latents_from = args.recycle_warp, args.latents_from
    d.continue_from, d.adapt_lr = args.continue_from, args.adapt_lr
    d.recycle_keep = args.recycle_keep
    d.own_passes, d.own_fraction, d.motion_weight = args.own_passes, args.own_fraction, args.motion_weight
    d.profile_steps = args.profile_steps
    d.adv_lr, d.adv_regression = args.adv_lr, args.adv_regression
    d.adv_d_lr, d.adv_r_lambda = args.adv_d_lr, args.adv_r_lambda
    d.adv_teacher_forced = args.adv_teacher_forced
    d.long_frames, d.segment_frames, d.adv_warmup, d.adv_batch = (args.long_frames, args.segment_frames,
                                                                  args.adv_warmup, args.adv_batch)
    if args.clip_frames:
        d.train_frames = args.clip_frames
    if args.train_seeds:
        seeds, _, per_seed = args.train_seeds.partition(":")
        if not per_seed.isdigit() and per_seed:
            p.error(f"--train-seeds: walks per seed after ':' must be a number, got {args.train_seeds!r}")
        d.seeds = (seeds, int(per_seed or 1), d.seeds[2])
    d.note(f"budgets {budgets} x{args.scale}")
    d.run(budgets)
    if args.then_adversarial_ablation:
        init = "adapt" if budgets["distill"] <= 0 else "distill"      # that run's stage-3 init
        while not (args.then_adversarial_ablation / f"{init}.done").exists():
            time.sleep(5)
        d.note("camera model ready: teacher-forced adversarial ablation")
        d.adversarial(args.then_adversarial_ablation, "adversarial_tf", False, budgets["ablation"])
    d.note("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
