"""`ttt-film`: the long-form TTT model behind the Renderer protocol, for offline use.

    r = FilmRenderer(preset="tiny", seconds=2.0, seconds_per_segment=1.0, steps=4)   # or checkpoint="runs/ttt/model"
    s = r.open(seed=3, prompt="walks forward through a pine forest at dawn")   # samples the whole film now
    r.step([s], [[{}]])              # step 0: the film's first frame, (1, H, W, 3)
    r.step([s], [[{}] * 4])          # then the next 4 frames of the film per step

The model is bidirectional in time: it samples every segment of a film together, so a session's
film is rendered whole in `open` (the worker serves nothing else meanwhile; seconds for the tiny
preset on a CPU, far longer for a real model) by the same code as `worldsim ttt render`
(`render.render_film` of `storyboard.model_segments`, noise seeds from the session seed as
`--seed`). `step` then plays it back, frame for frame. The prompt is one scene of `seconds`; a
prompt that is a storyboard's TOML text (it has a `[[segment]]` table) is that storyboard, its
scenes the film's; an empty prompt is `DEFAULT_CAPTION`, in the reference world's caption words.
(Not a path: a worker served to the network must not read files its clients name.)

The film takes no controls: `control_kinds` is empty, so a client opens with no controls and sends
empty packets `{}`, one per frame, as many as the step has frames (the worker checks the count
and that the packets are empty; the content would be ignored anyway). Frames do not react to
input: this renderer replays a film, it is not a world to play. The film ends after its last
whole step (1 + 4 k frames; a tail shorter than a step is not shown): the step after raises
RendererError "the film has ended after N frames" for that session only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from worldsim.rendering import RendererError, RendererSpec

DEFAULT_CAPTION = "walks forward through a pine forest at dawn"


@dataclass
class FilmSession:
    seed: int
    prompt: str
    frames: np.ndarray | None       # (N, H, W, 3) uint8: the whole film; None once closed
    playable: int                   # frames the steps show: 1 + 4 k <= N
    steps: int = 0
    shown: int = 0                  # frames returned so far


class FilmRenderer:
    """Renderer protocol implementation; see worldsim.rendering and this module's docstring."""

    def __init__(self, checkpoint: str | None = None, preset: str | None = None, seconds: float = 6.0,
                 seconds_per_segment: float = 3.0, cfg: float = 5.0, steps: int = 32, shift: float = 5.5,
                 device: str = "cpu", threads: int | None = None):
        import torch
        from worldsim.errors import WorldsimUserError

        from .longform import build_longform
        from .render import scene_frames

        if (checkpoint is None) == (preset is None):
            which = "not both" if checkpoint is not None else "renderer options from Python, docs/ttt.md"
            raise ValueError(f"ttt-film needs checkpoint= (a trained long-form model) or preset= (random "
                             f"weights, e.g. 'tiny'): {which}")
        if checkpoint is not None and not Path(checkpoint).is_dir():
            raise ValueError(f"ttt-film checkpoint {checkpoint}: no such folder")
        for value, name in ((seconds, "seconds"), (seconds_per_segment, "seconds_per_segment")):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ValueError(f"ttt-film {name} must be a positive number, got {value!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"ttt-film steps must be a positive int, got {steps!r}")
        if threads is not None:
            torch.set_num_threads(threads)
        try:
            self.model = build_longform(preset, checkpoint, device=device)
        except WorldsimUserError as err:              # an unknown preset
            raise ValueError(f"ttt-film: {err}") from None
        self.seconds, self.seconds_per_segment = float(seconds), float(seconds_per_segment)
        self.cfg, self.steps, self.shift = float(cfg), steps, float(shift)
        base = self.model.base.cfg
        film_frames = sum(scene_frames(self.scenes(""), self.seconds_per_segment, base.fps))   # a one-scene prompt
        self.spec = RendererSpec(
            name="ttt-film", width=base.width, height=base.height, fps=base.fps, frames_per_step=4,
            first_step_frames=1, control_kinds={},
            info={"offline": True, "film_frames": film_frames, "seconds": self.seconds,
                  "seconds_per_segment": self.seconds_per_segment, "cfg": self.cfg, "steps": steps,
                  "shift": self.shift, "preset": base.name if preset else None,
                  "checkpoint": str(checkpoint) if checkpoint else None, "device": str(device)})

    # ---- sessions --------------------------------------------------------------------------
    def scenes(self, prompt: str) -> list:
        """The storyboard scenes of a session's prompt: a caption, or a storyboard's TOML text
        (StoryboardError where that text is not a valid storyboard)."""
        import tomllib

        from .storyboard import Scene, StoryboardError, parse_storyboard

        prompt = (prompt or "").strip()
        if "[[segment]]" in prompt:
            try:
                data = tomllib.loads(prompt)
            except tomllib.TOMLDecodeError as err:
                raise StoryboardError(f"the prompt's storyboard: not valid TOML ({' '.join(str(err).split())})") from None
            return parse_storyboard(data, "the prompt's storyboard")
        return [Scene(prompt or DEFAULT_CAPTION, self.seconds)]

    def film(self, seed: int, prompt: str = "") -> np.ndarray:
        """The whole film of (seed, prompt): the frames `worldsim ttt render --seed SEED` makes."""
        from .render import render_film
        from .storyboard import model_segments

        segments = model_segments(self.scenes(prompt), self.seconds_per_segment, int(seed))
        return render_film(self.model, segments, self.seconds_per_segment, self.steps, self.shift, self.cfg)

    def open(self, seed: int, prompt: str = "", first_frame: np.ndarray | None = None,
             controls: Sequence[str] = ()) -> FilmSession:
        from worldsim.errors import WorldsimUserError

        if controls:
            raise RendererError(f"ttt-film takes no controls (it replays a film), got {sorted(controls)}")
        if first_frame is not None:
            raise RendererError("ttt-film samples its film from the prompt; it takes no first_frame")
        try:
            frames = self.film(seed, prompt)
        except WorldsimUserError as err:              # a bad storyboard file
            raise RendererError(" ".join(str(err).split())) from None
        playable = 1 + 4 * ((len(frames) - 1) // 4)
        return FilmSession(int(seed), prompt, frames, playable)

    def close(self, state: FilmSession) -> None:
        state.frames = None

    def step(self, states: Sequence[FilmSession], packets: Sequence[Sequence[dict]]) -> list[np.ndarray]:
        if len(states) != len(packets):
            raise ValueError(f"{len(states)} sessions but {len(packets)} packet lists")
        for index, (state, session_packets) in enumerate(zip(states, packets)):   # check all, then step
            want = self.spec.frames_for_step(state.steps)
            if state.frames is None:
                raise RendererError("this ttt-film session is closed", index)
            if len(session_packets) != want:
                raise RendererError(f"step {state.steps} takes {want} packets, got {len(session_packets)}", index)
            if state.shown + want > state.playable:
                raise RendererError(f"the film has ended after {state.shown} frames", index)
        out = []
        for state in states:
            want = self.spec.frames_for_step(state.steps)
            out.append(state.frames[state.shown:state.shown + want].copy())
            state.shown += want
            state.steps += 1
        return out
