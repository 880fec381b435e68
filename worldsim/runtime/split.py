"""`split`: two renderers side by side, driven by the same packets (`worldsim play --split`).

    r = create_renderer("split", left="reference", right="aapt", checkpoint="worldsim/assets/default")

The right renderer is built with the options given (the model under test); the left one at the
same size and fps (the reference world also with the model's camera field of view), or with
`left_options`. A session is a pair of sessions with the same seed and prompt (a first frame
goes to both; the reference draws its own); each step's frames are the two renderers' frames
concatenated horizontally. The spec's name ("reference | aapt") is what the HUD shows.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .registry import create_renderer
from ..rendering import RendererError, RendererSpec


class SplitRenderer:
    def __init__(self, left: str = "reference", right: str = "aapt", left_options: dict | None = None,
                 **right_options: Any):
        if "split" in (left, right):
            raise ValueError("split renderers do not nest")
        self.right = create_renderer(right, **right_options)
        rs = self.right.spec
        options: dict[str, Any] = {"width": rs.width, "height": rs.height, "fps": rs.fps}
        fovy = getattr(self.right, "controls", {}).get("camera", {}).get("fovy_deg")
        if left == "reference" and fovy:
            options["fovy_deg"] = float(fovy)
        self.left = create_renderer(left, **{**options, **(left_options or {})})
        ls = self.left.spec
        if set(ls.control_kinds) != set(rs.control_kinds):
            raise ValueError(f"--split drives both renderers with the same controls, but {ls.name} takes "
                             f"{sorted(ls.control_kinds)} and {rs.name} {sorted(rs.control_kinds)}")
        if (ls.height, ls.fps, ls.frames_per_step, ls.first_step_frames) != \
                (rs.height, rs.fps, rs.frames_per_step, rs.first_step_frames):
            raise ValueError(f"--split needs renderers of the same height, fps and step sizes: {ls} vs {rs}")
        info = {"left": ls.to_dict(), "right": rs.to_dict()}
        if "warning" in rs.info:
            info["warning"] = rs.info["warning"]
        self.spec = RendererSpec(f"{ls.name} | {rs.name}", ls.width + rs.width, rs.height, rs.fps,
                                 rs.frames_per_step, rs.first_step_frames, dict(rs.control_kinds), info,
                                 static_batches=ls.static_batches or rs.static_batches)

    def open(self, seed: int, prompt: str = "", first_frame: np.ndarray | None = None,
             controls: Sequence[str] = ()) -> tuple:
        left = self.left.open(seed, prompt, first_frame, controls)
        try:
            return left, self.right.open(seed, prompt, first_frame, controls)
        except Exception:
            self.left.close(left)
            raise

    def close(self, state: tuple) -> None:
        self.left.close(state[0])
        self.right.close(state[1])

    def step(self, states: Sequence[tuple], packets: Sequence[Sequence[dict]]) -> list[np.ndarray]:
        right = self.right.step([s[1] for s in states], packets)     # the stricter checks first: a bad
        left = self.left.step([s[0] for s in states], packets)       # packet fails before either advances
        out = []
        for i, (a, b) in enumerate(zip(left, right)):
            if len(a) != len(b):
                raise RendererError(f"split: {len(a)} frames on the left but {len(b)} on the right", i)
            out.append(np.concatenate([a, b], axis=2))
        return out
