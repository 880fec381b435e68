import json

import torch

from worldsim.cli import main
from worldsim.models.checkpoint import load_checkpoint
from worldsim.train.data import ClipBank, ClipReader
from worldsim.train.loop import StepContext, train
from worldsim.train.vae import VAEStage


def moving_squares(clips=4, frames=5, size=32, seed=0) -> ClipBank:
    """uint8 clips (N, 3, 5, 32, 32): a coloured square sliding over a gradient."""
    gen = torch.Generator().manual_seed(seed)
    video = torch.zeros(clips, 3, frames, size, size)
    ramp = torch.linspace(0, 1, size)
    for n in range(clips):
        colour = torch.rand(3, generator=gen)
        video[n] = 0.5 * ramp[None, None, None, :]
        for i in range(frames):
            x = 4 + 3 * i + n
            video[n, :, i, 8:18, x:x + 10] = colour[:, None, None]
    return ClipBank({"video": (video * 255).round().to(torch.uint8)})


def test_vae_reconstruction_and_light_decoder_losses_fall(tmp_path, tiny_config):
    cfg = tiny_config(tmp_path, "vae", steps=25, data={"batch_size": 2})
    ctx = StepContext.from_config(cfg)
    history = train(VAEStage(cfg, ctx), ClipReader(moving_squares(), 2, 0), cfg, ctx)
    losses = [r["loss"] for r in history]
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5]), losses
    light = [r["light_loss"] for r in history]                   # the play decoder follows the full one
    assert sum(light[-5:]) < 0.5 * sum(light[:5]), light


def test_cli_trains_resumes_and_exports_a_playable_checkpoint(tmp_path, tiny_bank, capsys):
    tiny_bank().save(tmp_path / "clips.safetensors")
    (tmp_path / "adapt.toml").write_text(f"""
[model]
preset = "tiny"
[data]
path = "{tmp_path / 'clips.safetensors'}"
batch_size = 4
[optim]
warmup_steps = 0
[loop]
steps = 3
out_dir = "{tmp_path / 'run'}"
log_every = 1
device = "cpu"
progress = false
tensorboard = false
""")
    assert main(["train", "adapt", "--config", str(tmp_path / "adapt.toml")]) == 0
    assert main(["train", "adapt", "--config", str(tmp_path / "adapt.toml"), "--steps", "5"]) == 0
    steps = [json.loads(x)["step"] for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]
    model, meta = load_checkpoint(tmp_path / "run" / "model")
    assert meta["trained_by"] == "worldsim train adapt" and model.cfg.name == "tiny"


def test_cli_errors_are_clear(tmp_path, capsys):
    (tmp_path / "a.toml").write_text("[data]\npath = 'missing.safetensors'\n[model]\npreset = 'tiny'\n")
    assert main(["train", "adapt", "--config", str(tmp_path / "a.toml")]) == 2
    assert "no clip bank" in capsys.readouterr().err
    ClipBank({"latents": torch.zeros(2, 3, 16, 4, 4)}).save(tmp_path / "lat.safetensors")
    (tmp_path / "v.toml").write_text(f"[data]\npath = '{tmp_path / 'lat.safetensors'}'\n")
    assert main(["train", "vae", "--config", str(tmp_path / "v.toml")]) == 2
    assert "lacks video" in capsys.readouterr().err


