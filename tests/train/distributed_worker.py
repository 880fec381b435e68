"""Run by tests/train/test_distributed.py under `torchrun --nproc_per_node=2` (gloo on CPU).

1. One FSDP2-sharded optimiser step equals one unsharded step on the whole batch.
2. `worldsim train adapt` trains, checkpoints, resumes and exports under torchrun.
Any failure raises, so the process (and torchrun) exits non-zero."""
import sys

import torch

from worldsim.cli import main
from worldsim.config import model_preset, replace_generator
from worldsim.models.model import build_model
from worldsim.train.config import OptimSection
from worldsim.train.distributed import full_tensor, init_distributed, shard_model
from worldsim.train.loop import optimize

torch.set_num_threads(1)
rank, world = init_distributed()
assert world == 2, world


def adapt_loss(model, x, prompts):
    gen = model.generator
    controls = x.new_zeros(*x.shape[:2], 0, *x.shape[-2:])
    v = gen.forward_clip(gen.clip_inputs(x, x, controls), torch.full((x.shape[0],), 0.5),
                         model.text_encoder(prompts))
    return v.pow(2).mean()


cfg = replace_generator(model_preset("tiny"), control_channels=0)
reference, sharded = build_model(cfg, zero_init=False), build_model(cfg, zero_init=False)
shard_model(sharded)
optim = OptimSection(warmup_steps=0, grad_clip=1.0)
# SGD: Adam's normalised steps would turn float noise in tiny gradients into lr-sized differences
opts = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (reference, sharded)]
x = torch.randn(4, 5, 16, 4, 4, generator=torch.Generator().manual_seed(0))
prompts = ["a red tower", "snow", "a lake at dusk", ""]
for step in range(2):
    optimize(adapt_loss(reference, x, prompts), opts[0], step, optim)                  # whole batch
    optimize(adapt_loss(sharded, x[rank::2], prompts[rank::2]), opts[1], step, optim)  # this rank's half
ref = reference.state_dict()
for name, value in sharded.state_dict().items():
    torch.testing.assert_close(full_tensor(value), ref[name], atol=1e-6, rtol=1e-5, msg=name)

config = sys.argv[1]
assert main(["train", "adapt", "--config", config]) == 0
assert main(["train", "adapt", "--config", config, "--steps", "6"]) == 0
