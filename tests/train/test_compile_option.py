"""`loop.compile`: which modules a stage compiles, and that checkpoints do not notice."""
from __future__ import annotations

import pytest

from worldsim.config import model_preset
from worldsim.models.model import build_model
from worldsim.train.build import compile_for_training
from worldsim.train.config import ConfigError, config_from_dict


def compiled(module) -> bool:
    return getattr(module, "_compiled_call_impl", None) is not None


@pytest.mark.parametrize("stage", ["vae", "adapt"])
def test_compile_keeps_state_dict_keys_and_compiles_the_stage_modules(stage):
    model = build_model(model_preset("tiny"))
    keys = list(model.state_dict())
    compile_for_training(model, stage)
    assert list(model.state_dict()) == keys                 # checkpoints and exports unchanged
    vae = [model.vae.encoder, model.vae.decoder, model.vae.light_decoder]
    if stage == "vae":
        assert all(compiled(m) for m in vae) and not any(compiled(b) for b in model.generator.blocks)
    else:
        assert all(compiled(b) for b in model.generator.blocks) and not any(compiled(m) for m in vae)


def test_new_training_keys_are_checked():
    with pytest.raises(ConfigError, match="vae.light_target"):
        config_from_dict({"stage": "vae", "vae": {"light_target": "pixels"}})
    with pytest.raises(ConfigError, match="t_one_fraction"):
        config_from_dict({"stage": "adapt", "adapt": {"t_one_fraction": 1.5}})
    with pytest.raises(ConfigError, match="own_passes must be >= -1"):
        config_from_dict({"stage": "adapt", "adapt": {"own_passes": -2}})
    cfg = config_from_dict({"stage": "adapt", "loop": {"compile": True}, "adapt": {"t_one_fraction": 0.5}})
    assert cfg.loop.compile and cfg.adapt.t_one_fraction == 0.5


def test_vae_loss_trains_the_light_decoder_on_real_frames_and_reports_motion():
    import torch

    from worldsim.train.vae import motion_l1, vae_loss
    model = build_model(model_preset("tiny"))
    video = torch.rand(2, 3, 5, 32, 32) * 2 - 1
    torch.manual_seed(0)
    _, on_video = vae_loss(model, video, 1e-6, 1.0, 1.0, light_weight=1.0, light_target="video", motion_weight=1.0)
    torch.manual_seed(0)
    _, on_decoder = vae_loss(model, video, 1e-6, 1.0, 1.0, light_weight=1.0, light_target="decoder")
    assert "motion" in on_video and "motion" not in on_decoder
    assert on_video["light_l2"] == on_decoder["light_l2"]         # same latents, same light output
    assert on_video["light_loss"] != on_decoder["light_loss"]     # different targets
    still = video[:, :, :1].expand_as(video)
    assert motion_l1(video, video) == 0 and motion_l1(still, video) > 0


def test_compiled_blocks_still_step_the_free_rollout_of_own_predictions(tmp_path, tiny_bank, tiny_config):
    """adapt.own_passes = -1 steps the model through its KV cache (one-frame shapes) in a stage whose
    blocks are compiled for whole clips: the rollout runs them eagerly and the loss stays finite."""
    import torch

    from worldsim.train.adapt import AdaptStage
    from worldsim.train.data import ClipReader
    from worldsim.train.loop import StepContext, train
    cfg = tiny_config(tmp_path / "run", steps=3, loop={"compile": True},
                      adapt={"own_passes": -1, "own_fraction": 1.0})
    ctx = StepContext.from_config(cfg)
    stage = AdaptStage(cfg, ctx)
    assert all(compiled(b) for b in stage.model.generator.blocks) and stage.model.generator.step_compiled
    history = train(stage, ClipReader(tiny_bank(), 2, 0), cfg, ctx)
    assert len(history) == 3 and all(torch.isfinite(torch.tensor(r["loss"])) for r in history)


def test_a_compiled_stage_3_judges_whole_clips_compiled_and_rolls_out_eagerly(tmp_path, tiny_bank, tiny_config):
    """loop.compile in the adversarial stage: G's and D's blocks compile (D's backbone loaded from a
    checkpoint too) for the whole-clip forwards, G's cached step compiles into its own static graphs (no
    graph per cache position), the student-forced rollout through them equals the eager one, and the
    steps train."""
    import torch
    from torch._dynamo.utils import counters

    from worldsim.config import replace_generator
    from worldsim.models.checkpoint import save_checkpoint
    from worldsim.train.adapt import free_rollout
    from worldsim.train.adversarial import AdversarialStage
    from worldsim.train.data import ClipReader
    from worldsim.train.loop import StepContext, train
    init = tmp_path / "init"
    save_checkpoint(build_model(replace_generator(model_preset("tiny"), control_channels=0), seed=0, zero_init=False), init)
    cfg = tiny_config(tmp_path / "run", "adversarial", steps=3, model={"init": str(init)}, loop={"compile": True},
                      adversarial={"r_lambda": 0.0, "regression_weight": 1.0})
    ctx = StepContext.from_config(cfg)
    stage = AdversarialStage(cfg, ctx)
    assert all(compiled(b) for b in stage.model.generator.blocks) and stage.model.generator.step_compiled
    assert all(compiled(b) for b in stage.discriminator.backbone.blocks)
    assert not stage.discriminator.backbone.step_compiled            # D never steps through a cache
    torch._dynamo.reset()
    counters.clear()
    history = train(stage, ClipReader(tiny_bank(), 2, 0), cfg, ctx)
    assert len(history) == 3 and all(torch.isfinite(torch.tensor([r["d_loss"], r["g_regression"]])).all()
                                     for r in history)
    assert counters["stats"]["unique_graphs"] > 0                  # the whole-clip forwards compiled
    gen, real = stage.model.generator, tiny_bank().tensors["latents"][:3]
    controls, text = real.new_zeros(*real.shape[:2], 0, 4, 4), stage.model.text_encoder(["a"] * 3)
    noise = torch.randn_like(real)
    free_rollout(gen, real[:, 0], controls, text, noise)            # a new batch size: the step's graphs for it
    with torch._dynamo.config.patch(error_on_recompile=True):     # then rollouts compile nothing more
        video = free_rollout(gen, real[:, 0], controls, text, noise)
    assert gen.backend == cfg.model.attention
    plain = build_model(replace_generator(model_preset("tiny"), control_channels=0), seed=None)
    plain.load_state_dict(stage.model.state_dict())
    eager = free_rollout(plain.generator, real[:, 0], controls, text, noise)
    torch.testing.assert_close(video, eager, atol=1e-4, rtol=1e-4)
