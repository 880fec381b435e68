"""ScriptedInput: a TOML input script that plays like a person at the keyboard.

    # walk.toml -- ticks are video frames at the renderer's fps (24 by default)
    length = 96                          # optional; default: the end of the last segment/trigger

    [[segment]]                          # actions held over the half-open tick range [start, end)
    ticks = [0, 48]
    hold = ["move_forward", "sprint"]
    axes = { look_dx = 4.0 }             # axis values applied on every tick of the range

    [[trigger]]
    tick = 60                            # fires in the sample() of this tick
    action = "screenshot"

Overlapping segments add up: held buttons are united, axis values summed. `sample()` returns the
actions of the current tick and advances one tick; `pop_triggers()` returns the triggers of the
ticks sampled since its last call. Past `length` the script samples idle actions and `done` is True.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from . import tomlfile
from .actions import STICK_AXES, action_family, idle_actions, sample_step
from .schema import ControlError


class ScriptError(ControlError):
    """An input script is malformed or names an unknown action."""


@dataclass(frozen=True)
class Segment:
    start: int
    end: int                                             # exclusive
    hold: tuple[str, ...] = ()
    axes: dict[str, float] = field(default_factory=dict)


class ScriptedInput:
    def __init__(self, segments: list[Segment] = (), triggers: dict[int, list[str]] | None = None,
                 length: int | None = None):
        self.segments = list(segments)
        self.triggers = {int(k): list(v) for k, v in (triggers or {}).items()}
        ends = [s.end for s in self.segments] + [t + 1 for t in self.triggers]
        self.length = int(length) if length is not None else max(ends, default=0)
        self.tick = 0
        self._pending: list[str] = []

    # ---- loading / saving ---------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> "ScriptedInput":
        return cls.loads(tomlfile.read_text(path, ScriptError, "input script"), source=str(path))

    @classmethod
    def loads(cls, text: str, source: str = "<string>") -> "ScriptedInput":
        data = tomlfile.parse(text, source, ScriptError)
        unknown = set(data) - {"length", "segment", "trigger"}
        if unknown:
            raise ScriptError(f"{source}: unknown top-level keys {sorted(unknown)}; known: length, segment, trigger")
        segments = [_segment(s, f"{source}: segment #{i + 1}") for i, s in enumerate(data.get("segment", []))]
        triggers: dict[int, list[str]] = {}
        for i, t in enumerate(data.get("trigger", [])):
            where = f"{source}: trigger #{i + 1}"
            tick, action = t.get("tick"), t.get("action")
            if not isinstance(tick, int) or tick < 0:
                raise ScriptError(f"{where}: 'tick' must be an integer >= 0, got {tick!r}")
            _check(action, "trigger", where)
            triggers.setdefault(tick, []).append(action)
        length = data.get("length")
        if length is not None and (not isinstance(length, int) or length < 0):
            raise ScriptError(f"{source}: 'length' must be an integer >= 0, got {length!r}")
        return cls(segments, triggers, length)

    def dumps(self) -> str:
        """The script as TOML, in the layout of the module docstring (one line per field)."""
        lines = [f"length = {self.length}"]
        for s in self.segments:
            lines += ["", "[[segment]]", f"ticks = [{s.start}, {s.end}]"]
            if s.hold:
                lines.append("hold = [" + ", ".join(json.dumps(b) for b in s.hold) + "]")
            if s.axes:
                lines.append("axes = { " + ", ".join(f"{a} = {float(v)!r}" for a, v in s.axes.items()) + " }")
        for t in sorted(self.triggers):
            for a in self.triggers[t]:
                lines += ["", "[[trigger]]", f"tick = {t}", f"action = {json.dumps(a)}"]
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.dumps())

    # ---- the InputMapper interface ------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.tick >= self.length

    def sample(self) -> dict[str, float]:
        out = idle_actions()
        t = self.tick
        for s in self.segments:
            if s.start <= t < s.end:
                for b in s.hold:
                    out[b] = 1.0
                for a, v in s.axes.items():
                    out[a] += v
        for a in STICK_AXES:
            out[a] = min(1.0, max(-1.0, out[a]))
        self._pending.extend(self.triggers.get(t, ()))
        self.tick += 1
        return out

    def sample_step(self, frames: int) -> list[dict[str, float]]:
        """The next `frames` ticks of the script: it knows its future, so a step read ahead is exact."""
        return [self.sample() for _ in range(frames)]

    def pop_triggers(self) -> list[str]:
        pending, self._pending = self._pending, []
        return pending

    def reset(self) -> None:
        self.tick = 0
        self._pending = []


def _check(name: object, family: str, where: str) -> None:
    if not isinstance(name, str):
        raise ScriptError(f"{where}: expected an action name (a string), got {name!r}")
    try:
        got = action_family(name)
    except ValueError as e:
        raise ScriptError(f"{where}: {e}") from None
    if got != family:
        raise ScriptError(f"{where}: {name!r} is a {got}, expected a {family} here")


def _segment(d: dict, where: str) -> Segment:
    unknown = set(d) - {"ticks", "hold", "axes"}
    if unknown:
        raise ScriptError(f"{where}: unknown keys {sorted(unknown)}; known: ticks, hold, axes")
    ticks = d.get("ticks")
    if (not isinstance(ticks, list) or len(ticks) != 2 or not all(isinstance(t, int) for t in ticks)
            or not 0 <= ticks[0] <= ticks[1]):
        raise ScriptError(f"{where}: 'ticks' must be [start, end] integers with 0 <= start <= end, got {ticks!r}")
    hold = d.get("hold", [])
    if not isinstance(hold, list):
        raise ScriptError(f"{where}: 'hold' must be a list of button names")
    for b in hold:
        _check(b, "button", where)
    axes = d.get("axes", {})
    if not isinstance(axes, dict):
        raise ScriptError(f"{where}: 'axes' must be a table of axis = value")
    for a, v in axes.items():
        _check(a, "axis", where)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v != v or abs(v) == float("inf"):
            raise ScriptError(f"{where}: axis {a} must be a finite number, got {v!r}")
    return Segment(ticks[0], ticks[1], tuple(hold), {a: float(v) for a, v in axes.items()})



class ScriptRecorder:
    """Wraps any input source (an InputMapper, a script) and records what it produces, so a play
    session can be saved as an input script and replayed exactly: `recorder.script().save(path)`."""

    def __init__(self, source):
        self.source = source
        self.samples: list[dict[str, float]] = []
        self.triggers: dict[int, list[str]] = {}

    def sample(self) -> dict[str, float]:
        actions = self.source.sample()
        self.samples.append(dict(actions))
        return actions

    def sample_step(self, frames: int) -> list[dict[str, float]]:
        step = sample_step(self.source, frames)
        self.samples.extend(dict(a) for a in step)
        return step

    def pop_triggers(self) -> list[str]:
        triggers = self.source.pop_triggers()
        if triggers:
            self.triggers.setdefault(max(0, len(self.samples) - 1), []).extend(triggers)
        return triggers

    def script(self) -> ScriptedInput:
        """Runs of identical samples become segments (idle runs are left out)."""
        segments: list[Segment] = []
        start, key = 0, None
        for t, actions in enumerate(self.samples + [None]):
            k = None if actions is None else (
                tuple(b for b, v in actions.items() if v and action_family(b) == "button"),
                tuple((a, v) for a, v in actions.items() if v and action_family(a) == "axis"))
            if k != key:
                if key is not None and (key[0] or key[1]):
                    segments.append(Segment(start, t, key[0], dict(key[1])))
                start, key = t, k
        return ScriptedInput(segments, self.triggers, len(self.samples))

_GAITS = ((), ("move_forward",), ("move_forward",), ("move_forward", "sprint"), ("move_backward",),
          ("strafe_left",), ("strafe_right",), ("move_forward", "strafe_left"), ("move_forward", "strafe_right"))


def wander_script(seed: int, ticks: int, fps: float = 24.0) -> ScriptedInput:
    """A seeded random walk of a player: held gaits for 0.5-3 s (walk, sprint, strafe, stop),
    bursts of mouse look and of looking up/down. Deterministic for a seed."""
    rng = random.Random(seed)
    segments: list[Segment] = []
    t = 0
    while t < ticks:                                      # movement: back-to-back gait segments
        n = max(1, round(rng.uniform(0.5, 3.0) * fps))
        segments.append(Segment(t, min(ticks, t + n), rng.choice(_GAITS)))
        t += n
    t = 0
    while t < ticks:                                      # looking: pauses and bursts
        t += round(rng.uniform(0.2, 2.0) * fps)
        n = max(1, round(rng.uniform(0.3, 1.5) * fps))
        axes = {"look_dx": round(rng.gauss(0.0, 8.0), 2), "look_dy": round(rng.gauss(0.0, 2.0), 2)}
        hold = (rng.choice(("look_up", "look_down")),) if rng.random() < 0.2 else ()
        if t < ticks:
            segments.append(Segment(t, min(ticks, t + n), hold, axes))
        t += n
    return ScriptedInput(segments, {}, ticks)
