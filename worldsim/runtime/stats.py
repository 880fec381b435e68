"""Frame-loop measurements: display fps, step and transport time, input-to-photon latency, drops."""
from __future__ import annotations

import json
from collections import deque

import numpy as np


def _pct(values, q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


class LoopStats:
    """Running measurements; `summary()` is what `worldsim play --stats FILE` writes."""

    def __init__(self, window: int = 240):
        self.latency_ms: list[float] = []          # controls read -> first frame made from that read presented
        self.input_age_ms: list[float] = []        # every frame shown: how long ago its controls were read
        self.step_ms: list[float] = []             # renderer time per step (worker side)
        self.transport_ms: list[float] = []        # round trip minus worker queue and render time
        self.round_trip_ms: list[float] = []
        self.frames_shown = 0
        self.frames_dropped = 0                    # frames that arrived but were skipped (latest-wins)
        self.frames_received = 0
        self.ticks = 0
        self.steps = 0
        self.stalls = 0                            # ticks with no new frame to show
        self.errors = 0
        self.restarts = 0
        self.started: float | None = None
        self.ended: float | None = None
        self._present_times: deque = deque(maxlen=window)

    def on_present(self, now: float, latency_s: float, first: bool = True) -> None:
        if self.started is None:
            self.started = now
        self.ended = now
        self.frames_shown += 1
        self.input_age_ms.append(latency_s * 1e3)
        if first:
            self.latency_ms.append(latency_s * 1e3)
        self._present_times.append(now)

    def on_step(self, round_trip_ms: float, timings: dict) -> None:
        self.steps += 1
        self.round_trip_ms.append(round_trip_ms)
        render = float(timings.get("render_ms", 0.0))
        queue = float(timings.get("queue_ms", 0.0))
        self.step_ms.append(render)
        self.transport_ms.append(max(0.0, round_trip_ms - render - queue))

    def recent_fps(self) -> float:
        t = self._present_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def hud(self) -> dict:
        recent = self.latency_ms[-48:]
        latency = f"{_pct(recent, 50):4.0f} ms (p99 {_pct(recent, 99):.0f})" if recent else "   - (no frame yet)"
        return {"fps": f"{self.recent_fps():5.1f}", "latency": latency,
                "step": f"{_pct(self.step_ms[-12:], 50):5.1f} ms" if self.step_ms else "   -", "tick": self.ticks,
                "dropped": self.frames_dropped}

    def summary(self) -> dict:
        span = (self.ended - self.started) if self.started is not None and self.ended else 0.0
        return {
            "display_fps": (self.frames_shown - 1) / span if span > 0 else 0.0,
            "latency_ms_p50": _pct(self.latency_ms, 50),
            "latency_ms_p95": _pct(self.latency_ms, 95),
            "latency_ms_p99": _pct(self.latency_ms, 99),
            "input_age_ms_p50": _pct(self.input_age_ms, 50),
            "input_age_ms_p99": _pct(self.input_age_ms, 99),
            "step_ms_p50": _pct(self.step_ms, 50),
            "transport_ms_p50": _pct(self.transport_ms, 50),
            "round_trip_ms_p50": _pct(self.round_trip_ms, 50),
            "frames_shown": self.frames_shown,
            "frames_dropped": self.frames_dropped,
            "frames_received": self.frames_received,
            "stalls": self.stalls,
            "ticks": self.ticks,
            "steps": self.steps,
            "errors": self.errors,
            "restarts": self.restarts,
        }

    def write(self, path: str, **extra) -> None:
        data = {**self.summary(), **extra}
        clean = {k: (None if isinstance(v, float) and v != v else v) for k, v in data.items()}   # NaN -> null
        with open(path, "w") as f:
            json.dump(clean, f, indent=2)
