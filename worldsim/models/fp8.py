"""FP8 (e4m3) linears for inference: weights quantized once, activations per step, on `torch._scaled_mm`.

    n = to_float8(gen)                      # the blocks' qkv / proj / MLP linears -> Float8Linear; n replaced
    lin8 = Float8Linear.from_linear(lin)    # one layer

Scaling is rowwise: one float32 scale per output channel of the weight (fixed at conversion) and
one per token of the activations (from the row's amax, computed on the device every call: no host
sync, so the static step and its CUDA graphs keep working). `_scaled_mm` computes
(x_f8 * s_x) @ (w_f8 * s_w)^T in float32 and writes the input's dtype (bf16 on GPU, float32 on CPU).

Why rowwise, not one scale per tensor: e4m3 has 3 mantissa bits (a relative step of 2^-3, so a
rounding error of at most 2^-4 = 6.25 %, ~2-3 % RMS, per element) and a range of 2^-9..448; one
scale per tensor would put rows of small activations into the subnormals. Rowwise `_scaled_mm`
runs on CPU (torch 2.13) and on CUDA sm_89 / sm_90 (H100/H200: CUTLASS kernel, or cuBLAS >= 12.9;
both operands rowwise, scale_a (M, 1) and scale_b (1, N) float32 contiguous, the second operand
column-major (w_f8.t() of the row-major [out, in] weight), K and N multiples of 16; out bf16 or
fp16, float32 only through cuBLAS >= 12.9 on sm_90 and then without a bias; a bias of the out
dtype is fused into the epilogue). A float32 model on CUDA therefore computes in bf16 and casts back.

Inference only: the fp8 weights are buffers, and a forward with gradients enabled on an input that
requires them raises. On CPU `_scaled_mm` is a slow reference kernel: use it to check correctness
(the error against full precision), never for speed.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

FP8 = torch.float8_e4m3fn
FP8_MAX = float(torch.finfo(FP8).max)            # 448
EPS = 1e-12                                       # a zero row gets this amax, not a division by zero


def quantize_rows(x: Tensor) -> tuple[Tensor, Tensor]:
    """x (M, K) -> (x_f8 (M, K), scale (M, 1) float32) with x ~= x_f8 * scale, each row's amax at 448."""
    xf = x.float()
    scale = xf.abs().amax(dim=1, keepdim=True).clamp(min=EPS) / FP8_MAX
    return (xf / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8), scale


class Float8Linear(nn.Module):
    """An inference-only nn.Linear whose matmul runs in float8 e4m3 (rowwise scales, `_scaled_mm`)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        if in_features % 16 or out_features % 16:
            raise ValueError(f"Float8Linear needs in and out features that are multiples of 16 "
                             f"(_scaled_mm), got {in_features} -> {out_features}")
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight_f8", torch.empty(out_features, in_features, dtype=FP8, device=device))
        self.register_buffer("weight_scale", torch.empty(1, out_features, dtype=torch.float32, device=device))
        self.register_buffer("bias", torch.empty(out_features, dtype=dtype, device=device) if bias else None)

    @classmethod
    @torch.no_grad()
    def from_linear(cls, lin: nn.Linear) -> "Float8Linear":
        w = lin.weight
        new = cls(lin.in_features, lin.out_features, lin.bias is not None, w.device, w.dtype)
        w_f8, scale = quantize_rows(w.detach())
        new.weight_f8.copy_(w_f8)
        new.weight_scale.copy_(scale.reshape(1, -1))
        if lin.bias is not None:
            new.bias.copy_(lin.bias.detach())
        return new

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, fp8=e4m3 rowwise"

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            raise RuntimeError("Float8Linear is inference only: its fp8 weights take no gradients "
                               "(run under torch.no_grad(), or train the full-precision model)")
        lead = x.shape[:-1]
        x_f8, x_scale = quantize_rows(x.reshape(-1, self.in_features))
        out_dtype = x.dtype
        if x.device.type == "cuda" and out_dtype == torch.float32:
            out_dtype = torch.bfloat16           # rowwise float32 output needs cuBLAS >= 12.9 on sm_90 only
        fuse_bias = self.bias is not None and out_dtype != torch.float32 and self.bias.dtype == out_dtype
        y = torch._scaled_mm(x_f8, self.weight_f8.t(), scale_a=x_scale, scale_b=self.weight_scale,
                             bias=self.bias if fuse_bias else None, out_dtype=out_dtype)
        if self.bias is not None and not fuse_bias:
            y = y + self.bias.to(y.dtype)
        return y.to(x.dtype).reshape(*lead, self.out_features)


def check_fp8_device(device) -> None:
    """ValueError (one line) unless `device` runs fp8 matmuls: the CPU (slowly), or a CUDA GPU of
    compute capability 8.9 or later (Ada, Hopper and on)."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.get_device_capability(device) < (8, 9):
        cap = ".".join(map(str, torch.cuda.get_device_capability(device)))
        raise ValueError(f"fp8 needs a GPU of compute capability 8.9 or later (Ada, Hopper); "
                         f"{torch.cuda.get_device_name(device)} is {cap}")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"fp8 runs on cpu or cuda, not {device.type}")


