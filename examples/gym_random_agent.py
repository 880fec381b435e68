"""A random agent in the Gymnasium environment: `worldsim/World-v0`, or N sessions of one worker.

    python examples/gym_random_agent.py                        # one env, 3 episodes of 20 steps
    python examples/gym_random_agent.py --envs 4 --steps 30    # a vector env: 4 sessions, 1 worker, batched

Needs `pip install worldsim[gym]`. The observation is the step's last frame (uint8 H x W x 3);
the reward here is a toy one (how bright the frame is); `info["c2w"]` is the camera pose.
API: docs/sdk.md (Gymnasium).
"""
from __future__ import annotations

import argparse

import gymnasium
import numpy as np

import worldsim.gym


def brightness(frames: np.ndarray, info: dict) -> float:
    return float(frames.mean() / 255.0)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--renderer", default="reference", help="renderer name (default: reference)")
    p.add_argument("--size", default="64x48", help="WIDTHxHEIGHT of the observations")
    p.add_argument("--envs", type=int, default=1, help="1: one env; N > 1: a vector env of N sessions")
    p.add_argument("--episodes", type=int, default=3, help="episodes (single env)")
    p.add_argument("--steps", type=int, default=20, help="steps per episode (single) / in all (vector)")
    args = p.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    kwargs = dict(renderer=args.renderer, size=size, max_steps=args.steps, reward_fn=brightness)

    if args.envs == 1:
        env = gymnasium.make(worldsim.gym.ENV_ID, **kwargs)
        env.action_space.seed(0)
        for episode in range(args.episodes):
            obs, info = env.reset(seed=episode)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
                total += reward
                done = terminated or truncated
            x, _, z = info["c2w"][:3, 3]
            print(f"episode {episode}: {info['step']} steps, return {total:.3f}, ended at x={x:.2f} z={z:.2f}")
        env.close()
        return

    env = worldsim.gym.make_vector(args.envs, **kwargs)      # one worker process renders all of them
    env.action_space.seed(0)
    obs, info = env.reset(seed=0)
    returns = np.zeros(args.envs)
    for _ in range(args.steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        returns += reward
    print(f"{args.envs} envs x {args.steps} steps on one worker: observations {obs.shape}, "
          f"batch sizes {env.batch_sizes}, returns {np.round(returns, 3).tolist()}")
    env.close()


if __name__ == "__main__":
    main()
