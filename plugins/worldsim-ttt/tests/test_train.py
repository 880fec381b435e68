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


TINY = ["--films", "3", "--scenes", "2", "--seconds-per-segment", "0.2", "--size", "16x16", "--batch", "2"]


def test_resume_goes_on_exactly(tmp_path, capsys):
    from safetensors.torch import load_file

    assert main(["--preset", "tiny", *TINY, "--steps", "4", "--out", str(tmp_path / "once")]) == 0
    assert main(["--preset", "tiny", *TINY, "--steps", "2", "--out", str(tmp_path / "half")]) == 0
    assert main(["--resume", str(tmp_path / "half"), *TINY, "--steps", "4", "--out", str(tmp_path / "again")]) == 0
    for name in ("model.safetensors", "ttt.safetensors", "train_state.safetensors"):
        once, again = load_file(tmp_path / "once" / name), load_file(tmp_path / "again" / name)
        assert once.keys() == again.keys() and all(torch.equal(once[k], again[k]) for k in once), name
    assert '"step": 4' in (tmp_path / "again" / "train_state.json").read_text()
    state = tmp_path / "half" / "train_state.safetensors"                 # truncated: one line, not a traceback
    state.write_bytes(state.read_bytes()[:100])
    capsys.readouterr()
    assert main(["--resume", str(tmp_path / "half"), *TINY, "--steps", "4", "--out", str(tmp_path / "third")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unreadable training state" in err, err


def test_minutes_bound_the_loop_and_films_render_in_workers(tmp_path, capsys):
    out = tmp_path / "ttt"
    assert main(["--preset", "tiny", *TINY, "--workers", "2", "--minutes", "0.002", "--out", str(out)]) == 0
    text = capsys.readouterr().out                                          # no --steps: the clock ends it
    assert "long-form checkpoint at step" in text and (out / "train_state.json").is_file()


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    for argv in (["--preset", "tiny", "--minutes", "0"], ["--preset", "tiny", "--batch", "-1"],
                 ["--preset", "tiny", "--workers", "-2"], ["--resume", str(tmp_path)],
                 ["--preset", "tiny", "--size", "12x16"]):
        assert main([*argv, "--steps", "1", "--out", str(tmp_path / "x")]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
