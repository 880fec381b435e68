"""A Gymnasium environment over `worldsim.open` (needs `pip install worldsim[gym]`).

    import gymnasium, worldsim.gym                              # importing registers the id
    env = gymnasium.make("worldsim/World-v0", renderer="reference", max_steps=200)
    obs, info = env.reset(seed=1)                               # uint8 (H, W, 3): the first frame
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

The action is a float32 vector over ACTION_NAMES (named actions, worldsim.controls.actions):
buttons in 0..1 (held when > 0.5), `look_dx`/`look_dy` mouse deltas in pixels per frame in
-LOOK_RANGE..LOOK_RANGE. A step holds it for every frame of one world step; the observation is
the step's last frame. Reward: 0.0, or `reward_fn(frames, info)` with all the step's frames.
`info["c2w"]` is the camera's 4x4 camera-to-world matrix after the step (renderers with a camera).

`WorldVectorEnv(n, ...)` (or `make_vector(n, ...)`, `gymnasium.make_vec(ENV_ID, n)`) runs n such
environments as n sessions of ONE worker process, stepped together so the worker renders them in
one batch; it behaves as `gymnasium.vector.SyncVectorEnv` over n WorldEnvs (same seeds, same
observations; autoreset on the next step).
"""
from __future__ import annotations

from typing import Any, Callable

import gymnasium
import gymnasium.vector
import numpy as np
from gymnasium import spaces

__all__ = ["ACTION_NAMES", "ENV_ID", "LOOK_RANGE", "WorldEnv", "WorldVectorEnv", "make_vector"]

ENV_ID = "worldsim/World-v0"
ACTION_NAMES = ("move_forward", "move_backward", "strafe_left", "strafe_right", "turn_left", "turn_right",
                "look_up", "look_down", "sprint", "jump", "look_dx", "look_dy")
LOOK_RANGE = 50.0