def test_sharpening_trains_only_the_play_decoder_and_brings_detail_back(tmp_path, tiny_config):
    """vae.train = light: from a trained VAE, the light decoder alone learns (encoder and full decoder keep their
    bits, so a generator trained on its latents still fits). With the detail term and the patch discriminator its
    frames come out sharper against the real ones (worldsim eval's detail ratio) than from the same steps of L1 + L2
    alone, which blur further."""
    from worldsim.eval.detail import ratio
    from worldsim.train.build import export_model
    bank = moving_squares(clips=4, frames=5)
    cfg = tiny_config(tmp_path / "vae", "vae", steps=60, data={"batch_size": 2})
    ctx = StepContext.from_config(cfg)
    stage = VAEStage(cfg, ctx)
    train(stage, ClipReader(bank, 2, 0), cfg, ctx)
    init = export_model(stage.model, tmp_path / "vae", "vae")

    def decoded_detail(model) -> list[float]:
        video = bank.tensors["video"].float() / 127.5 - 1
        with torch.no_grad():
            light = model.vae.light_decoder(model.vae.encoder(video).chunk(2, dim=1)[0])
        frames = lambda v: ((v.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 4, 1).numpy()
        return [ratio(frames(light), frames(video), s) for s in (1, 2)]

    def sharpen(name: str, **vae):
        cfg = tiny_config(tmp_path / name, "vae", steps=40, data={"batch_size": 2}, model={"init": str(init)},
                          vae={"train": "light", **vae})
        stage = VAEStage(cfg, ctx)
        return stage.model, train(stage, ClipReader(bank, 2, 0), cfg, ctx)

    before = load_checkpoint(init)[0]
    plain, _ = sharpen("plain")
    sharp, history = sharpen("sharp", detail_weight=4.0, adv_weight=0.05, adv_start=20)
    assert "g_adv" not in history[18] and "g_adv" in history[25] and 0 <= history[25]["d_real_first"] <= 1
    for name in ("encoder", "decoder"):                 # frozen: the same bits as the init's
        for a, b in zip(getattr(before.vae, name).parameters(), getattr(sharp.vae, name).parameters()):
            assert torch.equal(a, b)
    d_init, d_plain, d_sharp = decoded_detail(before), decoded_detail(plain), decoded_detail(sharp)
    assert all(s > max(i, p) for i, p, s in zip(d_init, d_plain, d_sharp)), (d_init, d_plain, d_sharp)
    assert history[-1]["detail"] < history[0]["detail"]


def test_sharpening_needs_a_trained_vae(tmp_path, tiny_config):
    import pytest
    from worldsim.train.config import ConfigError
    with pytest.raises(ConfigError, match="model.init"):
        tiny_config(tmp_path, "vae", vae={"train": "light"})
    with pytest.raises(ConfigError, match="vae.train must be all or light"):
        tiny_config(tmp_path, "vae", vae={"train": "decoder"})
    with pytest.raises(ConfigError, match="set vae.train = light"):          # would be ignored by a whole-VAE run
        tiny_config(tmp_path, "vae", vae={"detail_weight": 1.0})


def test_a_sharpened_checkpoint_keeps_its_generator_and_controls(tmp_path, capsys):
    """`worldsim train vae` with vae.train = light on a camera model's checkpoint: the exported model has the
    init's controls (a pixel bank has none) and generator bits, and plays."""
    from worldsim.config import model_preset, replace_generator
    from worldsim.controls.encoding import control_channels
    from worldsim.models.checkpoint import save_checkpoint
    from worldsim.models.model import build_model
    controls = {"camera": {"kind": "od"}}
    cfg = replace_generator(model_preset("tiny"), control_channels=control_channels(list(controls), controls))
    save_checkpoint(build_model(cfg, seed=0), tmp_path / "init", controls=controls, extra={"trained_clip_frames": 5})
    moving_squares().save(tmp_path / "px.safetensors")
    (tmp_path / "sharp.toml").write_text(f"""
[model]
preset = "tiny"
init = "{tmp_path / 'init'}"
[data]
path = "{tmp_path / 'px.safetensors'}"
batch_size = 2
[vae]
train = "light"
detail_weight = 1.0
adv_weight = 0.05
adv_start = 1
[loop]
steps = 3
out_dir = "{tmp_path / 'run'}"
device = "cpu"
progress = false
tensorboard = false
""")
    assert main(["train", "vae", "--config", str(tmp_path / "sharp.toml")]) == 0
    init, _ = load_checkpoint(tmp_path / "init")
    model, meta = load_checkpoint(tmp_path / "run" / "model")
    assert meta["controls"]["camera"]["kind"] == "od" and meta["trained_clip_frames"] == 5
    assert all(torch.equal(a, b) for a, b in zip(init.generator.parameters(), model.generator.parameters()))
    assert main(["play", "--renderer", "aapt", "--checkpoint", str(tmp_path / "run" / "model"), "--headless",
                 "--ticks", "4", "--size", "32x32"]) == 0
