import json

import numpy as np
import pytest
import torch

from worldsim.render.video import read_video

from worldsim.train.adapt import AdaptStage, shift
from worldsim.train.data import ClipBank, ClipReader
from worldsim.train.loop import StepContext, train
from worldsim.train.samples import PeriodicSamples, decode


def run_adapt(cfg, bank):
    ctx = StepContext.from_config(cfg)
    reader = ClipReader(bank, cfg.data.batch_size, cfg.data.seed)
    return train(AdaptStage(cfg, ctx), reader, cfg, ctx)


def test_shift_pushes_noise_levels_up():
    t = torch.linspace(0, 1, 11)
    s = shift(t, 5.5)
    assert s[0] == 0 and s[-1] == 1 and (s[1:-1] > t[1:-1]).all()
    assert torch.equal(shift(t, 1.0), t)


def test_adapt_loss_falls_on_a_fixed_tiny_dataset(tmp_path, tiny_bank, tiny_config):
    cfg = tiny_config(tmp_path / "run", steps=50, adapt={"text_dropout": 0.0})
    losses = [r["loss"] for r in run_adapt(cfg, tiny_bank())]
    assert sum(losses[-8:]) / 8 < 0.7 * sum(losses[:8]) / 8, losses
    lines = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == list(range(1, 51))
    assert (tmp_path / "run" / "checkpoints" / "step_00000050" / "modules.safetensors").is_file()


class Killed(Exception):
    pass


def test_kill_and_resume_continue_the_identical_loss_curve(tmp_path, tiny_bank, tiny_config):
    full = [r["loss"] for r in run_adapt(tiny_config(tmp_path / "full", steps=8), tiny_bank())]

    cfg = tiny_config(tmp_path / "killed", steps=8, loop={"checkpoint_every": 4})
    ctx = StepContext.from_config(cfg)
    stage = AdaptStage(cfg, ctx)
    step_fn = stage.train_step

    def dies_at_step_6(batch, step):
        if step == 6:
            raise Killed
        return step_fn(batch, step)
    stage.train_step = dies_at_step_6
    try:
        train(stage, ClipReader(tiny_bank(), 4, 0), cfg, ctx)
    except Killed:
        pass
    # A fresh process: new model (other random init), new reader, resumed from step 4.
    torch.manual_seed(123)
    resumed = run_adapt(cfg, tiny_bank())
    assert [r["step"] for r in resumed] == [5, 6, 7, 8]
    assert [r["loss"] for r in resumed] == full[4:]
    steps = [json.loads(x)["step"] for x in (tmp_path / "killed" / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))                  # the killed run's step 5 line was replaced


def test_activation_checkpointing_gives_the_same_losses(tmp_path, tiny_bank, tiny_config):
    plain = run_adapt(tiny_config(tmp_path / "a", steps=3), tiny_bank())
    ckpt = run_adapt(tiny_config(tmp_path / "b", steps=3, loop={"activation_checkpointing": True}), tiny_bank())
    assert [r["loss"] for r in ckpt] == pytest.approx([r["loss"] for r in plain], rel=1e-5)
    cfg = tiny_config(tmp_path / "c", loop={"activation_checkpointing": True})
    gen = AdaptStage(cfg, StepContext.from_config(cfg)).model.generator
    assert all(hasattr(b.video.mlp, "_checkpoint_wrapped_module") for b in gen.blocks)


def test_periodic_validation_samples_leave_the_loss_curve_unchanged(tmp_path, tiny_bank, tiny_config):
    plain = [r["loss"] for r in run_adapt(tiny_config(tmp_path / "a", steps=4), tiny_bank())]
    val = tmp_path / "val.safetensors"
    tiny_bank(clips=2, seed=7).save(val)
    cfg = tiny_config(tmp_path / "b", steps=4, data={"val_path": str(val)}, loop={"sample_every": 2})
    ctx = StepContext.from_config(cfg)
    sampler = PeriodicSamples(ClipBank.load(val), cfg.loop.out_dir, base=False)
    stage = AdaptStage(cfg, ctx)
    history = train(stage, ClipReader(tiny_bank(), 4, 0), cfg, ctx, sampler)
    assert [r["loss"] for r in history] == plain
    assert [("val_loss" in r) for r in history] == [False, True, False, True]
    assert history[3]["val_loss"] < history[1]["val_loss"] * 1.5      # a number on the same scale
    samples = tmp_path / "b" / "samples"
    assert sorted(p.name for p in samples.iterdir()) == [f"step_0000000{i}.{e}" for i in (2, 4) for e in ("mp4", "png")]
    video = read_video(samples / "step_00000004.mp4")   # 2 clips side by side, VAE-decoded real above generated
    assert video.shape == (1 + 4 * 4, 2 * 32, 2 * 32, 3)              # 5 latent frames of 4x4 -> 17 of 32x32
    with torch.no_grad():
        real = decode(stage.model.eval(), ClipBank.load(val).tensors["latents"].float())   # (2, 17, 32, 32, 3)
    top = video[:, :32].astype(float)                   # lossy-coded: near the real clips, in their order
    in_order, swapped = (abs(top - np.concatenate(list(clips), axis=2)).mean() for clips in (real, real[::-1]))
    assert in_order < 0.7 * swapped, (in_order, swapped)


