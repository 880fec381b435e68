"""The AAPT generator: a block-causal video DiT that makes one latent frame per forward pass.

    gen = Generator(cfg)                                   # GeneratorConfig
    gen.setup_cache(batch=1, latent_hw=(16, 16), text_len=32)
    gen.start(first_latent, text_tokens)                   # (B, C, h, w), (B, Lt, text_dim)
    latent = gen.step(controls)                            # (B, K, h, w) -> (B, C, h, w), one-step x0
    v = gen.forward_clip(inputs, t, text_tokens)           # whole clip, teacher forced (training)

Tokens. Latent frame i >= 1 enters as the channel concat [noise (C) | recycled latent i-1 (C) |
controls (K) | first-frame flag (1)], patchified 1 x p x p. Frame 0 is the clean first frame at
t = 0 with zeros for the recycled and control channels and the flag set. Text tokens attend only
to text, so their keys/values are computed once per session.

Blocks. adaLN-Zero from the per-frame timestep embedding, projected once and shared by all
blocks plus a learned per-block offset (Wan's scheme: 6d^2 parameters in all, not per block);
text tokens use a learned vector instead of t, so their states do not depend on t. RMS QK-norm, 3D RoPE, single-stream weights, or
separate text weights with `dual_stream` (MMDiT). Output: velocity v; one step x0 = eps - v(eps, t=1).
Every kind of forward (clip, bidirectional, start, step, segment) is ONE loop over the blocks
(`run_blocks`): `Block.forward(x, m, ctx, text)` runs the text stream on the text tokens when they
come along and the video stream on the video tokens, attending as the context `ctx` says
(context.py); a block is thus called once per forward (the unit of FSDP2 and torch.compile).

Positions. Frame j sits at temporal position j. Frame 0 (a sink) is re-positioned for each query
frame i to max(0, i - N), just before i's window of frames max(1, i-N+1)..i, so the distances a
query sees never exceed N however long the play runs (StreamingLLM). Angles are reduced modulo
2pi in float64 (rope.py), so absolute positions never lose precision either.
"""
from __future__ import annotations

from itertools import repeat

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..compile_cache import use_inductor_cache
from ..config import GeneratorConfig
from .attention import ClipLayout
from .blocks import Block, TimestepEmbedding
from .context import CachedStep, ClipContext, FirstFrame, FullContext
from .kv_cache import KVCache, Slots, slot_index
from .step_graphs import StepGraphs, call_block, compile_blocks, graph_key
from .rope import Rope3D
from .segment import Snapshot, forward_segment
from .warp import warp_recycled


