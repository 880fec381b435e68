"""Hooks into a game's own loop: per-step callbacks, and drawing frames in the game's own OpenGL context."""
from __future__ import annotations

import numpy as np
import pytest

import worldsim


@pytest.fixture
def world():
    with worldsim.open("testpattern", size=(64, 48), in_process=True) as w:
        yield w


def test_on_step_callbacks_see_every_step_until_removed(world):
    seen = []
    remove = world.on_step(lambda w, frames: seen.append((w.steps, frames.shape, int(frames.sum()))))
    first = world.step({"look_dx": 2.0})
    second = world.step({"look_dx": 2.0})
    assert [s[:2] for s in seen] == [(1, first.shape), (2, second.shape)]
    assert seen[1][2] == int(second.sum())                    # the frames step returns
    remove()
    remove()                                                  # removing twice is harmless
    world.step()
    assert len(seen) == 2


def test_a_raising_callback_stops_that_step_and_a_non_callable_is_refused(world):
    def boom(w, frames):
        raise RuntimeError("my HUD broke")
    world.on_step(boom)
    with pytest.raises(RuntimeError, match="my HUD broke"):
        world.step()
    with pytest.raises(worldsim.WorldsimUserError, match="on_step takes a callable"):
        world.on_step("not a function")


def test_frames_draw_into_the_games_own_opengl_context(world):
    from worldsim.render.gl_pipeline import FramePipeline
    from worldsim.render.headless import HeadlessUnavailableError, create_offscreen_context
    try:
        ctx = create_offscreen_context()                      # stands in for the game's own context
    except HeadlessUnavailableError as err:
        pytest.skip(str(err))
    fbo = ctx.simple_framebuffer((64, 48))                    # the game's own render target
    fbo.use()
    pipeline = FramePipeline(ctx, filter="nearest")
    frame = world.step({"look_dx": 3.0})[-1]
    pipeline.upload_frame(frame)
    pipeline.draw((64, 48), show_hud=False)
    pixels = pipeline.read(fbo, (64, 48))
    assert np.array_equal(pixels, frame)                      # 1:1, top row first
    pipeline.release()
    ctx.release()
