"""The long-form model: worldsim's bidirectional base DiT, attention restricted to segments, plus a
gated bidirectional TTT layer after the attention of every block, global over the whole film.

    model = build_longform(preset="tiny")                     # or checkpoint="runs/base/model"
    v = model(noisy, t, text)   # noisy (B, S, F, C, h, w), t (B,), text (B, S, Lt, text_dim) -> v like noisy

A film is S segments of F latent frames (3 s each by default), each with its own text. Inside a
block, text attends to its own text and video to its own segment's [text | frames] (the base's
bidirectional attention, RoPE positions local to the segment); then one `GatedBidirectionalTTT`
reads the whole sequence in scan order [text_1, video_1, text_2, video_2, ...] (SequenceLayout),
forward and backward, with separate text/video gates (init 0.1); then the MLPs. With every gate at
0 the model is exactly the segment-local base model: the TTT path is the only one across segments.

Two other variants of the same base, for the sampling-time benchmark (bench_film.py):
`LongFormModel(base, ttt_layers=False)` is the segment-local base with no TTT layers at all (no
scan runs), and `LongFormModel(base, ttt_layers=False, span="film")` gives every video token
full attention over the whole film (all segments' text and frames, RoPE frames numbered over the
film), the quadratic baseline.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layer import GatedBidirectionalTTT
from .layout import SequenceLayout

TTT_WEIGHTS, TTT_CONFIG = "ttt.safetensors", "ttt.json"
SPANS = ("segment", "film")            # what a video token attends to


@dataclass(frozen=True)
class TTTConfig:
    kind: str = "mlp"                 # mlp | linear | none (no TTT layers: the segment-local baseline)
    heads: int = 0                    # 0: the generator's heads
    mini_batch: int = 64              # TTT inner mini-batch (tokens)
    gate_init: float = 0.1            # tanh gates alpha, beta (text and video) start here
    lr_scale: float = 10.0            # TTT parameters train at this multiple of the base rate
    backend: str = "torch"            # torch | triton (GPU)


class LongFormModel(nn.Module):
    """`base` (a worldsim AaptModel: generator, VAE, text encoder) plus one TTT block per DiT block
    (none with `ttt_layers=False`); `span`: video attention over its own segment or the whole film."""

    def __init__(self, base: nn.Module, cfg: TTTConfig = TTTConfig(), ttt_layers: bool = True,
                 span: str = "segment"):
        super().__init__()
        if span not in SPANS:
            raise ValueError(f"span must be one of {SPANS}, got {span!r}")
        self.base, self.cfg, self.span = base, cfg, span
        g = base.generator.cfg
        ttt_layers = ttt_layers and cfg.kind != "none"
        self.ttt = nn.ModuleList(
            GatedBidirectionalTTT(g.dim, cfg.heads or g.heads, cfg.gate_init, kind=cfg.kind,
                                  mini_batch=cfg.mini_batch, backend=cfg.backend)
            for _ in range(g.depth if ttt_layers else 0))

    def forward(self, noisy: Tensor, t: Tensor, text: Tensor) -> Tensor:
        from worldsim.models.context import FullContext

        gen = self.base.generator
        b, s, f, _, h, w = noisy.shape
        if text.shape[:2] != (b, s):
            raise ValueError(f"text {tuple(text.shape)} does not match {b} films of {s} segments")
        hp, wp = h // gen.cfg.patch, w // gen.cfg.patch
        x = gen.patch_embed(gen.patchify(gen.noise_inputs(noisy.flatten(0, 1))))     # (B*S, F, T, d)
        c = gen.time_embed(t.repeat_interleave(s)[:, None].expand(b * s, f))          # one level per film
        m = gen.time_mod(F.silu(c))
        xt, mt = gen.text_tokens(text.flatten(0, 1))                                 # (B*S, 1, Lt, d)
        layout = SequenceLayout.uniform(s, text.shape[2], f, hp, wp)
        if self.span == "film":                                # frames numbered over the whole film
            rot = [r.flatten(0, 1) for r in gen.rope(torch.arange(s * f, device=x.device), hp, wp)]
            ctx = FilmContext(rot, gen.backend, b)
        else:                                                  # frames numbered inside the segment
            ctx = FullContext([r.flatten(0, 1) for r in gen.rope(torch.arange(f, device=x.device), hp, wp)],
                              gen.backend)
        for blk, ttt in zip(gen.blocks, list(self.ttt) or [None] * len(gen.blocks)):
            x, xt = self._block(blk, ttt, x, m, xt, mt, ctx, layout, b)
        return gen.output(x, c, h, w).unflatten(0, (b, s))

    @staticmethod
    def _block(blk, ttt, x, m, xt, mt, ctx, layout: SequenceLayout, b: int):
        """Stream.finish split in two around the TTT block: attention residual, TTT, MLP residual."""
        from worldsim.models.attention import attention

        st, sv = blk.text_stream, blk.video
        mods_t, mods_v = st.modulate(mt), sv.modulate(m)
        qt, kt, vt = st.project(xt, mods_t)
        xt = xt + mods_t[2] * st.proj(attention(qt, kt, vt, None, ctx.backend).transpose(1, 2).flatten(2)).view_as(xt)
        q, k, v = sv.project(x, mods_v)
        o = ctx.attend(q, k, v, (kt, vt))                     # one segment each (or the film)
        x = x + mods_v[2] * sv.proj(o.transpose(1, 2).flatten(2)).view_as(x)
        if ttt is None:
            return _mlp(sv, x, mods_v), _mlp(st, xt, mods_t)
        lt = xt.shape[2]
        seq = torch.cat([xt.flatten(1, 2), x.flatten(1, 2)], 1)                      # (B*S, Lt+F*T, d)
        seq = ttt(seq.reshape(b, -1, seq.shape[-1]), layout).reshape(seq.shape)       # global scan
        xt, x = seq[:, :lt].view_as(xt), seq[:, lt:].view_as(x)
        return _mlp(sv, x, mods_v), _mlp(st, xt, mods_t)

    def param_groups(self, lr: float, weight_decay: float = 0.0) -> list[dict]:
        """AdamW groups: the base model at `lr`, the TTT layers (and gates) at lr * cfg.lr_scale."""
        ttt = [p for p in self.ttt.parameters() if p.requires_grad]
        base = [p for n, p in self.base.named_parameters() if p.requires_grad and not n.startswith("vae.")]
        return [{"params": base, "lr": lr, "weight_decay": weight_decay, "name": "base"},
                {"params": ttt, "lr": lr * self.cfg.lr_scale, "weight_decay": weight_decay, "name": "ttt"}]

    def set_gates(self, value: float) -> None:
        with torch.no_grad():
            for blk in self.ttt:
                blk.alpha.fill_(value)
                blk.beta.fill_(value)

    def save(self, path: str | Path, dtype: str | None = None) -> Path:
        """A worldsim base checkpoint (`path`, loadable by worldsim) plus ttt.safetensors and ttt.json;
        `dtype` (float16 | bfloat16): a shipped copy, weights cast and sharded (<= 15 MiB a file),
        modules the base lacks (a shipped base's full VAE decoder) left out."""
        from safetensors.torch import save_file
        from worldsim.models.checkpoint import save_checkpoint

        extra = {"long_form": "worldsim-ttt"}
        if dtype is None:
            path = save_checkpoint(self.base, path, extra=extra)
        else:
            from worldsim.models.shipped import save_shipped
            path = save_shipped(self.base, path, dtype=dtype, omit=(), extra=extra)
        cast = getattr(torch, dtype) if dtype else None
        save_file({k: (v.to(cast) if cast and v.is_floating_point() else v).detach().contiguous().cpu()
                   for k, v in self.ttt.state_dict().items()}, str(path / TTT_WEIGHTS))
        (path / TTT_CONFIG).write_text(json.dumps(asdict(self.cfg), indent=1))
        return path


class FilmContext:
    """Video attention over the whole film: each of the B*S segments' video queries sees the text
    and frames of every segment of its film; rot (S*F*T, D/2), frames numbered over the film."""

    def __init__(self, rot, backend: str, films: int):
        self.rot, self.backend, self.films = rot, backend, films

    def attend(self, q: Tensor, k: Tensor, v: Tensor, text_kv: tuple[Tensor, Tensor]) -> Tensor:
        from worldsim.models.attention import attention
        from worldsim.models.rope import apply_rope

        def film(x: Tensor) -> Tensor:                        # (B*S, H, L, D) -> (B, H, S*L, D)
            return x.unflatten(0, (self.films, -1)).transpose(1, 2).flatten(2, 3)

        tk, tv = text_kv
        keys = torch.cat([film(tk), apply_rope(film(k), self.rot)], dim=2)
        o = attention(apply_rope(film(q), self.rot), keys, torch.cat([film(tv), film(v)], dim=2), None, self.backend)
        return o.unflatten(2, (-1, q.shape[2])).transpose(1, 2).flatten(0, 1)    # back to (B*S, H, L, D)


def _mlp(s, x: Tensor, mods: list[Tensor]) -> Tensor:
    shift2, scale2, gate2 = mods[3:]
    return x + gate2 * s.mlp(s.norm2(x) * (1 + scale2) + shift2)


def build_longform(preset: str | None = None, checkpoint: str | None = None, cfg: TTTConfig | None = None,
                   device="cpu", seed: int = 0, zero_init: bool = True, backend: str | None = None) -> LongFormModel:
    """From a worldsim checkpoint (a base model; or a long-form one with ttt.safetensors) or a preset
    (random weights; `zero_init` as worldsim's build_model). New TTT layers start with gates at 0.1.
    `backend`: the TTT scan's (torch | triton) instead of the config's."""
    from worldsim.errors import WorldsimUserError

    if (preset is None) == (checkpoint is None):
        raise WorldsimUserError("give a base checkpoint or a preset (--checkpoint DIR or --preset tiny)")
    if checkpoint is not None:
        from worldsim.models.checkpoint import load_checkpoint

        base, _ = load_checkpoint(checkpoint, device=device, dtype=torch.float32)
        saved = Path(checkpoint) / TTT_CONFIG
        if cfg is None and saved.is_file():
            cfg = TTTConfig(**json.loads(saved.read_text()))
    else:
        from worldsim.config import model_preset
        from worldsim.models.model import build_model

        try:
            base = build_model(model_preset(preset), device=device, seed=seed, zero_init=zero_init)
        except KeyError as err:
            raise WorldsimUserError(err.args[0]) from None
    torch.manual_seed(seed)
    cfg = cfg or TTTConfig()
    if backend is None and cfg.backend == "triton" and torch.device(device).type != "cuda":
        backend = "torch"                                      # a model trained on a GPU, loaded on the CPU
    model = LongFormModel(base, replace(cfg, backend=backend) if backend else cfg).to(device)
    if checkpoint is not None and (Path(checkpoint) / TTT_WEIGHTS).is_file():
        from safetensors.torch import load_file
        model.ttt.load_state_dict(load_file(str(Path(checkpoint) / TTT_WEIGHTS), device=str(device)))
    return model.eval()
