"""`aapt`: the neural renderer — generator + streaming VAE decoder behind the Renderer protocol.

    r = create_renderer("aapt", checkpoint="ckpt/")              # or preset="default" (random init)
    s = r.open(seed=1, prompt="a snowy forest", first_frame=rgb)  # rgb (H, W, 3) uint8 or None
    r.step([s], [[packet]])             # step 0: the first frame alone, (1, H, W, 3)
    r.step([s], [[p1, p2, p3, p4]])     # then one latent frame = 4 video frames per step

Sessions share one model and one static KV cache of `max_sessions` rows; a step runs all
pending sessions as one batch (one generator forward, one decoder forward). The control kinds,
their encoder settings (camera encoding, scale constants) and the latent statistics come from the
checkpoint's config; without a checkpoint a preset is randomly initialised (frames are noise
until it is trained) and `controls` picks the kinds. Without a first frame a trained model
(a checkpoint) starts from the reference world's first frame (`start="reference"`): the
ray-marched world of the session's seed at its spawn point, seen from the rig's starting pose
(the frame `worldsim eval` starts from), or for a pose model the puppet scene; a random model
starts from a seeded random latent (`start="noise"`). On CPU the renderer sets torch to one
intra-op thread (`threads`). `compile=True` compiles the generator's step (torch.compile,
fullgraph, CUDA graphs on CUDA; per ring phase (filling, full) a graph for one session, one for any
batch of 2 or more (the batch dimension dynamic) and one for all rows in order);
a string picks the torch.compile backend. `fp8=True` runs the generator's block linears (attention
projections, MLPs) in float8 e4m3 with rowwise scales (models/fp8.py; `spec.info["fp8_linears"]`
says how many): for Ada/Hopper GPUs; on CPU it is slow and only checks the error. `warm_up(batch_sizes)` traces them all before the first
session opens (the worker does, for its batch buckets: worldsim/models/warmup.py); untraced, a graph
compiles on first use, stalling play. `guidance=w` (> 0, camera models) plays each step twice, with
the camera held still and with the player's, and extrapolates w times their difference
(models/guidance.py): the camera followed more, at twice the generator's time. `kv_splits=n` attends
the full cache in n key chunks merged by their log-sum-exps (models/attention.py; for large presets on
GPUs, where one frame's queries leave SMs idle). `compile_scope="blocks"` compiles each block instead of the whole
step (a deep preset's warm-up then compiles one block's code per shape, not all of them) and on CUDA captures each
step as a CUDA graph by hand (models/step_graphs.py).

A model trained on clips of `trained_clip_frames` latent frames (config.json) that plays with a
window of N frames sees, once the ring is full, N + 1 positions; if that is more than it was
trained on, `spec.info["warning"]` says so and the first session to run past prints it once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import sys
import time

import numpy as np
import torch

from ..config import model_preset, replace_generator
from ..rendering import RendererError, RendererFull, RendererSpec
from .checkpoint import load_checkpoint
from .fp8 import fp8_option
from .guidance import camera_guidance
from .model import build_model
from .vae import StreamingDecoder, TimeUp
from .warmup import step_row_sets, warm_up_step

DEFAULT_CONTROLS = {"camera": {"kind": "od"}}


@dataclass
class AaptSession:
    slot: int
    noise: torch.Generator
    encoders: Any                      # worldsim.controls.encoding.ControlEncoders of this session
    first_latent: torch.Tensor         # (C, h, w), decoded by step 0
    steps: int = 0
    teacher: tuple | None = None       # (ground-truth video it came from, its latents (1+k, C, h, w))


class AaptRenderer:
    def __init__(self, checkpoint: str | None = None, preset: str = "default", width: int | None = None,
                 height: int | None = None, device: str = "cpu", dtype: str | None = None,
                 max_sessions: int = 4, controls: dict[str, dict] | Sequence[str] | None = None,
                 light_decoder: bool = True, seed: int = 0, threads: int | None = None, start: str | None = None,
                 compile: bool | str = False, window: int | None = None, fp8: bool = False, guidance: float = 0.0,
                 kv_splits: int = 1, compile_scope: str = "step"):
        from ..controls.encoding import control_channels
        from ..controls.registry import get_control

        self.device = torch.device(device)
        if self.device.type == "cpu":
            # One intra-op thread by default: the model's ops are small, and the display process
            # needs the other core (two spinning OpenMP threads on a busy 2-core box run ~6x slower).
            torch.set_num_threads(threads or 1)
        torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        self.start = start or ("reference" if checkpoint else "noise")
        if self.start not in ("reference", "noise"):
            raise ValueError(f"aapt start must be 'reference' or 'noise', got {start!r}")
        self._reference = None                 # made on the first session that starts from the reference
        meta = {}
        if checkpoint:
            self.model, meta = load_checkpoint(checkpoint, self.device, torch_dtype)
            self.controls = meta.get("controls", {})
        else:
            self.controls = dict(DEFAULT_CONTROLS) if controls is None else (
                dict(controls) if isinstance(controls, dict) else {k: {} for k in controls})
            cfg = model_preset(preset)
            cfg = replace_generator(cfg, control_channels=control_channels(list(self.controls), self.controls))
            self.model = build_model(cfg, self.device, torch_dtype, seed=seed)
        if window is not None:            # play with another attention window than the config's
            if not isinstance(window, int) or window < 1:
                raise ValueError(f"aapt window must be a positive number of latent frames, got {window!r}")
            self.model.cfg = replace_generator(self.model.cfg, window=window)
            self.model.generator.cfg = self.model.cfg.generator
        cfg = self.model.cfg
        gen = cfg.generator
        width, height = width or cfg.width, height or cfg.height
        multiple = 8 * gen.patch
        if width % multiple or height % multiple or width < multiple or height < multiple:
            raise ValueError(f"aapt renders sizes divisible by {multiple}; got {width}x{height}")
        expected = control_channels(list(self.controls), self.controls)
        if expected != gen.control_channels:
            raise ValueError(f"the model takes {gen.control_channels} control channels but the controls "
                             f"{list(self.controls)} make {expected}")
        self.latent_hw = (height // 8, width // 8)
        self.guidance = camera_guidance(guidance, self.controls, self.latent_hw, torch_dtype, self.device)
        generator_params = sum(p.numel() for p in self.model.generator.parameters())
        fp8_linears = fp8_option(fp8, self.model.generator, self.device)
        if not isinstance(kv_splits, int) or isinstance(kv_splits, bool) or kv_splits < 1:
            raise ValueError(f"aapt kv_splits must be a whole number >= 1, got {kv_splits!r}")
        self.model.generator.kv_splits = kv_splits
        self.setup_cache(max_sessions)
        if compile_scope not in ("step", "blocks"):
            raise ValueError(f"aapt compile_scope must be step or blocks, got {compile_scope!r}")
        if compile:           # True: Inductor (+ CUDA graphs on CUDA); a string: that torch.compile backend
            backend = compile if isinstance(compile, str) else "inductor"
            cuda_graphs = backend == "inductor" and self.device.type == "cuda"
            self.model.generator.compile_step(backend, mode="reduce-overhead" if cuda_graphs else None,
                                              dynamic_batch=True,     # a graph per phase for sizes >= 2
                                              scope=compile_scope)
        self.decoder = StreamingDecoder(self.model.vae, light=light_decoder, sessions=max_sessions)
        self.free_slots = list(range(max_sessions))
        self.spec = RendererSpec(
            name="aapt", width=width, height=height, fps=cfg.fps, frames_per_step=4, first_step_frames=1,
            control_kinds={kind: get_control(kind).schema for kind in self.controls},
            info={"preset": cfg.name, "latent": [gen.latent_channels, *self.latent_hw], "window": gen.window,
                  "checkpoint": str(checkpoint) if checkpoint else None, "device": str(self.device),
                  "dtype": str(torch_dtype).removeprefix("torch."), "max_sessions": max_sessions,
                  "generator_params": generator_params, "start": self.start, "compile": compile,
                  "fp8": fp8, "fp8_linears": fp8_linears, "guidance": self.guidance.weight if self.guidance else 0.0,
                  "kv_splits": kv_splits, "compile_scope": compile_scope if compile else None},
            static_batches=bool(compile))
        self.trained_frames = meta.get("trained_clip_frames")
        if isinstance(self.trained_frames, int) and self.trained_frames < gen.window + 1:
            self.spec.info["warning"] = (
                f"this model was trained on clips of {self.trained_frames} latent frames but plays with a window "
                f"of {gen.window} (+ the first frame): positions beyond {self.trained_frames} latent frames "
                f"({4 * (self.trained_frames - 1) / cfg.fps:.1f} s) are untrained; expect the picture to degrade")
        self._warned = False
        # The batch sizes the generator's step is padded up to (`step`): the compiled sizes, set by
        # warm_up; empty (never padded) until then and for an uncompiled renderer.
        self.pad_sizes: tuple[int, ...] = ()

    def warm_up(self, batch_sizes: Sequence[int], progress=None) -> float:
        """Trace the compiled step for every batch size in `batch_sizes` up to `max_sessions` (and
        the smallest above it when `max_sessions` is no batch size: a padded batch) and both ring phases, before any session opens (models/warmup.py); returns the seconds it took,
        also in spec.info["compile_s"]. 0.0 for an uncompiled renderer. From then on `step` pads a
        batch up to the smallest of these sizes that holds it (`pad_sizes`), so a batch of 127
        runs the graph of 128 (the worker cuts batches that waste little: runtime/scheduling.py).
        `progress(done, total, rows, full, seconds)` hears of each graph as it is traced (warm_up_step)."""
        if not self.spec.info["compile"]:
            return 0.0
        held = self.spec.info["max_sessions"]
        if len(self.free_slots) != held:
            raise RendererError(f"warm up before opening sessions: {held - len(self.free_slots)} are open")
        t0 = time.perf_counter()
        graphs = warm_up_step(self.model.generator, batch_sizes, progress=progress)
        sets = step_row_sets(batch_sizes, held)
        self._warm_up_decoder(sets)
        seconds = time.perf_counter() - t0
        self.spec.info.update(compile_s=round(seconds, 3), compiled_graphs=graphs)
        self.pad_sizes = tuple(sorted({len(rows) for rows in sets}))
        return seconds

    @torch.no_grad()
    def _warm_up_decoder(self, row_sets) -> None:
        """The eager light decoder once per row set and phase (a first latent, then a later one), so the first
        real-time batch of a size does not pay the device's first-use costs (kernel plans, allocations) in play;
        every decoder row starts afresh after."""
        prev = self.model.generator.prev_latent
        for rows in [*row_sets, None]:
            for row in range(prev.shape[0]):                  # every row afresh: a first latent, then a later one
                self.decoder.cache.restart(row)
            if rows is not None:                              # (None: the last restart, after the last set)
                zeros = prev.new_zeros((len(rows), *prev.shape[1:]))
                self.decoder(zeros, rows)
                self.decoder(zeros, rows)

    def setup_cache(self, sessions: int) -> None:
        """The generator's static KV cache, a row per session (`worldsim serve --gpus N`,
        parallel_serving.py: each rank's H/P heads)."""
        self.model.generator.setup_cache(sessions, self.latent_hw, self.model.cfg.text.length)

    # ---- sessions --------------------------------------------------------------------------
    @torch.no_grad()
    def open(self, seed: int, prompt: str = "", first_frame: np.ndarray | None = None,
             controls: Sequence[str] = ()) -> AaptSession:
        from ..controls.encoding import ControlEncoders

        unknown = set(controls) - set(self.controls)
        if unknown:
            raise RendererError(f"this aapt model takes controls {sorted(self.controls)}, got {sorted(unknown)}")
        if not self.free_slots:
            raise RendererFull(f"aapt renderer is full ({self.spec.info['max_sessions']} sessions); "
                                "close one or raise max_sessions")
        noise = torch.Generator().manual_seed(int(seed))
        latent = self._first_latent(first_frame, noise, int(seed))                 # (C, h, w)
        slot = self.free_slots.pop(0)
        text = self.model.text_encoder([prompt])
        self.model.generator.start(latent[None], text, slots=[slot])
        self.decoder.cache.restart(slot)
        encoders = ControlEncoders(list(self.controls), *self.latent_hw, self.controls)
        return AaptSession(slot, noise, encoders, latent)

    def close(self, state: AaptSession) -> None:
        if state.slot >= 0:
            self.free_slots.append(state.slot)
            state.slot = -1

    def _first_latent(self, frame: np.ndarray | None, noise: torch.Generator, seed: int) -> torch.Tensor:
        dtype = self.model.generator.prev_latent.dtype
        if frame is None and self.start == "reference":
            frame = self.reference_frame(seed)
        if frame is None:
            z = torch.randn(self.model.cfg.vae.latent_channels, *self.latent_hw, generator=noise)
            return z.to(self.device, dtype)
        shape = (self.spec.height, self.spec.width, 3)
        if not isinstance(frame, np.ndarray) or frame.shape != shape or frame.dtype != np.uint8:
            got = (getattr(frame, "shape", None), getattr(frame, "dtype", type(frame).__name__))
            raise RendererError(f"first_frame must be uint8 {shape}, got {got}")
        video = torch.tensor(frame, device=self.device).permute(2, 0, 1)[None, :, None]    # (1, 3, 1, H, W)
        video = video.to(dtype) / 127.5 - 1.0
        return self.model.vae.encode(video)[0, :, 0]

    def reference_frame(self, seed: int) -> np.ndarray | None:
        """The reference's first frame for `seed` at this renderer's size: the world from the rig's
        starting pose at the spawn point (as `worldsim eval` renders its ground truth), or the
        puppet scene for a pose model."""
        width, height = self.spec.width, self.spec.height
        if "camera" not in self.controls:
            if "pose" in self.controls:
                from ..worlds.dataset import pose_clip
                return pose_clip(seed, frames=1, width=width, height=height).frames[0].numpy()
            return None
        from ..eval.rollout import roll_out
        from ..eval.trajectories import drive
        if self._reference is None:
            from ..worlds.renderer import ReferenceRenderer
            # eager kernels: one frame renders in ~1 s, where a first compile of the ray-marcher
            # would keep a new player's window black for a minute or more (the frames are identical)
            self._reference = ReferenceRenderer(width, height, self.spec.fps, compile=False,
                                                fovy_deg=self.controls["camera"].get("fovy_deg", 60.0))
        return roll_out(self._reference, [seed], drive("start", [], 1, ["camera"], self.spec.fps)).frames[0, 0]

    # ---- snapshots (World.snapshot / restore) ----------------------------------------------
    def snapshot(self, state: AaptSession) -> dict:
        """A copy of the session's whole state: its KV cache rows, recycled latent, decoder
        caches, step count, noise RNG and control encoders."""
        from ..snapshot import object_state
        if state.slot < 0:
            raise RendererError("session is closed")
        gen, slot = self.model.generator, state.slot
        names = {m: n for n, m in self.model.vae.named_modules()}
        decoder = self.decoder.cache.save(slot)                # {} before the session's first step
        return {
            "steps": state.steps, "noise": state.noise.get_state(), "first_latent": state.first_latent.clone(),
            "encoders": {k: object_state(e) for k, e in state.encoders.encoders.items()},
            "decoder": {names[m]: t for m, t in decoder.items()},
            "decoder_started": sorted(names[m] for m in self.decoder.module.modules()
                                      if decoder and isinstance(m, TimeUp)),
            "kv": [{"keys": c.keys[slot].clone(), "values": c.values[slot].clone(),
                    "first_keys": c.first_keys[slot].clone()} for c in gen.caches],
            "frame_index": int(gen.frame_index[slot]), "host_frames": int(gen._host_frames[slot]),
            "prev_latent": gen.prev_latent[slot].clone()}

    def restore(self, state: AaptSession, snap: dict) -> None:
        """Put `snapshot`'s state into the (open) session `state`, whatever slot it has."""
        from ..snapshot import set_object_state
        if state.slot < 0:
            raise RendererError("session is closed")
        gen, slot = self.model.generator, state.slot
        if len(snap["kv"]) != len(gen.caches) or snap["prev_latent"].shape != gen.prev_latent.shape[1:]:
            raise RendererError("this snapshot is of a different aapt model or size")
        modules = dict(self.model.vae.named_modules())
        with torch.no_grad():
            for cache, kv in zip(gen.caches, snap["kv"]):
                cache.keys[slot] = kv["keys"].to(cache.keys)
                cache.values[slot] = kv["values"].to(cache.values)
                cache.first_keys[slot] = kv["first_keys"].to(cache.first_keys)
            gen.frame_index[slot] = int(snap["frame_index"])
            gen._host_frames[slot] = int(snap["host_frames"])
            gen.prev_latent[slot] = snap["prev_latent"].to(gen.prev_latent)
            self.decoder.cache.load(slot, {modules[n]: t.to(gen.prev_latent) for n, t in snap["decoder"].items()})
        state.first_latent = snap["first_latent"].to(gen.prev_latent).clone()
        state.noise.set_state(snap["noise"].clone())
        for kind, enc_state in snap["encoders"].items():
            set_object_state(state.encoders.encoders[kind], enc_state)
        state.steps, state.teacher = int(snap["steps"]), None

    # ---- steps -----------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, states: Sequence[AaptSession], packets: Sequence[Sequence[dict]]) -> list[np.ndarray]:
        if len(states) != len(packets):
            raise ValueError(f"{len(states)} sessions but {len(packets)} packet lists")
        for index, (state, plist) in enumerate(zip(states, packets)):   # check all before touching any
            if state.slot < 0:
                raise RendererError("session is closed", index)
            expected = self.spec.frames_for_step(state.steps)
            if len(plist) != expected:
                raise RendererError(f"step {state.steps} takes {expected} packets, got {len(plist)}", index)
            for packet in plist:
                missing = [k for k in self.controls if not isinstance(packet, dict) or k not in packet]
                if missing:
                    raise RendererError(f"packet lacks controls {missing} this model needs", index)
        controls = []
        for index, (state, plist) in enumerate(zip(states, packets)):
            try:
                controls.append(state.encoders.encode(plist))
            except (ValueError, KeyError, TypeError) as err:                # ControlError is a ValueError
                raise RendererError(f"bad control packet: {err}", index) from None
        out: list[np.ndarray | None] = [None] * len(states)
        first = [i for i, s in enumerate(states) if s.steps == 0]
        later = [i for i, s in enumerate(states) if s.steps > 0]
        if first:
            latents = torch.stack([states[i].first_latent for i in first])
            self._decode(first, states, latents, out)
        if later:
            gen = self.model.generator
            ctrl = torch.stack([controls[i] for i in later]).to(self.device, gen.prev_latent.dtype)
            noise = torch.stack([torch.randn(gen.prev_latent.shape[1:], generator=states[i].noise) for i in later])
            ctrl, noise, slots = self._pad(ctrl, noise.to(self.device), [states[i].slot for i in later])
            if self.guidance is None:
                latents = gen.step(ctrl, noise, slots=slots)
            else:
                latents = self.guidance.step(gen, ctrl, noise, slots)
            # the padded rows are decoded too (the last session's latent again, into its own decoder row), so the
            # eager decoder only ever sees the warmed batch sizes; their frames are dropped
            self._decode(later, states, latents, out, slots)
        for state in states:
            state.steps += 1
        if "warning" in self.spec.info and not self._warned and any(s.steps > self.trained_frames for s in states):
            self._warned = True
            print(f"aapt: warning: {self.spec.info['warning']}", file=sys.stderr, flush=True)
        return out

    def _pad(self, ctrl: torch.Tensor, noise: torch.Tensor, slots: list[int]):
        """Pad a batch up to the smallest of `pad_sizes` that holds it by repeating its last session
        (slot, controls and noise): the copies compute that session's frame again and write the same
        values to its cache row (Generator.step), and their latents are dropped. Unchanged when no
        size holds it or none is set (an uncompiled renderer)."""
        n = len(slots)
        size = min((s for s in self.pad_sizes if s >= n), default=n)
        if size == n:
            return ctrl, noise, slots
        extra = size - n
        ctrl = torch.cat([ctrl, ctrl[-1:].expand(extra, *ctrl.shape[1:])])
        noise = torch.cat([noise, noise[-1:].expand(extra, *noise.shape[1:])])
        return ctrl, noise, slots + [slots[-1]] * extra

    @torch.no_grad()
    def step_teacher_forced(self, states: Sequence[AaptSession], packets: Sequence[Sequence[dict]],
                            true_frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """`step`, but each session first recycles the ground truth instead of its own last latent
        (teacher forcing, used by `worldsim eval`). true_frames[i]: uint8 (n, H, W, 3), session i's
        true video from its first frame through at least its previous step; later frames are
        ignored (the VAE is causal). A video is encoded once per session and reused while the
        same array is passed."""
        if len(true_frames) != len(states):
            raise ValueError(f"{len(states)} sessions but {len(true_frames)} true videos")
        own = self.model.generator.prev_latent.clone()                      # restored if the step fails
        for index, (state, video) in enumerate(zip(states, true_frames)):
            if state.steps == 0:
                continue
            need = 1 + 4 * (state.steps - 1)                             # frames through the previous step
            if not isinstance(video, np.ndarray) or video.ndim != 4 or len(video) < need:
                raise RendererError(f"teacher forcing step {state.steps} needs >= {need} true frames", index)
            if state.teacher is None or state.teacher[0] is not video:
                clip = torch.from_numpy(video[:1 + 4 * ((len(video) - 1) // 4)]).to(self.device)
                clip = clip.permute(3, 0, 1, 2)[None].to(self.model.generator.prev_latent.dtype) / 127.5 - 1.0
                state.teacher = (video, self.model.vae.encode(clip)[0].transpose(0, 1))   # (1+k, C, h, w)
            self.model.generator.prev_latent[state.slot] = state.teacher[1][state.steps - 1]
        try:
            return self.step(states, packets)
        except Exception:
            self.model.generator.prev_latent.copy_(own)
            raise

    def _decode(self, rows: list[int], states, latents: torch.Tensor, out: list, slots: list[int] | None = None) -> None:
        """Decode `latents` of sessions `rows` in their decoder slots (or `slots`: rows' slots then padding, the
        last slot repeated, whose frames are dropped); frames leave the device as uint8."""
        video = self.decoder(latents, slots or [states[i].slot for i in rows])[:len(rows)]   # (b, 3, F, H, W) in [-1, 1]
        frames = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        frames = frames.permute(0, 2, 3, 4, 1).contiguous()                 # (b, F, H, W, 3)
        if frames.is_cuda:            # into pinned host memory (untested on a GPU here)
            host = torch.empty(frames.shape, dtype=torch.uint8, pin_memory=True)
            host.copy_(frames, non_blocking=True)
            torch.cuda.current_stream(frames.device).synchronize()
            frames = host
        for i, f in zip(rows, frames.cpu().numpy()):
            out[i] = f
