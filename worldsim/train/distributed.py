"""Parallelism beside the model (torchtitan's rule): the model code never knows about it.

Order of application (as torchtitan's parallelize.py): activation checkpointing, then FSDP2.
The trained generator is sharded per block, torchtitan style: each `Block` is its own `fully_shard`
unit, then the root (embeddings, adaLN projection, output). Every kind of forward runs one loop
over the blocks and calls each block once (`Block.forward`, the text and video streams together,
generator.py), so a unit gathers its weights once per forward and reduce-scatters once after its
backward, and FSDP2 overlaps the next block's all-gather with this block's compute (implicit
prefetch) instead of gathering the whole generator at once. (Before, blocks were driven through
their streams' `modulate` / `project` / `finish`, several calls per stream; per-stream units then
re-gathered and reduce-scattered after every call, so the generator was one unit.) The trained
generator keeps its parameters gathered between forward and backward (`reshard_after_forward=False`,
ZeRO-2 like, the memory of the one-unit layout); the discriminator's backbone reshards after every
call. The root methods the model calls instead of `forward` (`forward_clip`, `start`, `step`, ...)
are registered as FSDP forward methods. The text encoder is fully sharded; stage 3's discriminator
is sharded per block as well (resharded after every call: it is called several times per loss and
only needs its weights during each call).
On CUDA with `loop.bf16`, FSDP2's mixed precision gathers bf16 weights (cast once per gather
instead of autocast casting fp32 weights at every use) and reduces gradients in fp32; the
sharded parameters and the optimiser stay fp32; the model's entry points (root methods, text
encoder) then run under bf16 autocast whoever calls them. On CPU (gloo) everything stays fp32.

    rank, world = init_distributed()                    # under torchrun; (0, 1) for one process
    apply_activation_checkpointing(model.generator)
    shard_model(model, bf16=ctx.bf16)                   # before the optimisers are built

Checkpoints stay single files: `full_tensor` gathers a sharded tensor on every rank (a
collective: all ranks call it in the same order), rank 0 writes, and `shard_like` cuts a full
tensor back into the local shard of a sharded parameter when a run resumes.
"""
from __future__ import annotations

import functools
import os

import torch
from torch import Tensor, nn

ROOT_METHODS = ("forward_clip", "start", "step", "forward_step", "forward_segment")


def apply_activation_checkpointing(generator: nn.Module) -> None:
    """Recompute each block's MLPs in backward instead of storing their activations (the widest
    activations of a block: ffn_dim per token). The block code is unchanged: the MLP modules are
    wrapped in place."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    for block in generator.blocks:
        for stream in (block.video, block.text):
            if stream is not None and not hasattr(stream.mlp, "_checkpoint_wrapped_module"):
                stream.mlp = checkpoint_wrapper(stream.mlp)


def launched_by_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def init_distributed() -> tuple[int, int]:
    """(rank, world size); starts the process group when launched by torchrun (nccl on CUDA, gloo on
    CPU), also for one process: `torchrun --nproc_per_node=1` trains through the same FSDP2 path as
    more GPUs (the fair baseline for a scaling measurement); a plain `python -m worldsim.train` does not."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if not launched_by_torchrun():
        return 0, 1
    import atexit
    import warnings

    import torch.distributed as dist
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        atexit.register(dist.destroy_process_group)
        # Our registered forward methods return views (q/k/v, modulations); nothing modifies them
        # in place, which is what FSDP2's warning is about.
        warnings.filterwarnings("ignore", message="FSDP2-wrapped module .* returned a view tensor")
    return dist.get_rank(), world


def mixed_precision(bf16: bool):
    """FSDP2's policy: bf16 gathered weights and fp32 gradient reduction with `bf16`, else fp32
    throughout. Forward inputs are not cast (noise levels keep fp32 for the time embedding)."""
    from torch.distributed.fsdp import MixedPrecisionPolicy
    if not bf16:
        return MixedPrecisionPolicy()
    return MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32, cast_forward_inputs=False)