def eligible(lin: nn.Module, min_features: int) -> bool:
    """An nn.Linear `_scaled_mm` can take (in and out features multiples of 16) of at least `min_features`."""
    return (type(lin) is nn.Linear and lin.in_features % 16 == 0 and lin.out_features % 16 == 0
            and min(lin.in_features, lin.out_features) >= min_features)


def to_float8(module: nn.Module, *, min_features: int = 32) -> int:
    """Replace `module`'s big linears by Float8Linear in place; returns how many were replaced.

    For the generator (anything with `.blocks`) only the linears inside the blocks are replaced:
    each stream's qkv and output projections and its MLP, ~all of the step's linear FLOPs. The
    patch/text/time embeddings, the shared adaLN projection `time_mod`, `final_mod` and the final
    projection stay in full precision: they are a few % of the FLOPs at most (time_mod and final_mod
    see one row per frame), and their error reaches every block (adaLN) or the output unaveraged.
    Any linear whose in or out features are not multiples of 16 or are below `min_features` is
    skipped (a generic module is converted wherever that holds)."""
    root = module.blocks if hasattr(module, "blocks") else module
    replaced = 0
    for parent in list(root.modules()):
        for name, child in list(parent.named_children()):
            if eligible(child, min_features):
                setattr(parent, name, Float8Linear.from_linear(child))
                replaced += 1
    return replaced


def fp8_option(fp8, generator: nn.Module, device) -> int:
    """The aapt option `fp8`: with True the generator's block linears in float8 (to_float8) on a device
    that has fp8 matmuls; how many. ValueError (one line, "aapt ...") for a non-bool or such a device."""
    if not isinstance(fp8, bool):
        raise ValueError(f"aapt fp8 must be true or false, got {fp8!r}")
    if not fp8:
        return 0
    try:
        check_fp8_device(device)
    except ValueError as err:
        raise ValueError(f"aapt {err}") from None
    return to_float8(generator)


def relative_error(got: Tensor, ref: Tensor) -> float:
    """||got - ref|| / ||ref|| in float64 (one host sync: for reports, not inside a step)."""
    got, ref = got.detach().double(), ref.detach().double()
    return float((got - ref).norm() / ref.norm().clamp(min=1e-30))


def psnr_db(got: Tensor, ref: Tensor) -> float:
    """10 log10(peak^2 / MSE) with peak the reference's largest magnitude (latents have no fixed range)."""
    got, ref = got.detach().double(), ref.detach().double()
    mse = float((got - ref).pow(2).mean())
    peak = float(ref.abs().max())
    return float("inf") if mse == 0 else 10.0 * torch.log10(torch.tensor(peak * peak / mse)).item()
