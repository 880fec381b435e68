"""Truth-anchored long-video training: long banks (walks with their true frames for the whole
rollout), segments regressed onto the true frames at their positions, one error line when the
bank is shorter than the rollout."""
import pytest
import torch

from worldsim.config import model_preset, replace_generator
from worldsim.models.model import build_model
from worldsim.train.__main__ import main as train_main
from worldsim.train.adversarial import AdversarialStage
from worldsim.train.bank import BankSpec, build_bank
from worldsim.train.config import ConfigError
from worldsim.train.data import ClipBank, ClipReader
from worldsim.train.long_video import LongPlan
from worldsim.train.loop import StepContext, train


def tiny_model(seed):
    return build_model(replace_generator(model_preset("tiny"), control_channels=0), seed=seed,
                       zero_init=False).train()


def long_stage(tmp_path, tiny_config, steps, weight, **adversarial):
    cfg = tiny_config(tmp_path, "adversarial", steps=steps, data={"batch_size": 4},
                      adversarial={"g_lr": 3e-4, "r_lambda": 0.0, "regression_weight": weight, "long_frames": 9,
                                   "segment_frames": 5, "segment_overlap": 1, **adversarial})
    ctx = StepContext.from_config(cfg)
    return AdversarialStage(cfg, ctx, generator=tiny_model(1), discriminator_init=tiny_model(2)), cfg, ctx


def test_the_anchor_pulls_every_segment_of_the_long_rollout_towards_the_true_walk(tmp_path, tiny_bank, tiny_config):
    """Clips of 9 latent frames cover a 9-frame rollout in two segments (past the tiny window of 3):
    with the anchor the rollout's error to the truth falls, and ends below a run without it."""
    bank = tiny_bank(clips=8, frames=9)

    def regression(weight):
        stage, cfg, ctx = long_stage(tmp_path / str(weight), tiny_config, 30, weight)
        history = train(stage, ClipReader(bank, 4, 0), cfg, ctx)
        assert all(r["segments"] == 2 for r in history)
        return [r["g_regression"] for r in history]
    anchored, free = regression(100.0), regression(0.0)
    assert sum(anchored[-5:]) < 0.85 * sum(anchored[:5]), anchored
    assert sum(anchored[-5:]) < 0.9 * sum(free[-5:]), (anchored, free)


def test_a_long_bank_rollout_follows_the_clips_own_controls_and_d_sees_the_true_segments(tmp_path, tiny_bank,
                                                                                     tiny_config):
    stage, _, _ = long_stage(tmp_path, tiny_config, 1, 10.0)
    batch = next(iter(ClipReader(tiny_bank(clips=8, frames=12), 4, 0)))       # clips longer than the rollout
    real, seen = batch["latents"].float(), []
    judge = stage.discriminator.forward
    stage.discriminator.forward = lambda clip, ctrl, *a: seen.append(clip.detach().clone()) or judge(clip, ctrl, *a)
    out = stage.train_step(batch, 0)
    # D step, per segment: real, fake (no R1/R2); segments [0, 5) and [4, 9)
    torch.testing.assert_close(seen[0], real[:, 0:5])
    torch.testing.assert_close(seen[2], real[:, 4:9])
    assert seen[3].shape == seen[2].shape
    assert out["segments"] == 2 and out["g_regression"] > 0


def test_an_anchor_on_a_bank_shorter_than_the_rollout_is_one_config_error(tmp_path, tiny_bank, tiny_config, capsys):
    section = tiny_config(tmp_path, "adversarial", adversarial={"regression_weight": 10.0, "long_frames": 9}).adversarial
    with pytest.raises(ConfigError, match="5 latent frames, long_frames is 9"):
        LongPlan.of(section, 5)
    assert LongPlan.of(section, 9).truth
    section.regression_weight = 0.0
    assert not LongPlan.of(section, 5).truth                                   # short bank, no anchor: as before
    bank = tmp_path / "short.safetensors"
    tiny_bank(clips=8, frames=5).save(bank)
    config = tmp_path / "adv.toml"
    config.write_text(f'stage = "adversarial"\n[model]\npreset = "tiny"\n[data]\npath = "{bank}"\n'
                      f'[loop]\ndevice = "cpu"\nout_dir = "{tmp_path / "run"}"\n'
                      '[adversarial]\nregression_weight = 10.0\nlong_frames = 9\n')
    assert train_main(["adversarial", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "regression_weight" in err and "--frames 33" in err, err
    assert not (tmp_path / "run").exists()                                     # refused before any training


def test_a_long_bank_walk_extends_the_short_walk_of_the_same_player(tmp_path):
    """60-s banks are the same walks, longer: a 41-frame walk (11 latent frames) starts with the
    9-frame walk of the same world and player seed."""
    short = build_bank([5], BankSpec(width=32, height=32, frames=9, clips_per_seed=1, camera="od"))
    vae = build_model(replace_generator(model_preset("tiny"), control_channels=0)).vae.eval()
    long = build_bank([5], BankSpec(width=32, height=32, frames=41, clips_per_seed=1, camera="od"), vae)
    assert long.tensors["latents"].shape == (1, 11, 16, 4, 4)
    assert long.tensors["controls"].shape == (1, 11, 25, 4, 4)
    assert torch.equal(long.tensors["video"][:, :, :9], short.tensors["video"])
    assert torch.equal(long.tensors["c2w"][:, :9], short.tensors["c2w"])
    long.save(tmp_path / "long.safetensors")
    assert ClipBank.load(tmp_path / "long.safetensors").info["frames"] == 41
