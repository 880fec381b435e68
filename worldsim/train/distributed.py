"""Parallelism beside the model (torchtitan's rule): the model code never knows about it.

Order of application (as torchtitan's parallelize.py): activation checkpointing, then FSDP2
(`fully_shard` per DiT block, then the root). The generator keeps its parameters gathered
during student-forcing rollouts (`reshard_after_forward=False`, ZeRO-2 like); the
discriminator and the text encoder are fully sharded (DESIGN §9).

    init_distributed()                                  # under torchrun; no-op for one process
    apply_activation_checkpointing(model.generator)
    shard_generator(model.generator, reshard_after_forward=False)
"""
from __future__ import annotations

import os

import torch
from torch import nn


def apply_activation_checkpointing(generator: nn.Module) -> None:
    """Recompute each block's MLPs in backward instead of storing their activations (the widest
    activations of a block: ffn_dim per token). The block code is unchanged: the MLP modules are
    wrapped in place."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    for block in generator.blocks:
        for stream in (block.video, block.text):
            if stream is not None and not hasattr(stream.mlp, "_checkpoint_wrapped_module"):
                stream.mlp = checkpoint_wrapper(stream.mlp)


def init_distributed() -> tuple[int, int]:
    """(rank, world size); starts the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    import torch.distributed as dist
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_rank(), world


def shard_generator(generator: nn.Module, reshard_after_forward: bool = True) -> nn.Module:
    """FSDP2: one `fully_shard` per DiT block, then the root (embeddings, adaLN, output)."""
    from torch.distributed.fsdp import fully_shard

    for block in generator.blocks:
        fully_shard(block, reshard_after_forward=reshard_after_forward)
    fully_shard(generator, reshard_after_forward=reshard_after_forward)
    return generator
