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
"""
from __future__ import annotations

from typing import Any, Callable

import gymnasium
import numpy as np
from gymnasium import spaces

__all__ = ["ACTION_NAMES", "ENV_ID", "LOOK_RANGE", "WorldEnv"]

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
        self.observation_space = spaces.Box(0, 255, (spec.height, spec.width, 3), np.uint8)
        low = np.array([-LOOK_RANGE if n.startswith("look_d") else 0.0 for n in ACTION_NAMES], np.float32)
        self.action_space = spaces.Box(low, -low + (low == 0), dtype=np.float32)
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
        action = np.asarray(action, dtype=np.float32).reshape(len(ACTION_NAMES))
        action = np.clip(action, self.action_space.low, self.action_space.high)
        frames = self.world.step({n: float(v) for n, v in zip(ACTION_NAMES, action)})
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
        info: dict[str, Any] = {"step": self._t, "seed": self._seed}
        camera = (self.world.last_packets[-1] if self.world.last_packets else {}).get("camera")
        if camera is not None:
            info["c2w"] = np.asarray(camera["c2w"], dtype=np.float64).reshape(4, 4)
        return info


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="worldsim.gym:WorldEnv")
