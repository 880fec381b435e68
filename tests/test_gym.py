"""worldsim.gym: the Gymnasium environment over worldsim.open (docs/sdk.md)."""
from __future__ import annotations

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from worldsim.gym import ACTION_NAMES, ENV_ID, WorldEnv  # noqa: E402

KW = dict(renderer="testpattern", size=(64, 48), in_process=True)


def test_spaces_reset_step_truncation():
    env = WorldEnv(max_steps=3, **KW)
    try:
        assert env.observation_space.shape == (48, 64, 3) and env.action_space.shape == (len(ACTION_NAMES),)
        obs, info = env.reset(seed=2)
        assert obs.shape == (48, 64, 3) and obs.dtype == np.uint8 and info["c2w"].shape == (4, 4)
        forward = np.zeros(len(ACTION_NAMES), np.float32)
        forward[ACTION_NAMES.index("move_forward")] = 1.0
        for t in range(3):
            obs2, reward, terminated, truncated, info2 = env.step(forward)
            assert reward == 0.0 and not terminated and truncated == (t == 2)
        assert not np.allclose(info["c2w"][:3, 3], info2["c2w"][:3, 3])      # it walked
        again, _ = env.reset(seed=2)
        assert np.array_equal(again, obs)
    finally:
        env.close()


def test_reward_fn_sees_frames():
    seen = []
    env = WorldEnv(reward_fn=lambda frames, info: seen.append(frames.shape) or 1.5, **KW)
    env.reset()
    _, reward, *_ = env.step(env.action_space.sample())
    env.close()
    assert reward == 1.5 and seen[0][1:] == (48, 64, 3)


def test_check_env_and_registered_id():
    from gymnasium.utils.env_checker import check_env
    env = gymnasium.make(ENV_ID, **KW)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()