class WorldEnv(gymnasium.Env):
    """`worldsim.open(renderer, seed=seed, **open_kwargs)` as a Gymnasium environment."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, renderer: str | None = None, seed: int = 0, max_steps: int = 1000,
                 reward_fn: Callable[[np.ndarray, dict], float] | None = None,
                 render_mode: str | None = None, **open_kwargs: Any):
        import worldsim
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode, self.max_steps, self.reward_fn = render_mode, int(max_steps), reward_fn
        self.world = worldsim.open(renderer, seed=seed, **open_kwargs)
        spec = self.world.spec
        self.metadata = {**self.metadata, "render_fps": spec.fps}
        self.observation_space, self.action_space = _spaces(spec)
        self._seed, self._t, self._obs = seed, 0, None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._seed = int(seed)
        self.world.reset(seed=self._seed)
        self._t = 0
        frames = self.world.step({})                       # step 0: the start frame(s)
        self._obs = frames[-1]
        return self._obs, self._info()

    def step(self, action):
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        frames = self.world.step(_controls(action, self.action_space))
        self._t += 1
        self._obs = frames[-1]
        info = self._info()
        reward = 0.0 if self.reward_fn is None else float(self.reward_fn(frames, info))
        return self._obs, reward, False, self._t >= self.max_steps, info

    def render(self):
        return None if self._obs is None else self._obs.copy()

    def close(self):
        world = getattr(self, "world", None)
        if world is not None:
            world.close()

    def _info(self) -> dict:
        return _info(self.world, self._t, self._seed)


class WorldVectorEnv(gymnasium.vector.VectorEnv):
    """`num_envs` WorldEnvs as sessions of one worker process, stepped in one batch each step.

    Sub-environment i starts on seed `seed + i`; `reset(seed=s)` reseeds them s, s+1, ... (a list
    gives one seed each); a sub-environment whose episode ended resets on the next step
    (gymnasium's NEXT_STEP autoreset: that step returns its first frame, reward 0)."""

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": gymnasium.vector.AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int, renderer: str | None = None, seed: int = 0, max_steps: int = 1000,
                 reward_fn: Callable[[np.ndarray, dict], float] | None = None,
                 render_mode: str | None = None, **open_kwargs: Any):
        import worldsim
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.num_envs, self.render_mode, self.max_steps, self.reward_fn = num_envs, render_mode, int(max_steps), reward_fn
        self.worlds = [worldsim.open(renderer, seed=seed, **open_kwargs)]
        try:
            self.worlds += [self.worlds[0].open_sibling(seed + i) for i in range(1, num_envs)]
        except BaseException:
            self.worlds[0].close()
            raise
        spec = self.worlds[0].spec
        self.metadata = {**self.metadata, "render_fps": spec.fps}
        self.single_observation_space, self.single_action_space = _spaces(spec)
        self.observation_space = gymnasium.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gymnasium.vector.utils.batch_space(self.single_action_space, num_envs)
        self._seeds = [seed + i for i in range(num_envs)]
        self._t = np.zeros(num_envs, np.int64)
        self._autoreset = np.zeros(num_envs, bool)
        self._obs: np.ndarray | None = None
        self.batch_sizes: list[int] = []        # the worker's batch size for each sub-env's last step

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        super().reset(seed=seed if isinstance(seed, int) else None)
        if isinstance(seed, int):
            seeds: list[int | None] = [seed + i for i in range(self.num_envs)]
        elif seed is None:
            seeds = [None] * self.num_envs
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"reset: {len(seeds)} seeds for {self.num_envs} environments")
        for i, s in enumerate(seeds):
            if s is not None:
                self._seeds[i] = int(s)
            self.worlds[i].reset(seed=self._seeds[i])
        self._t[:], self._autoreset[:] = 0, False
        frames = self._step([None] * self.num_envs)
        infos: dict[str, Any] = {}
        for i in range(self.num_envs):
            infos = self._add_info(infos, _info(self.worlds[i], 0, self._seeds[i]), i)
        return self._observe(frames), infos

    def step(self, actions):
        if self._obs is None:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions, dtype=np.float32).reshape(self.num_envs, len(ACTION_NAMES))
        controls: list[dict | None] = []
        for i, world in enumerate(self.worlds):
            if self._autoreset[i]:              # the episode ended last step: this step is its reset
                world.reset(seed=self._seeds[i])
                self._t[i] = 0
                controls.append(None)
            else:
                controls.append(_controls(actions[i], self.single_action_space))
        frames = self._step(controls)
        rewards = np.zeros(self.num_envs, np.float64)
        truncated = np.zeros(self.num_envs, bool)
        infos: dict[str, Any] = {}
        for i, world in enumerate(self.worlds):
            if not self._autoreset[i]:
                self._t[i] += 1
            info = _info(world, int(self._t[i]), self._seeds[i])
            if not self._autoreset[i]:
                if self.reward_fn is not None:
                    rewards[i] = float(self.reward_fn(frames[i], info))
                truncated[i] = self._t[i] >= self.max_steps
            infos = self._add_info(infos, info, i)
        self._autoreset = truncated.copy()
        return self._observe(frames), rewards, np.zeros(self.num_envs, bool), truncated, infos

    def render(self):
        return None if self._obs is None else tuple(o.copy() for o in self._obs)

    def close_extras(self, **kwargs):
        for world in reversed(getattr(self, "worlds", [])):     # siblings first, the worker's owner last
            world.close()

    def _step(self, controls: list) -> list[np.ndarray]:
        from worldsim.world import step_together
        frames = step_together(self.worlds, controls)
        self.batch_sizes = [w.last_batch for w in self.worlds]
        return frames

    def _observe(self, frames: list[np.ndarray]) -> np.ndarray:
        self._obs = np.stack([f[-1] for f in frames])
        return self._obs.copy()


def make_vector(num_envs: int, renderer: str | None = None, **kwargs: Any) -> WorldVectorEnv:
    """`WorldVectorEnv(num_envs, renderer, **kwargs)`: num_envs sessions of one worker, stepped in one batch."""
    return WorldVectorEnv(num_envs, renderer, **kwargs)


def _spaces(spec) -> tuple[spaces.Box, spaces.Box]:
    """(observation space, action space) of one environment over a renderer of this spec."""
    low = np.array([-LOOK_RANGE if n.startswith("look_d") else 0.0 for n in ACTION_NAMES], np.float32)
    return (spaces.Box(0, 255, (spec.height, spec.width, 3), np.uint8),
            spaces.Box(low, -low + (low == 0), dtype=np.float32))


def _controls(action, space: spaces.Box) -> dict[str, float]:
    action = np.clip(np.asarray(action, dtype=np.float32).reshape(len(ACTION_NAMES)), space.low, space.high)
    return {n: float(v) for n, v in zip(ACTION_NAMES, action)}


def _info(world, t: int, seed: int) -> dict:
    info: dict[str, Any] = {"step": t, "seed": seed}
    camera = (world.last_packets[-1] if world.last_packets else {}).get("camera")
    if camera is not None:
        info["c2w"] = np.asarray(camera["c2w"], dtype=np.float64).reshape(4, 4)
    return info


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="worldsim.gym:WorldEnv",
                       vector_entry_point="worldsim.gym:WorldVectorEnv")
