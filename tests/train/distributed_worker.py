"""Run by tests/train/test_distributed.py under `torchrun --nproc_per_node=2` (gloo on CPU).

1. One FSDP2-sharded optimiser step equals one unsharded step on the whole batch.
2. `worldsim train adapt` trains, checkpoints, resumes and exports under torchrun.
3. `worldsim train adversarial` runs with student forcing, plain and long-video (segments).
   Stage 0: a sharded VAE takes the same step as an unsharded one.
4. bf16 mixed precision (the CUDA policy, here under CPU autocast): weights gathered in bf16 for
   the forward, master weights and gradients fp32, and the step close to the fp32 step.
5. The loop averages metrics over ranks on log steps only: the log equals those records.
Any failure raises, so the process (and torchrun) exits non-zero."""
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from worldsim.cli import main
from worldsim.config import model_preset, replace_generator
from worldsim.models.model import build_model
from worldsim.train.adapt import AdaptStage
from worldsim.train.config import OptimSection, load_config
from worldsim.train.data import ClipBank, ClipReader
from worldsim.train.adversarial import Discriminator
from worldsim.train.distributed import (full_tensor, init_distributed, is_sharded, shard_discriminator, shard_model,
                                        shard_vae)
from worldsim.train.long_video import LongRollout, extend_controls
from worldsim.train.loop import StepContext, optimize, train

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
from torch.distributed.fsdp import FSDPModule                       # noqa: E402
assert all(isinstance(b, FSDPModule) for b in sharded.generator.blocks)              # one unit per block
optim = OptimSection(warmup_steps=0, grad_clip=1.0)
# SGD: Adam's normalised steps would turn float noise in tiny gradients into lr-sized differences
opts = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (reference, sharded)]
x = torch.randn(4, 5, 16, 4, 4, generator=torch.Generator().manual_seed(0))
prompts = ["a red tower", "snow", "a lake at dusk", ""]
for step in range(2):
    optimize(adapt_loss(reference, x, prompts), opts[0], step, optim)                  # whole batch
    optimize(adapt_loss(sharded, x[rank::2], prompts[rank::2]), opts[1], step, optim)  # this rank's half


def same_weights(sharded_module, reference_module):
    ref = reference_module.state_dict()
    for name, value in sharded_module.state_dict().items():
        torch.testing.assert_close(full_tensor(value), ref[name], atol=1e-6, rtol=1e-5, msg=name)


same_weights(sharded, reference)


# 1b. Stage 3: a discriminator called several times per loss (pairing + R1) and a generator
# trained through long-video segments take the same steps sharded as unsharded.
def stage3_loss(gen, disc, real, eps, prompt_list):
    b = real.shape[0]
    controls = real.new_zeros(b, 5, 0, 4, 4)
    text = disc.text_encoder(prompt_list)
    video = LongRollout.run(gen, real[:, 0], extend_controls(controls, 9), text.detach(), eps, 5, 1)
    t = torch.full((b,), 0.3)
    fakes = [video.fake(gen, seg, text) for seg in video.segments]
    loss = 0
    for fake in fakes:
        d_fake, d_real = disc(fake, controls, text, t, eps[:, :5]), disc(real, controls, text, t, eps[:, :5])
        loss = loss + torch.nn.functional.softplus(d_fake - d_real).mean()
        loss = loss + (d_real - disc(real + 0.1, controls, text, t, eps[:, :5])).pow(2).mean()
    return loss


models = []
for sharded_run in (False, True):
    gen_model, d_model = build_model(cfg, seed=1, zero_init=False), build_model(cfg, seed=2, zero_init=False)
    if sharded_run:
        shard_model(gen_model)
    torch.manual_seed(3)                                                  # the same logit head
    disc = Discriminator(d_model)
    if sharded_run:
        shard_discriminator(disc)
    models.append((gen_model, disc))
