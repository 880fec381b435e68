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


def test_vector_env_batches_sessions_of_one_worker_and_matches_single_envs():
    """N sub-envs on one worker process, stepped in one batch, give what N single WorldEnvs give:
    the same seeds, the same observations, rewards, truncations and camera poses (autoreset too)."""
    from worldsim.gym import WorldVectorEnv
    kw = dict(renderer="reference", size=(32, 24), max_steps=2, reward_fn=lambda f, i: float(f.mean()))
    vec = WorldVectorEnv(3, **kw)                                   # a worker process, 3 sessions
    singles = gymnasium.vector.SyncVectorEnv([lambda: WorldEnv(in_process=True, **kw)] * 3)
    try:
        assert vec.worlds[0].client.process is not None and {w.client for w in vec.worlds} == {vec.worlds[0].client}
        assert vec.observation_space == singles.observation_space and vec.action_space == singles.action_space
        obs, info = vec.reset(seed=7)
        ref, ref_info = singles.reset(seed=7)
        assert np.array_equal(obs, ref) and list(info["seed"]) == [7, 8, 9]
        assert not np.array_equal(obs[0], obs[1])                    # different seeds, different worlds
        rng = np.random.default_rng(0)
        batches = []
        for _ in range(4):                                           # through truncation and autoreset
            action = rng.uniform(singles.action_space.low, singles.action_space.high).astype(np.float32)
            got, want = vec.step(action), singles.step(action)
            for a, b in zip(got[:4], want[:4]):
                assert np.array_equal(a, b)
            assert np.array_equal(got[4]["c2w"], want[4]["c2w"])
            batches.append(max(vec.batch_sizes))
        assert max(batches) > 1, batches                            # the worker rendered sessions together
        again, _ = vec.reset(seed=7)
        assert np.array_equal(again, ref)
    finally:
        vec.close()
        singles.close()


def test_make_vec_through_the_registered_id():
    env = gymnasium.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", **KW)
    try:
        obs, _ = env.reset(seed=1)
        assert obs.shape == (2, 48, 64, 3)
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert obs.shape == (2, 48, 64, 3) and reward.shape == (2,)
    finally:
        env.close()