class Generator(nn.Module):
    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        d, p = cfg.dim, cfg.patch
        self.patch_embed = nn.Linear(cfg.in_channels * p * p, d)
        self.text_embed = nn.Linear(cfg.text_dim, d)
        self.time_embed = TimestepEmbedding(d)
        self.time_mod = nn.Linear(d, 6 * d)                   # shared adaLN projection (shift, scale, gate x2)
        self.text_cond = nn.Parameter(torch.zeros(d))        # conditioning vector of text tokens
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.final_mod = nn.Linear(d, 2 * d)
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=cfg.norm_eps)
        self.final_proj = nn.Linear(d, p * p * cfg.latent_channels)
        self.rope = Rope3D(cfg.head_dim, cfg.rope_theta, cfg.rope_t_interval, cfg.rope_ref_hw)
        self.backend = "sdpa"
        self.kv_splits = 1                                    # the cached step's key chunks (attention.py)
        self.caches: nn.ModuleList | None = None
        self._host_frames: list[int] = []                     # host copy of frame_index (no syncs)
        self._compiled_step = None                            # compile_step's two functions
        self._dynamic_batch = False
        self._step_graphs: StepGraphs | None = None           # scope "blocks" on CUDA: hand-captured steps
        self._step_block = None                               # scope "blocks": the step's compiled block call

    # ---- weights -------------------------------------------------------------------------
    @torch.no_grad()
    def init_weights(self, zero_init: bool = True) -> None:
        """Normal(0, 0.02) linears; adaLN modulations and the output layer zero when `zero_init`
        (adaLN-Zero; pass False for a random model whose every path is live, as tests do)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.RMSNorm):
                nn.init.ones_(m.weight)
        nn.init.normal_(self.text_cond, std=0.02)
        for blk in self.blocks:
            for s in (blk.video, blk.text):
                if s is not None:
                    nn.init.normal_(s.modulation, std=0.0 if zero_init else 0.5)
        if zero_init:
            for lin in (self.time_mod, self.final_mod, self.final_proj):
                nn.init.zeros_(lin.weight)

    # ---- tokens --------------------------------------------------------------------------
    def patchify(self, x: Tensor) -> Tensor:                 # (B, F, Cin, h, w) -> (B, F, T, Cin*p*p)
        p = self.cfg.patch
        b, f, c, h, w = x.shape
        if h % p or w % p:
            raise ValueError(f"latent size {h}x{w} is not divisible by the patch size {p}")
        x = x.reshape(b, f, c, h // p, p, w // p, p).permute(0, 1, 3, 5, 2, 4, 6)
        return x.reshape(b, f, (h // p) * (w // p), c * p * p)

    def unpatchify(self, y: Tensor, h: int, w: int) -> Tensor:   # (B, F, T, C*p*p) -> (B, F, C, h, w)
        p, c = self.cfg.patch, self.cfg.latent_channels
        b, f = y.shape[:2]
        y = y.reshape(b, f, h // p, w // p, c, p, p).permute(0, 1, 4, 2, 5, 3, 6)
        return y.reshape(b, f, c, h, w)

    def output(self, x: Tensor, c: Tensor, h: int, w: int) -> Tensor:
        shift, scale = self.final_mod(F.silu(c))[:, :, None].chunk(2, dim=-1)
        return self.unpatchify(self.final_proj(self.final_norm(x) * (1 + scale) + shift), h, w)

    def frame_inputs(self, noise: Tensor, recycled: Tensor, controls: Tensor) -> Tensor:
        """[noise | recycled | controls | flag 0] for frames i >= 1; shapes (..., C|K, h, w). A camera
        model (`cfg.warp_channel` >= 0) sees the recycled latent from the new view (warp.py): in place
        of the recycled latent, or with `warp_keep` after the flag, beside it."""
        flag = torch.zeros_like(noise[..., :1, :, :])
        if self.cfg.warp_channel >= 0:
            warped = warp_recycled(recycled, controls, self.cfg.warp_channel, self.cfg.warp_scales,
                                   self.cfg.warp_focal)
            if self.cfg.warp_keep:
                return torch.cat([noise, recycled, controls.to(noise.dtype), flag, warped], dim=-3)
            recycled = warped
        return torch.cat([noise, recycled, controls.to(noise.dtype), flag], dim=-3)

    def first_inputs(self, latent: Tensor) -> Tensor:
        """[clean latent | zeros | zeros | flag 1] for frame 0; latent (..., C, h, w)."""
        zeros = latent.new_zeros(*latent.shape[:-3], self.cfg.latent_channels + self.cfg.control_channels,
                                 *latent.shape[-2:])
        parts = [latent, zeros, torch.ones_like(latent[..., :1, :, :])]
        if self.cfg.warp_keep:
            parts.append(torch.zeros_like(latent))
        return torch.cat(parts, dim=-3)

    def clip_inputs(self, noisy: Tensor, clean: Tensor, controls: Tensor) -> Tensor:
        """Teacher-forced inputs of a clip: frame 0 clean, frame i = [noisy_i, clean_{i-1}, ctrl_i].

        noisy, clean (B, F, C, h, w); controls (B, F, K, h, w) -> (B, F, Cin, h, w)."""
        rest = self.frame_inputs(noisy[:, 1:], clean[:, :-1], controls[:, 1:])
        return torch.cat([self.first_inputs(clean[:, :1]), rest], dim=1)

    def text_tokens(self, text: Tensor) -> tuple[Tensor, Tensor]:
        """Text tokens (B, 1, Lt, d) and their adaLN input (B, 1, 6d), which the blocks' text
        stream takes along the video tokens. text (B, Lt, text_dim)."""
        x = self.text_embed(text)[:, None]                    # (B, 1, Lt, d)
        return x, self.time_mod(F.silu(self.text_cond)).expand(x.shape[0], 1, -1)

    def run_blocks(self, x: Tensor, m: Tensor, contexts, text: Tensor | None = None, call=None) -> Tensor:
        """THE loop over the blocks, for every kind of forward: x (B, F, T, d) video tokens, m their
        adaLN input, `contexts` one attention context per block (context.py), `text` (B, Lt,
        text_dim) or None when the contexts hold cached text keys/values. `call(block, x, m, ctx, tokens,
        text_out)` runs a block (default: the block itself; the step compiled by blocks passes its compiled call)."""
        tokens = self.text_tokens(text) if text is not None else None
        last = len(self.blocks) - 1
        for i, (blk, ctx) in enumerate(zip(self.blocks, contexts)):
            x, tokens = (call or call_block)(blk, x, m, ctx, tokens, i < last)
        return x

    # ---- whole clip (training) -------------------------------------------------------------
    def forward_clip(self, inputs: Tensor, t: Tensor, text: Tensor, causal: bool = True,
                     features: bool = False) -> Tensor:
        """Teacher-forced forward of a whole clip with the block-causal windowed mask.

        inputs (B, F, Cin, h, w) from `clip_inputs`; t (B, F) noise level per frame, or (B,) one
        level per clip (frame 0, the clean first frame, then gets 0); text (B, Lt, text_dim).
        `causal=False` is the bidirectional base model (docs/train.md, stage base): every frame sees every
        frame of the clip and the text, no sinks or window; inputs from `noise_inputs`, and a (B,)
        t applies to all frames. Returns the velocity (B, F, C, h, w), or with `features` the final
        normalised hidden states (B, F, T, d) (a discriminator's head reads them)."""
        b, f, _, h, w = inputs.shape
        if t.dim() == 1:
            t = t[:, None].expand(b, f) if not causal else \
                torch.cat([torch.zeros_like(t)[:, None], t[:, None].expand(b, f - 1)], dim=1)
        hp, wp = h // self.cfg.patch, w // self.cfg.patch
        x = self.patch_embed(self.patchify(inputs))           # (B, F, T, d)
        c = self.time_embed(t)                                # (B, F, d)
        m = self.time_mod(F.silu(c))                          # (B, F, 6d), shared by all blocks
        dev = x.device
        rot = [r.flatten(0, 1) for r in self.rope(torch.arange(f, device=dev), hp, wp)]   # (F*T, D/2)
        if causal:
            layout = ClipLayout(text.shape[1], hp * wp, f, self.cfg.window)
            rot_sink = self.rope(torch.arange(layout.n_sinks, device=dev), hp, wp)      # (S, T, D/2)
            ctx = ClipContext(layout, rot, rot_sink, self.backend)
        else:                                                 # full attention, frame j at position j
            ctx = FullContext(rot, self.backend)
        x = self.run_blocks(x, m, repeat(ctx), text)
        return self.final_norm(x) if features and causal else self.output(x, c, h, w)

    def noise_inputs(self, noisy: Tensor) -> Tensor:
        """Inputs of the bidirectional base: [noisy | zeros | zeros | flag 0] for every frame.
        noisy (B, F, C, h, w) -> (B, F, Cin, h, w). The recycled and control channels carry
        nothing, so their patch-embedding weights stay at their random init for stage 1."""
        zeros = noisy.new_zeros(*noisy.shape[:2], self.cfg.control_channels, *noisy.shape[-2:])
        return self.frame_inputs(noisy, torch.zeros_like(noisy), zeros)

    def forward_segment(self, inputs: Tensor, t: Tensor, text: Tensor, context: Snapshot, start: int) -> Tensor:
        """Frames start.. of a long rollout, with gradients, against a detached cache snapshot
        (long-video training; worldsim/models/segment.py)."""
        return forward_segment(self, inputs, t, text, context, start)

    # ---- streaming (inference and student forcing) -------------------------------------------
    def setup_cache(self, batch: int, latent_hw: tuple[int, int], text_len: int, heads: int | None = None) -> None:
        """Allocate the static KV caches (once) for `batch` sessions of latent size h x w; `heads`
        per cache (default all; sequence parallelism, parallel.py, keeps a rank's H/P)."""
        cfg, (h, w) = self.cfg, latent_hw
        ref = self.patch_embed.weight
        tokens = (h // cfg.patch) * (w // cfg.patch)
        self.caches = nn.ModuleList(
            KVCache(batch, heads or cfg.heads, cfg.head_dim, text_len, tokens, cfg.window, ref.device, ref.dtype)
            for _ in self.blocks)
        self.register_buffer("frame_index", torch.zeros(batch, dtype=torch.long, device=ref.device),
                             persistent=False)
        self.register_buffer("prev_latent", torch.zeros(batch, cfg.latent_channels, h, w, device=ref.device,
                                                        dtype=ref.dtype), persistent=False)
        self.latent_hw = (h, w)
        self._host_frames = [0] * batch
        self._row_index: dict[tuple[int, ...] | None, slice | Tensor] = {}
        if self._step_graphs is not None:
            self._step_graphs = StepGraphs()                  # captured on the old buffers: capture anew

    def ensure_cache(self, batch: int, latent_hw: tuple[int, int], text_len: int) -> None:
        """`setup_cache` unless the caches already hold `batch` sessions of this size and text length
        (training rollouts reuse them batch after batch; `start` resets what they hold)."""
        c = self.caches[0] if self.caches is not None else None
        if c is None or c.keys.shape[0] != batch or self.latent_hw != tuple(latent_hw) or c.text_len != text_len:
            self.setup_cache(batch, latent_hw, text_len)

    def _rows(self, slots: Slots, device, slices: bool = True) -> tuple[list[int], slice | Tensor]:
        """Host list of the rows, and their index: all rows a full slice; a contiguous run a slice
        (unless `slices` is False: the compiled step, whose graphs must not depend on which rows);
        any other set an index tensor, made once per set of rows and kept (no host copy per step)."""
        if self.caches is None:
            raise RuntimeError("call setup_cache(batch, latent_hw, text_len) before start/step")
        rows = list(range(len(self._host_frames))) if slots is None else list(slots)
        if rows == list(range(len(self._host_frames))):
            slots = None                                      # every row, in order: the whole cache, a view
        key = None if slots is None else (tuple(rows), slices)
        if key not in self._row_index:
            self._row_index[key] = slot_index(slots, device, slices)
        return rows, self._row_index[key]

    @torch.no_grad()
    def start(self, first_latent: Tensor, text: Tensor, slots: Slots = None) -> None:
        """Begin sessions: fill the sinks with text and the first frame. first_latent (b, C, h, w)."""
        rows_list, rows = self._rows(slots, first_latent.device)
        h, w = first_latent.shape[-2:]
        if (h, w) != self.latent_hw:
            raise ValueError(f"first latent is {h}x{w}, the cache was set up for {self.latent_hw}")
        hp, wp = h // self.cfg.patch, w // self.cfg.patch
        x = self.patch_embed(self.patchify(self.first_inputs(first_latent)[:, None]))   # (b, 1, T, d)
        c = self.time_embed(first_latent.new_zeros(first_latent.shape[0], 1))
        rot0 = self.rope(torch.zeros(1, device=x.device), hp, wp)                         # (1, T, D/2)
        self.run_blocks(x, self.time_mod(F.silu(c)),
                        [FirstFrame(cache, rows, rot0, self.backend) for cache in self.caches], text)
        self.frame_index[rows] = 1
        self.prev_latent[rows] = first_latent.to(self.prev_latent.dtype)
        for r in rows_list:
            self._host_frames[r] = 1

    @torch.no_grad()
    def step(self, controls: Tensor, noise: Tensor | None = None, slots: Slots = None) -> Tensor:
        """One latent frame per session: x0 = eps - v(eps, t=1). controls (b, K, h, w) -> (b, C, h, w).

        The host picks one of two static functions (the ring still filling: masked attention; every
        ring full: none), so the traced step never branches on host state; `compile_step` compiles both.

        A slot may appear more than once (AaptRenderer pads a batch up to a compiled size by repeating
        its last session) if its rows of `controls` and `noise` are the same: every state write of the
        step (the KV cache's keys and values, frame_index, prev_latent) is an index_put without
        accumulation, so the copies write the same values to the same places, frame_index[rows] += 1
        included (it reads, adds and puts; no index_add); the host's frame count counts the slot once."""
        compiled = self._compiled_step is not None      # one graph per batch size, whichever rows
        rows_list, rows = self._rows(slots, controls.device, slices=not compiled)
        if noise is None:
            noise = torch.randn_like(self.prev_latent[rows])
        full = min(self._host_frames[r] for r in rows_list) >= self.cfg.window
        if self._dynamic_batch and isinstance(rows, Tensor) and len(rows_list) > 1:   # one graph, any size >= 2
            for x in (controls, noise, rows):
                torch._dynamo.mark_dynamic(x, 0)
        steps = self._compiled_step or (self._step_filling, self._step_full)
        latent = None
        if self._step_graphs is not None:
            latent = self._step_graphs.run(graph_key(rows, len(rows_list), full), controls, noise, rows)
        elif compiled and controls.device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()
        if latent is None:
            latent = steps[full](controls, noise, rows)
        for r in dict.fromkeys(rows_list):       # a row given twice (a padded batch) made one frame
            self._host_frames[r] += 1
        return latent.clone() if compiled else latent        # CUDA graphs reuse their output buffers

    def _step_filling(self, controls: Tensor, noise: Tensor, rows) -> Tensor:
        return self._step(controls, noise, rows, masked=True)

    def _step_full(self, controls: Tensor, noise: Tensor, rows) -> Tensor:
        return self._step(controls, noise, rows, masked=False)

    def _step(self, controls: Tensor, noise: Tensor, rows, masked: bool) -> Tensor:
        prev = self.prev_latent[rows]
        v = self._forward_step(self.frame_inputs(noise.to(prev.dtype), prev, controls), rows, 1.0, masked)
        latent = noise.to(v.dtype) - v
        self.prev_latent[rows] = latent
        return latent

    def compile_step(self, backend: str = "inductor", mode: str | None = None, dynamic_batch: bool = False,
                     scope: str = "step") -> None:
        """Compile the two step functions (fullgraph, static shapes): one graph each per batch size,
        traced on its first call, so stepping on and past the window boundary never recompiles; a new
        batch size compiles anew, a new set of rows of a size seen does not (models/warmup.py traces
        every size before play). mode "reduce-overhead": CUDA graphs. `dynamic_batch`: one graph for
        every batch of 2 or more of an index tensor's rows (1 and all rows in order stay their own).
        scope "blocks": compile each block instead (their shared code once per shape, whatever the depth) and, with
        mode "reduce-overhead" on CUDA, capture whole steps by hand (`capture_step`; step_graphs.py)."""
        if scope not in ("step", "blocks"):
            raise ValueError(f"compile scope must be step or blocks, got {scope!r}")
        use_inductor_cache()               # a later process reads these graphs back instead of compiling them anew
        if scope == "blocks":
            compile_blocks(self, backend)
            self._dynamic_batch = False
            self._compiled_step = (self._step_filling, self._step_full)
            on_cuda = self.time_mod.weight.device.type == "cuda"
            self._step_graphs = StepGraphs() if mode == "reduce-overhead" and on_cuda else None
            return
        self._dynamic_batch, self._step_block, self._step_graphs = dynamic_batch, None, None
        opts = dict(backend=backend, mode=mode, fullgraph=True, dynamic=None if dynamic_batch else False)
        self._compiled_step = (torch.compile(self._step_filling, **opts), torch.compile(self._step_full, **opts))

    @property
    def step_graphs(self) -> StepGraphs | None:
        """The hand-captured CUDA graphs of scope "blocks" (None otherwise)."""
        return self._step_graphs

    @torch.no_grad()
    def capture_step(self, controls: Tensor, noise: Tensor, slots: Slots = None) -> None:
        """Capture the step of this many rows (any of them, or all in order) in their ring phase as a CUDA graph
        (scope "blocks" on CUDA). It runs the step once first, stepping those rows' state but not the host's frame
        count: only while no session is open, with the cache reset after (models/warmup.py)."""
        if self._step_graphs is None:
            raise RuntimeError("capture_step needs compile_step(scope='blocks', mode='reduce-overhead') on CUDA")
        rows_list, rows = self._rows(slots, controls.device, slices=False)
        full = min(self._host_frames[r] for r in rows_list) >= self.cfg.window
        fn = self._step_full if full else self._step_filling
        self._step_graphs.capture(graph_key(rows, len(rows_list), full), fn, controls, noise, rows)

    @property
    def step_compiled(self) -> bool:
        """Whether `compile_step` ran: `step` runs its compiled graphs."""
        return self._compiled_step is not None

    def forward_step(self, inputs: Tensor, slots: Slots = None, t: float = 1.0) -> Tensor:
        """Velocity of the next frame of each session against its cache; writes the frame's k/v.

        inputs (b, Cin, h, w) -> v (b, C, h, w). Static shapes, no host syncs."""
        rows_list, rows = self._rows(slots, inputs.device)
        # Once every row's ring is full no mask is needed (the host knows, no sync).
        full = min(self._host_frames[r] for r in rows_list) >= self.cfg.window
        v = self._forward_step(inputs, rows, t, masked=not full)
        for r in dict.fromkeys(rows_list):
            self._host_frames[r] += 1
        return v

    def _forward_step(self, inputs: Tensor, rows, t: float, masked: bool) -> Tensor:
        h, w = inputs.shape[-2:]
        hp, wp = h // self.cfg.patch, w // self.cfg.patch
        n = self.frame_index[rows]                            # (b,) index of the frame being made
        window = self.cfg.window
        rot = [r[:, None] for r in self.rope(n, hp, wp)]      # (b, 1, T, D/2)
        rot_sink = [r[:, None] for r in self.rope((n - window).clamp(min=0), hp, wp)]
        ring_slot = (n - 1) % window
        valid = self.caches[0].valid(n) if masked else None
        x = self.patch_embed(self.patchify(inputs[:, None]))  # (b, 1, T, d)
        c = self.time_embed(torch.full((inputs.shape[0], 1), t, device=inputs.device))
        contexts = [CachedStep(cache, rows, ring_slot, rot, rot_sink, valid, self.backend, self.kv_splits)
                    for cache in self.caches]
        x = self.run_blocks(x, self.time_mod(F.silu(c)), contexts, call=self._step_block)
        self.frame_index[rows] += 1
        return self.output(x, c, h, w)[:, 0]