real = x[:, :5]
eps = torch.randn(4, 9, 16, 4, 4, generator=torch.Generator().manual_seed(1))
rows = [slice(None), slice(rank, None, 2)]
sgd = [torch.optim.SGD([*g.generator.parameters(), *d.parameters()], lr=0.1) for g, d in models]
for (gen_model, disc), opt, r in zip(models, sgd, rows):                 # whole batch, then this rank's half
    optimize(stage3_loss(gen_model.generator, disc, real[r], eps[r], prompts[r]), opt, 0, optim)
same_weights(models[1][0].generator, models[0][0].generator)
same_weights(models[1][1], models[0][1])


# 1c. Stage 0: the VAE's encoder and decoders sharded take the step of the unsharded VAE.
def vae_recon_loss(vae, video):
    z = vae.encoder(video).chunk(2, dim=1)[0]
    return (vae.decoder(z) - video).pow(2).mean() + (vae.light_decoder(z) - video).abs().mean()


vaes = [build_model(cfg, seed=4, zero_init=False).vae for _ in range(2)]
shard_vae(vaes[1])
video = torch.rand(4, 3, 5, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
for vae, r in zip(vaes, rows):
    opt = torch.optim.SGD(vae.parameters(), lr=0.1)
    optimize(vae_recon_loss(vae, video[r]), opt, 0, optim)
same_weights(vaes[1], vaes[0])


# 4. FSDP2 mixed precision: the policy shard_model takes on CUDA with loop.bf16.
def bf16_gathered(module):
    from torch.distributed.fsdp import FSDPModule
    units = [m for m in module.modules() if isinstance(m, FSDPModule)]     # the blocks, then the root
    for unit in units:
        unit.unshard()
    dtypes = {p.dtype for p in module.parameters()}
    for unit in units:
        unit.reshard()
    return dtypes


mixed = build_model(cfg, zero_init=False)
mixed.load_state_dict(reference.state_dict())
shard_model(mixed, bf16=True)
mixed_opt = torch.optim.SGD(mixed.parameters(), lr=0.1)                 # before a forward gathers them
assert bf16_gathered(mixed.generator) == {torch.bfloat16}, bf16_gathered(mixed.generator)
half = x[rank::2], prompts[rank::2]
loss = adapt_loss(mixed, *half)                 # no autocast here: the sharded model brings its own
assert loss.dtype == torch.bfloat16, loss.dtype
reference_loss = adapt_loss(reference, *half).item()
assert abs(loss.item() - reference_loss) < 0.05 * reference_loss, (loss.item(), reference_loss)
mixed_opt.zero_grad()
loss.backward()
grads = [p.grad for p in mixed.generator.parameters()]
assert all(g is not None and g.dtype == torch.float32 and is_sharded(g) for g in grads)
assert {p.dtype for p in mixed.parameters()} == {torch.float32}                      # master weights
before = {k: full_tensor(v) for k, v in mixed.generator.state_dict().items()}
mixed_opt.step()
assert any(not torch.equal(before[k], full_tensor(v)) for k, v in mixed.generator.state_dict().items())

config = sys.argv[1]

# 5. Metrics averaged over ranks on log steps only (every 2nd step here).
train_cfg = load_config(config, stage="adapt")
train_cfg.loop.log_every, train_cfg.loop.steps = 2, 4
train_cfg.loop.out_dir = str(Path(train_cfg.loop.out_dir).with_name("log_every_2"))
ctx = StepContext.from_config(train_cfg, rank, world)
history = train(AdaptStage(train_cfg, ctx), ClipReader(ClipBank.load(train_cfg.data.path), 2, rank=rank, world=world),
                train_cfg, ctx)
both = [None, None]
dist.all_gather_object(both, [r["loss"] for r in history])
assert [a == b for a, b in zip(*both)] == [False, True, False, True], both               # averaged: equal
if rank == 0:
    logged = [json.loads(line) for line in (Path(train_cfg.loop.out_dir) / "log.jsonl").read_text().splitlines()]
    assert logged == [history[1], history[3]], (logged, history)

assert main(["train", "adapt", "--config", config]) == 0
assert main(["train", "adapt", "--config", config, "--steps", "6"]) == 0
for adversarial in sys.argv[2:]:
    assert main(["train", "adversarial", "--config", adversarial]) == 0
