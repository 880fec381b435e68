import torch

from worldsim.config import model_preset, replace_generator
from worldsim.models.model import build_model
from worldsim.train.adversarial import AdversarialStage, Discriminator, discriminator_loss, student_rollout
from worldsim.train.config import AdversarialSection
from worldsim.train.data import ClipReader
from worldsim.train.loop import StepContext, train


def tiny_model(seed):
    return build_model(replace_generator(model_preset("tiny"), control_channels=0), seed=seed,
                       zero_init=False).train()


def test_student_forcing_recycles_its_own_rollout_and_backpropagates_into_frame0_keys(tiny_bank):
    model = tiny_model(0)
    gen = model.generator
    real = tiny_bank().tensors["latents"][:2]                     # (2, 5, 16, 4, 4): past the window of 3
    b, f = real.shape[:2]
    tokens = real.shape[-1] * real.shape[-2]
    controls = real.new_zeros(b, f, 0, 4, 4)
    text = model.text_encoder(["a", "b"])
    eps = torch.randn_like(real)
    keys = []

    def keep_video_keys(module, args, out):                     # k_norm output (B, H, tokens, D)
        if out.shape[2] == f * tokens:
            out.retain_grad()
            keys.append(out)
    hook = gen.blocks[0].video.k_norm.register_forward_hook(keep_video_keys)
    fake = student_rollout(gen, real[:, 0], controls, text, eps)
    hook.remove()

    # The frames are the cache rollout's own (step() recycles its outputs)...
    with torch.no_grad():
        gen.start(real[:, 0], text)
        steps = [gen.step(controls[:, i], noise=eps[:, i]) for i in range(1, f)]
    torch.testing.assert_close(fake[:, 1:], torch.stack(steps, 1), atol=1e-5, rtol=1e-4)
    # ...and a loss on the last frame sends gradient to frame 0's keys through attention.
    fake[:, -1].pow(2).mean().backward()
    frame0_grad = keys[0].grad[:, :, :tokens]
    assert frame0_grad.abs().sum() > 0
    assert gen.patch_embed.weight.grad is not None


def test_adversarial_steps_run_and_the_discriminator_learns(tmp_path, tiny_bank, tiny_config):
    cfg = tiny_config(tmp_path, "adversarial", steps=20,
                      adversarial={"d_lr": 1e-3, "g_lr": 1e-5, "r_lambda": 1.0})
    ctx = StepContext.from_config(cfg)
    stage = AdversarialStage(cfg, ctx, generator=tiny_model(1), discriminator_init=tiny_model(2))
    history = train(stage, ClipReader(tiny_bank(), 4, 0), cfg, ctx)
    d = [r["d_loss"] for r in history]
    assert all(torch.isfinite(torch.tensor(r["g_loss"])) for r in history)
    assert sum(d[-5:]) < 0.8 * sum(d[:5])
    assert sum(r["d_real_first"] for r in history[-5:]) / 5 > 0.5          # it ranks the real clips first


def test_the_discriminator_loss_reports_the_ranking_the_gap_and_the_penalty_apart(tiny_bank):
    """d_loss alone hid a D at chance under a large R1/R2 term (docs/TRAINING.md, tenth lease): the stats
    split it into the relativistic part's ranking and gap and the penalty, which is all that lambda adds."""
    d = Discriminator(tiny_model(2))
    real = tiny_bank().tensors["latents"][:3]
    fake = real + 0.5 * torch.randn_like(real)
    controls, text = real.new_zeros(3, real.shape[1], 0, 4, 4), d.text_encoder(["", "", ""])
    runs = {}
    for lam in (0.0, 50.0):
        torch.manual_seed(0)                                        # the same t and noise for both
        stats = {}
        loss = discriminator_loss(d, real, fake, controls, text, AdversarialSection(r_lambda=lam), stats=stats)
        runs[lam] = loss, stats
    (loss0, s0), (loss1, s1) = runs[0.0], runs[50.0]
    assert s0["d_penalty"] == 0 and s1["d_penalty"] > 0
    torch.testing.assert_close(loss1 - s1["d_penalty"], loss0)
    torch.testing.assert_close(s1["d_gap"], s0["d_gap"])
    assert 0 <= s0["d_real_first"] <= 1 and not s0["d_gap"].requires_grad


def test_a_student_forced_step_rolls_out_once_and_both_updates_see_that_rollout(tmp_path, tiny_bank, tiny_config):
    cfg = tiny_config(tmp_path, "adversarial", steps=1, adversarial={"r_lambda": 0.0})
    ctx = StepContext.from_config(cfg)
    stage = AdversarialStage(cfg, ctx, generator=tiny_model(1), discriminator_init=tiny_model(2))
    gen, seen = stage.model.generator, []
    batch = next(iter(ClipReader(tiny_bank(), 2, 0)))
    frames = batch["latents"].shape[1]
    steps = []
    step = gen.step
    gen.step = lambda *a, **k: steps.append(1) or step(*a, **k)
    judge = stage.discriminator.forward
    stage.discriminator.forward = lambda clip, *a: seen.append(clip.detach().clone()) or judge(clip, *a)
    out = stage.train_step(batch, 0)
    assert len(steps) == frames - 1                              # one rollout, not one per update
    d_fake, g_fake = seen[1], seen[3]                            # D: real, fake; G: real, fake
    torch.testing.assert_close(g_fake, d_fake, atol=1e-5, rtol=1e-4)     # G's update judges D's rollout
    assert not torch.equal(d_fake[:, 1:], batch["latents"][:, 1:].float())
    assert torch.isfinite(torch.tensor([out["d_loss"], out["g_loss"]])).all()


def test_the_regression_anchor_pulls_the_student_rollout_towards_the_true_frames(tmp_path, tiny_bank, tiny_config):
    """adversarial.regression_weight: G's loss adds lambda * MSE(rollout, truth); with a large lambda and
    the adversarial part negligible, G's student-forced rollouts move towards the true clips."""
    import pytest

    from worldsim.train.config import ConfigError, config_from_dict
    def regression(weight):
        cfg = tiny_config(tmp_path / str(weight), "adversarial", steps=30,
                          adversarial={"g_lr": 3e-4, "regression_weight": weight, "r_lambda": 0.0})
        ctx = StepContext.from_config(cfg)
        stage = AdversarialStage(cfg, ctx, generator=tiny_model(1), discriminator_init=tiny_model(2))
        return [r["g_regression"] for r in train(stage, ClipReader(tiny_bank(), 4, 0), cfg, ctx)]
    anchored, free = regression(100.0), regression(0.0)
    assert sum(anchored[-5:]) < 0.85 * sum(anchored[:5]), anchored
    assert sum(anchored[-5:]) < 0.9 * sum(free[-5:]), (anchored, free)
    with pytest.raises(ConfigError, match="regression_weight"):
        config_from_dict({"stage": "adversarial", "adversarial": {"regression_weight": -1.0}})
