"""A stochastic player: emits the named actions a person would, through the real rigs.

    plan = Player(seed=3).plan(96)            # manoeuvres: held keys of random duration, stops,
                                              # turns in place, bursts of mouse look
    actions = plan.actions()                  # one dict of named actions per video frame
    c2w = walk_cameras(world, actions)        # (T, 4, 4) through controls.CameraRig on the terrain

Each manoeuvre is a `controls.script.Segment` (so a plan is an ordinary input script) with a
name that captions describe. Pose plans drive `controls.PoseRig` the same way (puppet.py).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

# name -> (caption phrase, held buttons, axes per tick, weight)
CAMERA_MOVES = {
    "walk":        ("walks forward", ("move_forward",), {}, 5.0),
    "run":         ("runs forward", ("move_forward", "sprint"), {}, 1.5),
    "veer_left":   ("walks forward, bearing left", ("move_forward", "turn_left"), {}, 1.0),
    "veer_right":  ("walks forward, bearing right", ("move_forward", "turn_right"), {}, 1.0),
    "turn_left":   ("turns left", ("turn_left",), {}, 1.5),
    "turn_right":  ("turns right", ("turn_right",), {}, 1.5),
    "strafe_left": ("steps sideways to the left", ("strafe_left",), {}, 0.7),
    "strafe_right": ("steps sideways to the right", ("strafe_right",), {}, 0.7),
    "back":        ("steps back", ("move_backward",), {}, 0.4),
    "stop":        ("stands still", (), {}, 1.0),
    "look_around": ("looks around", (), {"look_dx": None}, 1.0),     # look_dx drawn per burst
    "look_up":     ("looks up", ("look_up",), {}, 0.4),
    "look_down":   ("looks down", ("look_down",), {}, 0.4),
}
POSE_MOVES = {
    "walk_away":   ("walks away", (), {"left_stick_y": 1.0}, 2.0),
    "walk_closer": ("walks toward the camera", (), {"left_stick_y": -1.0}, 1.5),
    "walk_left":   ("walks to the left", (), {"left_stick_x": -1.0}, 1.5),
    "walk_right":  ("walks to the right", (), {"left_stick_x": 1.0}, 1.5),
    "wave":        ("waves", ("wave",), {}, 1.0),
    "jump":        ("jumps", ("jump",), {}, 0.8),
    "crouch":      ("crouches", ("crouch",), {}, 0.8),
    "reach":       ("raises both arms", (), {"right_stick_y": 1.0}, 0.8),
    "look_aside":  ("turns the head", (), {"right_stick_x": None}, 0.6),
    "stand":       ("stands still", (), {}, 1.0),
}


@dataclass(frozen=True)
class Manoeuvre:
    name: str
    start: int           # first video frame
    end: int             # exclusive
    phrase: str


@dataclass
class Plan:
    moves: list[Manoeuvre]
    segments: list       # controls.script.Segment, one per manoeuvre
    frames: int

    def actions(self) -> list[dict[str, float]]:
        """Named actions per video frame, as an input script samples them."""
        from ..controls.script import ScriptedInput
        script = ScriptedInput(self.segments, {}, self.frames)
        return [script.sample() for _ in range(self.frames)]


class Player:
    """Seeded: the same seed and length give the same plan."""

    def __init__(self, seed: int, fps: float = 24.0, moves: dict = CAMERA_MOVES,
                 min_s: float = 0.5, max_s: float = 3.0):
        self.rng = random.Random(seed)
        self.fps, self.moves, self.min_s, self.max_s = fps, moves, min_s, max_s

    def plan(self, frames: int) -> Plan:
        from ..controls.script import Segment
        names = list(self.moves)
        weights = [self.moves[n][3] for n in names]
        out, segments, t, last = [], [], 0, None
        while t < frames:
            name = self.rng.choices(names, weights)[0]
            if name == last:
                continue                                        # consecutive moves differ
            n = max(1, round(self.rng.uniform(self.min_s, self.max_s) * self.fps))
            end = min(frames, t + n)
            phrase, hold, axes, _ = self.moves[name]
            axes = {a: (v if v is not None else round(self.rng.choice((-1, 1)) * self.rng.uniform(3.0, 9.0), 2))
                    for a, v in axes.items()}
            if name == "look_around":
                phrase = "looks around to the " + ("left" if axes["look_dx"] < 0 else "right")
            segments.append(Segment(t, end, tuple(hold), axes))
            out.append(Manoeuvre(name, t, end, phrase))
            t, last = end, name
        return Plan(out, segments, frames)


def walk_cameras(world, actions: list[dict[str, float]], start: tuple[float, float] | None = None,
                 yaw: float = 0.0, fps: float = 24.0, fovy_deg: float = 60.0, mode: str = "walk") -> np.ndarray:
    """Drive controls.CameraRig through `actions` on the world's ground. -> c2w (T, 4, 4) absolute."""
    from ..controls.camera_rig import CameraRig
    terrain = world.terrain
    x, z = start if start is not None else world.spawn_point()

    def ground(xs, zs):
        return np.array([terrain.ground_height(float(a), float(b)) for a, b in zip(xs, zs)])
    rig = CameraRig(fps=fps, fovy_deg=fovy_deg, mode=mode, ground_height=ground,
                    position=(x, terrain.ground_height(x, z) + (1.7 if mode == "walk" else 12.0), z), yaw=yaw)
    return np.stack([rig.step(a) for a in actions])
