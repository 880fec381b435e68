"""Long-video training: segments against a detached cache reproduce the rollout; stage 3 runs on them."""
import pytest
import torch

from worldsim.config import model_preset, replace_generator
from worldsim.models.model import build_model
from worldsim.train.adversarial import AdversarialStage
from worldsim.train.data import ClipReader
from worldsim.train.long_video import LongRollout, extend_controls, segment_bounds
from worldsim.train.loop import StepContext, train


def tiny_model(seed, controls=0):
    return build_model(replace_generator(model_preset("tiny"), control_channels=controls), seed=seed,
                       zero_init=False).train()


def test_segments_overlap_and_cover_the_video():
    assert segment_bounds(13, 5, 1) == [(0, 1, 5), (4, 5, 9), (8, 9, 13)]
    assert segment_bounds(14, 5, 2) == [(0, 1, 5), (3, 5, 8), (6, 8, 11), (9, 11, 14)]
    with pytest.raises(ValueError, match="segment_overlap"):
        segment_bounds(13, 5, 5)


def test_extended_controls_append_other_clips_walks():
    controls = torch.arange(3.0)[:, None, None, None, None] + torch.zeros(3, 4, 2, 1, 1)
    controls[:, :, 1] = torch.arange(4.0)[None, :, None, None]          # channel 1: the frame index
    long = extend_controls(controls, 10)
    assert long.shape == (3, 10, 2, 1, 1)
    assert torch.equal(long[:, :4], controls)
    assert long[0, 4, 0] == 2 and long[0, 4, 1] == 1                     # clip 2's frame 1 follows clip 0


def test_segment_frames_equal_the_rollout_and_gradients_stop_at_the_segment(tiny_bank):
    model = tiny_model(0, controls=3)
    gen = model.generator                                               # window 3: segments run past it
    real = tiny_bank().tensors["latents"][:2]                           # (2, 5, 16, 4, 4)
    g = torch.Generator().manual_seed(0)
    controls = torch.randn(2, 5, 3, 4, 4, generator=g)
    text = model.text_encoder(["a", "b"])
    eps = torch.randn(2, 13, 16, 4, 4, generator=g)
    video = LongRollout.run(gen, real[:, 0], extend_controls(controls, 13), text.detach(), eps, 5, 1)
    assert [(s.context, s.start, s.end) for s in video.segments] == [(0, 1, 5), (4, 5, 9), (8, 9, 13)]
    params = [gen.patch_embed.weight] + [p for n, p in gen.named_parameters() if n != "patch_embed.weight"]
    for seg in video.segments:
        fake = video.fake(gen, seg, text)
        torch.testing.assert_close(fake, video.frames[:, seg.context:seg.end], atol=1e-5, rtol=1e-4)
        grads = torch.autograd.grad(fake[:, -1].pow(2).mean(), params, retain_graph=True, allow_unused=True)
        assert grads[0] is not None and grads[0].abs().sum() > 0            # patch_embed.weight learns
        context = torch.autograd.grad(fake[:, 0].sum(), params, allow_unused=True)
        assert all(c is None or not c.any() for c in context)               # detached context frames
    assert all(not t.requires_grad for seg in video.segments for layer in seg.cache for t in layer)


def test_adversarial_long_video_training_runs_in_segments(tmp_path, tiny_bank, tiny_config):
    cfg = tiny_config(tmp_path, "adversarial", steps=12, data={"batch_size": 2},
                      adversarial={"d_lr": 1e-3, "g_lr": 1e-5, "r_lambda": 1.0, "long_frames": 9,
                                   "segment_overlap": 1})
    ctx = StepContext.from_config(cfg)
    stage = AdversarialStage(cfg, ctx, generator=tiny_model(1), discriminator_init=tiny_model(2))
    history = train(stage, ClipReader(tiny_bank(), 2, 0), cfg, ctx)
    assert all(r["segments"] == 2 for r in history)
    assert all(torch.isfinite(torch.tensor([r["g_loss"], r["d_loss"]])).all() for r in history)
    d = [r["d_loss"] for r in history]
    assert sum(d[-4:]) < sum(d[:4]), d
    assert all(0 <= r["d_real_first"] <= 1 and r["d_penalty"] >= 0 for r in history)   # the segments' mean


def test_rollout_and_segments_run_under_bf16_autocast(tiny_bank):
    """GPU training autocasts to bf16 while the model and its cache stay float32."""
    model = tiny_model(0)
    gen = model.generator
    real = tiny_bank().tensors["latents"][:2]
    controls = real.new_zeros(2, 5, 0, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        text = model.text_encoder(["a", "b"])
        video = LongRollout.run(gen, real[:, 0], extend_controls(controls, 9), text.detach(),
                                torch.randn(2, 9, 16, 4, 4), 5, 1)
        fake = video.fake(gen, video.segments[-1], text)
    torch.testing.assert_close(fake.float(), video.frames[:, 4:9].float(), atol=0.1, rtol=0.05)
