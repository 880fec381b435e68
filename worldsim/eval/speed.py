"""Speed of the subject during the evaluation: its batched `step` calls, timed on the host."""
from __future__ import annotations

import numpy as np


def speed(step_seconds: list[float], frames: int, sessions: int) -> dict:
    """step_seconds: wall time of every step call (each for all `sessions`); frames: video frames
    made per session over those calls."""
    t = np.asarray(step_seconds, dtype=np.float64)
    total = float(t.sum())
    return {"frames_per_s": frames * sessions / total if total > 0 else None,
            "step_ms_p50": float(np.percentile(t, 50) * 1e3) if t.size else None,
            "step_ms_p99": float(np.percentile(t, 99) * 1e3) if t.size else None,
            "steps": int(t.size), "sessions_per_step": sessions, "seconds": total}
