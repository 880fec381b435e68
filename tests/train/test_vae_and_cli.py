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
