import pytest

from worldsim.config import model_preset, replace_generator
from worldsim.models.model import build_model

from worldsim.train.adapt import AdaptStage
from worldsim.train.build import export_model, load_aapt
from worldsim.train.config import ConfigError
from worldsim.train.data import ClipReader
from worldsim.train.distill import DistillStage, one_step_error, one_step_frames
from worldsim.train.loop import StepContext, train


def test_distill_needs_a_teacher(tmp_path, tiny_config):
    cfg = tiny_config(tmp_path, "distill")
    with pytest.raises(ConfigError, match="teacher"):
        DistillStage(cfg, StepContext.from_config(cfg))


def test_distill_loss_falls_from_a_stage1_teacher(tmp_path, tiny_bank, tiny_config):
    bank = tiny_bank()
    cfg = tiny_config(tmp_path / "adapt", "adapt", steps=40, adapt={"text_dropout": 0.0})
    ctx = StepContext.from_config(cfg)
    stage = AdaptStage(cfg, ctx)
    train(stage, ClipReader(bank, 4, 0), cfg, ctx)
    teacher_path = export_model(stage.model, tmp_path / "adapt", "adapt")

    cfg = tiny_config(tmp_path / "distill", "distill", steps=40, model={"init": str(teacher_path)},
                      distill={"shift": 3.0, "grid": 8})
    stage = DistillStage(cfg, ctx)
    losses = [r["loss"] for r in train(stage, ClipReader(bank, 4, 0), cfg, ctx)]
    assert sum(losses[-8:]) < 0.7 * sum(losses[:8]), losses
    # The one-step error on held-out clips measures what stage 1 learned (vs. a random model).
    held_out = tiny_bank(clips=4, seed=1)
    latents, prompts = held_out.tensors["latents"], held_out.prompts
    random_model = build_model(replace_generator(model_preset("tiny"), control_channels=0), zero_init=False)
    assert one_step_error(load_aapt(str(teacher_path), ctx), latents, prompts) < one_step_error(
        random_model, latents, prompts)


def test_one_step_generator_after_distillation_beats_the_undistilled_model_on_held_out_clips(
        tmp_path, tiny_config, pattern_walk):
    """At one step the stage-1 model can only give the blurry mean of the possible next frames;
    the distilled generator commits to one of them. Held-out clips: new walks (other seeds)."""
    walk = pattern_walk
    bank, _ = walk.clips(64, 4, seed=0)
    held_out, index = walk.clips(16, 4, seed=1)
    latents = held_out.tensors["latents"]
    batch = {"batch_size": 8}
    cfg = tiny_config(tmp_path / "adapt", "adapt", steps=200, data=batch, adapt={"text_dropout": 0.0, "shift": 2.0})
    ctx = StepContext.from_config(cfg)
    stage1 = AdaptStage(cfg, ctx)
    train(stage1, ClipReader(bank, 8, 0), cfg, ctx)
    teacher_path = export_model(stage1.model, tmp_path / "adapt", "adapt")
    cfg = tiny_config(tmp_path / "distill", "distill", steps=200, data=batch, optim={"lr": 1e-3},
                      model={"init": str(teacher_path)}, distill={"shift": 2.0, "grid": 4})
    student = DistillStage(cfg, ctx)
    train(student, ClipReader(bank, 8, 0), cfg, ctx)

    undistilled = walk.nearest_next_error(one_step_frames(stage1.model.eval(), latents, held_out.prompts), index)
    distilled = walk.nearest_next_error(one_step_frames(student.model.eval(), latents, held_out.prompts), index)
    assert distilled < 0.8 * undistilled, (distilled, undistilled)
