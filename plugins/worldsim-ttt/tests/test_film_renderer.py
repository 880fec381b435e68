"""`ttt-film`: the long-form model as an offline renderer (tiny preset, random weights, CPU).

A 2-segment film of 1 s at the tiny model's 32x32, 24 fps: 2 segments of 0.5 s = 4 latent frames =
13 video frames each, 26 in all; the steps show 1 + 4 * 6 = 25 of them (the last frame does not
fill a step)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from worldsim.rendering import RendererError, check_renderer
from worldsim.testing import renderer_registry  # noqa: F401  (fixture)
from worldsim_ttt.film_renderer import DEFAULT_CAPTION, FilmRenderer
from worldsim_ttt.render import decode_film, latent_frames, sample_film
from worldsim_ttt.storyboard import Scene, model_segments

OPTIONS = {"preset": "tiny", "seconds": 1.0, "seconds_per_segment": 0.5, "steps": 2, "cfg": 3.0}
PROMPT = "runs forward over golden meadows at noon"


@pytest.fixture(scope="module")
def renderer():
    return FilmRenderer(**OPTIONS)


def reference_film(model, prompt: str, seed: int) -> np.ndarray:
    """The film `worldsim ttt render --seed SEED` makes of a one-scene storyboard, by hand."""
    segments = model_segments([Scene(prompt, OPTIONS["seconds"])], OPTIONS["seconds_per_segment"], seed)
    cfg = model.base.cfg
    latents = sample_film(model, [p for p, _ in segments], [s for _, s in segments],
                          latent_frames(OPTIONS["seconds_per_segment"], cfg.fps), (cfg.height // 8, cfg.width // 8),
                          OPTIONS["steps"], 5.5, OPTIONS["cfg"])
    return decode_film(model, latents)


def play(renderer, states, steps):
    """`steps` batched steps of all `states`, each with its empty packets; frames per session."""
    out = [[] for _ in states]
    for i in range(steps):
        n = renderer.spec.frames_for_step(i)
        for got, frames in zip(out, renderer.step(states, [[{}] * n for _ in states])):
            got.append(frames)
    return [np.concatenate(f) for f in out]


def test_the_steps_play_the_film_ttt_render_makes_and_two_seeds_get_their_own(renderer):
    spec = renderer.spec
    assert spec.name == "ttt-film" and spec.control_kinds == {} and (spec.width, spec.height) == (32, 32)
    assert spec.info["offline"] is True and spec.info["film_frames"] == 26 and spec.info["preset"] == "tiny"
    a, b = renderer.open(3, PROMPT), renderer.open(4, PROMPT)
    got_a, got_b = play(renderer, [a, b], 7)                                   # one batch, two sessions
    want_a, want_b = reference_film(renderer.model, PROMPT, 3), reference_film(renderer.model, PROMPT, 4)
    assert want_a.shape == (26, 32, 32, 3) and got_a.shape == (25, 32, 32, 3) and got_a.dtype == np.uint8
    assert np.array_equal(got_a, want_a[:25]) and np.array_equal(got_b, want_b[:25])   # frame for frame
    assert not np.array_equal(got_a, got_b)
    with pytest.raises(RendererError) as ended:                               # past the end: b alone
        renderer.step([a, b], [[{}] * 4, [{}] * 4])
    assert ended.value.index == 0 and str(ended.value) == "the film has ended after 25 frames"
    assert a.shown == b.shown == 25                                           # nothing stepped


def test_an_empty_prompt_is_the_default_caption_and_a_toml_prompt_a_storyboard(renderer, tmp_path):
    assert renderer.scenes("") == [Scene(DEFAULT_CAPTION, 1.0)]
    board = '[[segment]]\ntext = "through a pine forest at dawn"\nseconds = 0.5\ncamera = ["walk"]\n'
    assert renderer.scenes(board) == [Scene("through a pine forest at dawn", 0.5, None, ("walk",))]
    state = renderer.open(0, board)
    assert state.frames.shape[0] == 13 and state.playable == 13
    path = tmp_path / "board.toml"                       # a path is a caption, never a file the worker reads
    path.write_text(board)
    assert renderer.scenes(str(path)) == [Scene(str(path), 1.0)]
    with pytest.raises(RendererError, match="the prompt's storyboard: not valid TOML"):
        renderer.open(0, "[[segment]]\ntext = ")
    with pytest.raises(RendererError, match="seconds must be a positive number"):
        renderer.open(0, '[[segment]]\ntext = "x"\nseconds = 0\n')


def test_the_protocol_checker_and_bad_requests(renderer):
    check_renderer(renderer, steps=3)
    with pytest.raises(RendererError, match="takes no controls"):
        renderer.open(0, "", None, ["camera"])
    state = renderer.open(0)
    with pytest.raises(RendererError, match="step 0 takes 1 packets, got 4") as err:
        renderer.step([state], [[{}] * 4])
    assert err.value.index == 0 and state.shown == 0


@pytest.mark.parametrize("options, message", [
    ({}, "needs checkpoint= .* or preset="),
    ({"preset": "tiny", "checkpoint": "x"}, "not both"),
    ({"checkpoint": "/no/such/ckpt"}, "checkpoint /no/such/ckpt: no such folder"),
    ({"preset": "tiny", "seconds": 0}, "seconds must be a positive number, got 0"),
    ({"preset": "tiny", "seconds_per_segment": -1.0}, "seconds_per_segment must be a positive number"),
    ({"preset": "tiny", "steps": 0}, "steps must be a positive int"),
    ({"preset": "huge"}, "ttt-film: "),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(ValueError, match=message) as err:
        FilmRenderer(**options)
    assert "\n" not in str(err.value)


def test_served_by_a_real_worker_over_zmq(renderer):
    from worldsim.runtime.client import Client
    from worldsim.runtime.process import local_address
    from worldsim.runtime.worker import Worker

    worker = Worker(local_address(), {"ttt-film": renderer})
    thread = threading.Thread(target=worker.serve, daemon=True)
    worker.start_io()
    thread.start()
    client = Client.connect(worker.address)
    try:
        assert client.welcome["specs"]["ttt-film"]["info"]["offline"] is True
        session = client.open("ttt-film", seed=5, prompt=PROMPT)
        frames = []
        for i in range(7):
            result = client.step(session, i, [{}] * session.spec.frames_for_step(i))
            assert result.error is None, result.error
            frames.append(result.frames)
        assert np.array_equal(np.concatenate(frames), reference_film(renderer.model, PROMPT, 5)[:25])
        ended = client.step(session, 7, [{}] * 4)
        assert ended.error.code == "bad_request" and "the film has ended after 25 frames" in str(ended.error)
        camera = client.submit_step(session, 7, [{"camera": {"c2w": [0.0] * 16}}] * 4)
        assert "expected []" in str(_result(client, camera).error)               # no controls taken
    finally:
        client.shutdown()
        worker.stop()
        thread.join(5)


def _result(client, rid):
    while True:
        for r in client.poll(5.0):
            if r.rid == rid:
                return r


def test_worldsim_open_drives_it_with_no_controls(renderer_registry):
    import worldsim
    renderer_registry("ttt-film", FilmRenderer)      # as the pyproject's entry point, without installing
    with worldsim.open("ttt-film", in_process=True, seed=3, renderer_options=OPTIONS) as world:
        frames = np.concatenate([world.step()] + [world.step({"move_forward": 1.0}) for _ in range(6)])
        assert world.kinds == [] and world.last_packets == [{}] * 4
        with pytest.raises(worldsim.WorldsimUserError, match="the film has ended after 25 frames"):
            world.step()
    renderer = FilmRenderer(**OPTIONS)                 # same weights (seeded init): the same film
    assert np.array_equal(frames, reference_film(renderer.model, DEFAULT_CAPTION, 3)[:25])