def shard_generator(generator: nn.Module, reshard_after_forward: bool = False, bf16: bool = False) -> nn.Module:
    """FSDP2 on a Generator: one `fully_shard` unit per block, then the root (embeddings, adaLN,
    output) with the rest; `reshard_after_forward` for every unit."""
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    policy = mixed_precision(bf16)
    if bf16:                                     # bf16 weights need autocast wherever the model runs
        for name in ROOT_METHODS:
            under_autocast(generator, name)
    for block in generator.blocks:
        fully_shard(block, reshard_after_forward=reshard_after_forward, mp_policy=policy)
    fully_shard(generator, reshard_after_forward=reshard_after_forward, mp_policy=policy)
    for name in ROOT_METHODS:
        register_fsdp_forward_method(generator, name)
    return generator


def shard_model(model: nn.Module, bf16: bool = False) -> nn.Module:
    """The generator (per block, ZeRO-2 like) and the text encoder (fully sharded) of an AaptModel;
    `bf16`: FSDP2 mixed precision (CUDA with loop.bf16)."""
    from torch.distributed.fsdp import fully_shard

    shard_generator(model.generator, reshard_after_forward=False, bf16=bf16)
    if bf16:
        under_autocast(model.text_encoder, "forward")
    fully_shard(model.text_encoder, reshard_after_forward=True, mp_policy=mixed_precision(bf16))
    return model


def shard_vae(vae: nn.Module) -> nn.Module:
    """Stage 0's VAE: encoder, full decoder and light decoder each a unit of its own (each is called
    through `forward`), fully sharded; gradients are averaged over ranks by the reduce-scatters."""
    from torch.distributed.fsdp import fully_shard

    for part in (vae.encoder, vae.decoder, vae.light_decoder):
        fully_shard(part, reshard_after_forward=True)
    return vae


def under_autocast(module: nn.Module, name: str) -> None:
    """Run `module.name` under bf16 autocast (on the module's device) also when its caller does not
    (sample strips, validation): gathered bf16 weights and fp32 inputs meet only under autocast."""
    method = getattr(module, name)
    device = next(module.parameters()).device.type

    @functools.wraps(method)
    def run(*args, **kwargs):
        with torch.autocast(device, dtype=torch.bfloat16):
            return method(*args, **kwargs)
    setattr(module, name, run)


def shard_discriminator(discriminator: nn.Module) -> nn.Module:
    """Stage 3's discriminator fully sharded: its backbone per block, its text encoder and
    its logit head, each a root of its own (they are called separately, as in an AaptModel).
    Parts sharded already (a backbone built by build_aapt) are kept."""
    from torch.distributed.fsdp import FSDPModule, fully_shard

    if not isinstance(discriminator.backbone, FSDPModule):
        shard_generator(discriminator.backbone, reshard_after_forward=True)
    if not isinstance(discriminator.text_encoder, FSDPModule):
        fully_shard(discriminator.text_encoder, reshard_after_forward=True)
    fully_shard(discriminator.head, reshard_after_forward=True)
    return discriminator


def is_sharded(t) -> bool:
    return hasattr(t, "full_tensor") and hasattr(t, "device_mesh")


def full_tensor(t: Tensor) -> Tensor:
    """The whole tensor on every rank (a collective for a sharded one), detached, on the CPU."""
    return (t.full_tensor() if is_sharded(t) else t).detach().contiguous().cpu()


def shard_like(full: Tensor, like: Tensor) -> Tensor:
    """A full tensor as `like`'s kind: the local shard of a sharded tensor, or itself."""
    if not is_sharded(like):
        return full
    from torch.distributed.tensor import distribute_tensor
    return distribute_tensor(full.to(like.device, like.dtype), like.device_mesh, like.placements)


def is_sharded_run() -> bool:
    """True under torchrun (a process group exists): the models are FSDP2-sharded."""
    import torch.distributed as dist
    return dist.is_available() and dist.is_initialized()


def is_main() -> bool:
    import torch.distributed as dist
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier() -> None:
    import torch.distributed as dist
    if dist.is_initialized():
        dist.barrier()


def mean_over_ranks(metrics: dict[str, float]) -> dict[str, float]:
    """Metrics averaged over all ranks (identity for one process)."""
    import torch.distributed as dist
    if not dist.is_initialized() or not metrics:
        return metrics
    values = torch.tensor(list(metrics.values()), dtype=torch.float64)
    if dist.get_backend() == "nccl":
        values = values.cuda()
    dist.all_reduce(values)
    return dict(zip(metrics, (values / dist.get_world_size()).tolist()))
