"""`worldsim bench recover`: how long a client takes to recover from its worker being killed mid-step.

The worker is SIGKILLed with a step in flight; the time is from the kill to the client raising
`WorkerRestarted` (death seen, a fresh worker started, the session reopened), and the next step
is checked to render.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import time

from worldsim.bench.load import CAMERA
from worldsim.runtime.client import Client, WorkerRestarted


def run(times: int = 5, width: int = 736, height: int = 416) -> dict:
    client = Client.spawn("testpattern", {"width": width, "height": height})
    seconds, message = [], ""
    try:
        session = client.open("testpattern", seed=1, controls=["camera"])
        for _ in range(times):
            for k in range(3):
                client.step(session, k, [CAMERA] * session.spec.frames_for_step(session.steps_sent))
            client.submit_step(session, 9, [CAMERA] * session.spec.frames_for_step(session.steps_sent))
            os.kill(client.process.pid, signal.SIGKILL)
            t0 = time.monotonic()
            try:
                while True:
                    client.poll(0.1)
            except WorkerRestarted as err:
                seconds.append(time.monotonic() - t0)
                message = str(err)
            result = client.step(session, 0, [CAMERA] * session.spec.frames_for_step(session.steps_sent))
            if result.error is not None:
                raise result.error
    finally:
        client.shutdown()
    return {"times": times, "recover_s": [round(s, 3) for s in seconds], "recover_s_median": statistics.median(seconds),
            "recover_s_max": max(seconds), "message": message}


def register(sub) -> None:
    p = sub.add_parser("recover", help="time from killing the worker mid-step to the client's WorkerRestarted")
    p.add_argument("--times", type=int, default=5, help="kills to time (default 5)")
    p.set_defaults(func=lambda args: print(json.dumps(run(args.times))))