def test_a_time_budget_ends_the_run_early_checkpointed_and_resumable(tmp_path, tiny_bank, tiny_config, monkeypatch):
    """loop.max_seconds: the run stops once its wall-clock budget is spent (long before
    loop.steps), writes its checkpoint, and a resumed run with the same budget has none left."""
    import time

    cfg = tiny_config(tmp_path / "run", steps=100_000, loop={"max_seconds": 0.5})
    stage_step = AdaptStage.train_step

    def slow_step(self, batch, step):                 # 0.1 s a step: ~5 steps fit the budget
        time.sleep(0.1)
        return stage_step(self, batch, step)
    monkeypatch.setattr(AdaptStage, "train_step", slow_step)
    history = run_adapt(cfg, tiny_bank())
    assert 2 <= len(history) <= 8, len(history)
    state = json.loads((tmp_path / "run" / "checkpoints" / f"step_{len(history):08d}" / "state.json").read_text())
    assert state["elapsed_s"] >= 0.5
    assert run_adapt(cfg, tiny_bank()) == []          # resumed: the budget is already spent


def test_cosine_schedule_decays_the_learning_rate_to_its_final_fraction(tmp_path, tiny_bank, tiny_config):
    from worldsim.train.loop import schedule_factor

    cfg = tiny_config(tmp_path / "run", steps=10, optim={"schedule": "cosine", "final_lr_fraction": 0.1})
    assert schedule_factor(cfg.optim, 0.0) == pytest.approx(1.0)
    assert schedule_factor(cfg.optim, 0.5) == pytest.approx(0.55)
    assert schedule_factor(cfg.optim, 1.0) == pytest.approx(0.1)
    ctx = StepContext.from_config(cfg)
    stage = AdaptStage(cfg, ctx)
    train(stage, ClipReader(tiny_bank(), 4, 0), cfg, ctx)
    group = stage.optimizers["adamw"].param_groups[0]
    assert group["lr"] == pytest.approx(cfg.optim.lr * schedule_factor(cfg.optim, 0.9))   # the last step's lr


