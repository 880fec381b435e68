"""Multi-scene films from the reference world, and the fine-tuning stage on the CPU (tiny preset)."""
from __future__ import annotations

import torch

from worldsim_ttt.data import long_clip
from worldsim_ttt.longform import TTTConfig, build_longform
from worldsim_ttt.train import main, train_steps


def test_long_clip_changes_scene_with_a_caption_each():
    film = long_clip([3, 4], player_seed=1, frames=5, width=16, height=16)
    assert film.frames.shape == (2, 5, 16, 16, 3) and film.frames.dtype == torch.uint8
    assert len(film.captions) == 2 and film.captions[0] != film.captions[1]
    assert all(c.endswith(("in clear air", "in hazy air")) for c in film.captions)
    assert not torch.equal(film.frames[0], film.frames[1])


def test_loss_goes_down_on_a_fixed_batch():
    model = build_longform(preset="tiny", cfg=TTTConfig(mini_batch=32))     # 32 tokens: one scan step
    x0 = torch.randn(1, 2, 2, 16, 2, 2, generator=torch.Generator().manual_seed(0))
    prompts = [["walks forward at dawn", "turns left at noon"]]
    before = [p.detach().clone() for p in model.ttt.parameters()]
    losses = train_steps(model, x0, prompts, steps=20, lr=1e-3, fixed_noise=True)
    assert losses[-1] < 0.8 * losses[0], losses
    assert any(not torch.equal(a, p) for a, p in zip(before, model.ttt.parameters()))   # TTT layers train


def test_module_entry_trains_and_writes_a_checkpoint(tmp_path, capsys):
    out = tmp_path / "ttt"
    assert main(["--preset", "tiny", "--films", "1", "--scenes", "2", "--seconds-per-segment", "0.2",
                 "--size", "16x16", "--steps", "2", "--out", str(out)]) == 0
    assert (out / "ttt.safetensors").is_file() and (out / "config.json").is_file()
    assert "long-form checkpoint" in capsys.readouterr().out
    assert main(["--preset", "tiny", "--size", "15x16", "--steps", "1", "--out", str(out)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
