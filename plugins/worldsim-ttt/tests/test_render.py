"""Storyboards and `worldsim ttt render` end to end on the CPU (tiny preset, random weights)."""
from __future__ import annotations

from pathlib import Path

import pytest

from worldsim_ttt.render import scene_frames
from worldsim_ttt.storyboard import MAX_SCENES, load_storyboard, model_segments

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
GOOD = """
[[segment]]
text = "through a pine forest at dawn"
seconds = 0.5
camera = ["walk", "turn_left"]
[[segment]]
text = "over golden meadows at noon"
seconds = 1.0
seed = 4
"""


def write(tmp_path, text, name="board.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_parse_and_split_into_model_segments(tmp_path):
    scenes = load_storyboard(write(tmp_path, GOOD))
    assert scenes[0].prompt == "walks forward through a pine forest at dawn, then turns left"
    assert model_segments(scenes, 0.5, base_seed=10) == [(scenes[0].prompt, 10_000),
                                                          ("over golden meadows at noon", 4000),
                                                          ("over golden meadows at noon", 4001)]


@pytest.mark.parametrize("name", ["alpine_day", "autumn_journey"])
def test_examples(name):
    scenes = load_storyboard(EXAMPLES / f"{name}.toml")
    assert len(scenes) >= 8 and sum(s.seconds for s in scenes) >= 30


BAD = {
    "no such storyboard file": None,
    "not valid TOML": "[[segment]\ntext = 1",
    "segment 2: missing text": '[[segment]]\ntext = "a"\nseconds = 1\n[[segment]]\nseconds = 1',
    "seconds must be a positive number, got 0": '[[segment]]\ntext = "a"\nseconds = 0',
    "seconds must be a positive number, got -2": '[[segment]]\ntext = "a"\nseconds = -2',
    f"at most {MAX_SCENES}": '[[segment]]\ntext = "a"\nseconds = 1\n' * (MAX_SCENES + 1),
    "unknown camera move 'fly'": '[[segment]]\ntext = "a"\nseconds = 1\ncamera = ["fly"]',
    "place must be a non-empty name, got 3": '[[segment]]\ntext = "a"\nseconds = 1\nplace = 3',
    "needs at least one [[segment]]": "",
}


@pytest.mark.parametrize("message", list(BAD))
def test_bad_storyboards_are_one_line_errors(cli, tmp_path, capsys, message):
    path = tmp_path / "missing.toml" if BAD[message] is None else write(tmp_path, BAD[message])
    assert cli(["ttt", "render", str(path), "-o", str(tmp_path / "f.mp4"), "--preset", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("worldsim: error: ") and message in err, err
    assert not (tmp_path / "f.mp4").exists()


def test_render_writes_the_film(cli, tmp_path, capsys):
    from worldsim.render.video import read_video

    out = tmp_path / "film.mp4"
    assert cli(["ttt", "render", str(write(tmp_path, GOOD)), "-o", str(out), "--preset", "tiny",
                "--steps", "2", "--cfg", "3", "--seconds-per-segment", "0.5"]) == 0
    frames = read_video(out)
    # 3 model segments of 0.5 s at 24 fps: 4 latent frames -> 13 video frames each, 32x32 (tiny)
    assert frames.shape == (3 * 13, 32, 32, 3)
    # `worldsim ttt agreement` cuts a film into scenes by the same count: 13 + 26 frames
    assert scene_frames(load_storyboard(tmp_path / "board.toml"), 0.5, 24) == [13, 26]
    assert f"{out}: 39 frames 32x32" in capsys.readouterr().out


def test_attention_local_bypasses_the_ttt_layers(cli, tmp_path, monkeypatch):
    """`--attention local` renders the same model with its TTT layers bypassed: the film differs from
    the TTT one and equals the film of the same model with every TTT gate at 0 (segment-local attention)."""
    import worldsim_ttt.longform as longform
    from worldsim.render.video import read_video

    build, gates = longform.build_longform, {"value": 0.1}

    def live(*args, **kw):                  # random weights with every path live (tiny zero-inits its output)
        model = build(*args, **{**kw, "zero_init": False})
        model.set_gates(gates["value"])
        return model

    monkeypatch.setattr(longform, "build_longform", live)
    board = write(tmp_path, GOOD)

    def film(name, *extra):
        out = tmp_path / f"{name}.mp4"
        assert cli(["ttt", "render", str(board), "-o", str(out), "--preset", "tiny", "--steps", "2",
                    "--seconds-per-segment", "0.5", *extra]) == 0
        return read_video(out)

    ttt, local = film("ttt"), film("local", "--attention", "local")
    gates["value"] = 0.0
    closed = film("closed")
    assert ttt.shape == local.shape == (3 * 13, 32, 32, 3)
    assert (ttt != local).any()
    assert (local == closed).all()


def test_cuda_without_a_gpu_is_a_one_line_error(cli, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli(["ttt", "render", str(write(tmp_path, GOOD)), "-o", str(tmp_path / "f.mp4"), "--preset", "tiny",
                "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no CUDA GPU here" in err, err


def test_guided_sampling_in_one_batch_equals_two_forwards():
    """`sample_film` runs the conditional and unconditional passes as one forward of batch 2; every
    Euler step must equal v_u + g (v_c - v_u) from two separate forwards (batch rows are independent:
    the TTT scan, the segment attention and the norms never mix films)."""
    import torch

    from worldsim.train.adapt import shift
    from worldsim_ttt.longform import build_longform
    from worldsim_ttt.render import sample_film

    model = build_longform("tiny", zero_init=False).eval()
    model.set_gates(0.5)
    prompts, seeds, frames, hw, steps, g = ["a forest at dawn", "a meadow at noon"], [3, 4], 2, (4, 4), 3, 4.0
    got = sample_film(model, prompts, seeds, frames, hw, steps=steps, guidance=g)

    gen = model.base.generator
    x = torch.stack([torch.randn((frames, gen.cfg.latent_channels, *hw), generator=torch.Generator().manual_seed(s))
                     for s in seeds])[None]
    cond, uncond = model.base.text_encoder(prompts)[None], model.base.text_encoder([""] * 2)[None]
    grid = shift(torch.linspace(1.0, 0.0, steps + 1), 5.5).tolist()
    with torch.no_grad():
        for t_now, t_next in zip(grid[:-1], grid[1:]):
            t = torch.full((1,), t_now)
            v_c, v_u = model(x, t, cond).float(), model(x, t, uncond).float()
            x = x + (t_next - t_now) * (v_u + g * (v_c - v_u))
    assert got.shape == x.shape
    torch.testing.assert_close(got, x, rtol=1e-4, atol=1e-5)
    assert (got - sample_film(model, prompts, seeds, frames, hw, steps=steps, guidance=1.0)).abs().max() > 1e-3