def test_recycle_warp_on_clips_without_a_camera_is_one_clear_error(tmp_path, tiny_bank, capsys):
    from worldsim.cli import main
    bank = tmp_path / "bank.safetensors"
    tiny_bank().save(bank)
    (tmp_path / "adapt.toml").write_text(f"""
[model]
preset = "tiny"
recycle_warp = true
[data]
path = "{bank}"
batch_size = 2
[loop]
steps = 1
out_dir = "{tmp_path / 'run'}"
device = "cpu"
progress = false
tensorboard = false
""")
    assert main(["train", "adapt", "--config", str(tmp_path / "adapt.toml")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("worldsim: error: model.recycle_warp: the recycled-latent warp needs camera controls; "
                          "these clips carry none") and len(err.splitlines()) == 1


def test_own_rollout_with_enough_passes_is_the_free_rollout_play_makes():
    """F - 1 passes of own predictions equal stepping the model frame by frame with its KV cache,
    as play does (t = 1 from the same noise); one pass is the one-step prediction from the truth."""
    from worldsim.config import model_preset, replace_generator
    from worldsim.models.generator import Generator
    from worldsim.train.adapt import free_rollout, own_rollout
    torch.manual_seed(0)
    gen = Generator(replace_generator(model_preset("tiny"), control_channels=5).generator)
    gen.init_weights(zero_init=False)
    gen.eval()
    b, f, hw = 2, 2 * gen.cfg.window + 1, (4, 4)                    # past the window: the ring turns
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(b, f, gen.cfg.latent_channels, *hw, generator=g)
    controls = torch.randn(b, f, 5, *hw, generator=g)
    text = torch.randn(b, 8, gen.cfg.text_dim, generator=g)
    noise = torch.randn(b, f, gen.cfg.latent_channels, *hw, generator=g)
    gen.setup_cache(b, hw, 8)
    with torch.no_grad():
        gen.start(x0[:, 0], text)
        free = torch.stack([x0[:, 0]] + [gen.step(controls[:, i], noise[:, i]) for i in range(1, f)], dim=1)
    torch.testing.assert_close(own_rollout(gen, x0, controls, text, noise, f - 1), free, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(free_rollout(gen, x0[:, 0], controls, text, noise), free)    # own_passes = -1
    one = own_rollout(gen, x0, controls, text, noise, 1)
    torch.testing.assert_close(one[:, :2], free[:, :2], rtol=1e-5, atol=1e-5)   # frame 1: truth-recycled, as play
    assert not torch.allclose(one[:, 2:], free[:, 2:], atol=1e-3)              # later frames: one step from the truth


@pytest.mark.parametrize("passes", [2, -1])
def test_adapt_on_own_predictions_lowers_the_loss(tmp_path, tiny_bank, tiny_config, passes):
    """Recycling its own predictions is the harder task (the first steps' predictions are noise), so
    the loss falls more slowly than teacher-forced (2.0 -> 1.45 in 60 steps here, where teacher
    forcing is under 0.7x by 50), but it falls; -1: from the free rollout through the KV cache."""
    cfg = tiny_config(tmp_path / "run", steps=60, adapt={"text_dropout": 0.0, "own_passes": passes, "own_fraction": 1.0})
    losses = [r["loss"] for r in run_adapt(cfg, tiny_bank())]
    assert sum(losses[-8:]) / 8 < 0.8 * sum(losses[:8]) / 8, losses


def test_which_steps_recycle_own_predictions_depends_on_the_step_and_seed_alone():
    """Every rank of a sharded run (each with its own torch seed) must make the same choice, or the
    ranks' extra forward passes gather weights out of step; a resumed run makes the same choices."""
    from worldsim.train.adapt import own_predictions_at
    torch.manual_seed(1)
    first = [own_predictions_at(s, 0.5, seed=0) for s in range(400)]
    torch.manual_seed(2)                                  # another rank's global RNG state
    assert [own_predictions_at(s, 0.5, seed=0) for s in range(400)] == first
    assert 0.4 < sum(first) / 400 < 0.6
    assert not any(own_predictions_at(s, 0.0, 0) for s in range(50)) and all(own_predictions_at(s, 1.0, 0) for s in range(50))


def test_motion_weights_favour_the_frames_where_the_world_changes():
    from worldsim.train.adapt import motion_weights
    x0 = torch.zeros(2, 4, 3, 2, 2)
    x0[0, 2:] = 1.0                                      # clip 0: a jump at frame 2; clip 1: still
    assert torch.equal(motion_weights(x0, 0.0), torch.ones(2, 3))
    w = motion_weights(x0, 3.0)
    assert w.shape == (2, 3) and torch.isclose(w.mean(), torch.tensor(1.0))
    assert w[0, 1] > w[0, 0] == w[0, 2] == w[1, 0]       # the changing frame weighs most, the rest alike
    assert torch.isclose(w[0, 1] / w[0, 0], torch.tensor(1 + 3.0 * 6))   # its change is 6x the batch mean


def test_adapt_with_motion_weights_lowers_the_loss(tmp_path, tiny_bank, tiny_config):
    cfg = tiny_config(tmp_path / "run", steps=50, adapt={"text_dropout": 0.0, "motion_weight": 2.0})
    losses = [r["loss"] for r in run_adapt(cfg, tiny_bank())]
    assert sum(losses[-8:]) / 8 < 0.7 * sum(losses[:8]) / 8, losses


def test_profiled_steps_write_where_a_training_step_s_time_goes(tmp_path, tiny_bank, tiny_config, capsys):
    cfg = tiny_config(tmp_path / "run", steps=6, loop={"profile_steps": 2, "profile_start": 3})
    history = run_adapt(cfg, tiny_bank())
    table = (tmp_path / "run" / "profile.txt").read_text()
    assert "Self CPU" in table and "aten::" in table                  # the step's operators, by self CPU time
    assert "adapt: profiled steps 3-4" in capsys.readouterr().out
    assert all(r["data_s"] >= 0 for r in history) and len(history) == 6


def test_a_run_that_ends_inside_the_profiled_steps_writes_no_table(tmp_path, tiny_bank, tiny_config):
    cfg = tiny_config(tmp_path / "run", steps=4, loop={"profile_steps": 5, "profile_start": 2})
    assert len(run_adapt(cfg, tiny_bank())) == 4 and not (tmp_path / "run" / "profile.txt").exists()
