"""The shared-session side of `World` (docs/sdk.md, "Shared sessions"): a spectator's frames,
its role and viewer id, passing control. `World` inherits it; nothing here is used on its own."""
from __future__ import annotations

import numpy as np

from .errors import WorldsimUserError

CONTROL_WAIT_S = 0.2     # how long a spectator's step() waits for a handover already sent to arrive


def one_line(message: str) -> str:
    """A message on one line (errors for users are one line)."""
    return " ".join(str(message).split())


class SharedSession:
    """Mixed into `World`: uses its `session`, `client`, `_recorder`, `_role`, `steps`, `_check_open`."""

    @property
    def join_token(self) -> str | None:
        """What another World passes as `worldsim.open(connect=..., join=...)` to watch this session
        (None in process: nobody else can reach it)."""
        return getattr(self.session, "token", "") or None

    @property
    def role(self) -> str:
        """"controller" (steps the session) or "spectator" (watches it with `frames()`)."""
        return getattr(self.session, "role", "controller")

    @property
    def dropped(self) -> int:
        """Steps of the controller this spectator missed because it did not read them in time."""
        return getattr(self.session, "dropped", 0)

    def frames(self, timeout: float = 1.0) -> list[np.ndarray]:
        """A spectator's frames: uint8 (F, H, W, 3) of each step the controller took since the
        last call, oldest first, waiting up to `timeout` s for the first ([] if none came)."""
        self._check_open("frames")
        if self.role != "spectator":
            raise WorldsimUserError("frames: this world controls its session; step() returns its frames")
        from .runtime.client import RequestError
        try:
            results = self.client.frames(self.session, timeout)
        except RequestError as err:
            raise WorldsimUserError(one_line(f"frames: session {self.session.id} ended: {err}")) from None
        out = [np.array(r.frames, dtype=np.uint8, copy=True) for r in results]
        self._sync_role()
        if self._recorder is not None:
            for frames in out:
                self._recorder.add_frames(frames)
        return out

    def handover(self, to: int | None = None) -> None:
        """Give control to the spectator with viewer id `to` (its `world.viewer`; default: the one
        watching longest). This world becomes a spectator of the session."""
        self._check_open("handover")
        self._check_controller("handover")
        from .runtime.client import RequestError
        if not hasattr(self.client, "handover"):
            raise WorldsimUserError("handover: an in-process world has no spectators")
        try:
            self.client.handover(self.session, to)
        except RequestError as err:
            raise WorldsimUserError(one_line(f"handover: {err}")) from None
        self._role = "spectator"

    @property
    def viewer(self) -> int | None:
        """This spectator's id at the worker (what the controller's `handover(to=)` takes)."""
        return self.session.viewer if self.role == "spectator" else None

    def _sync_role(self) -> None:
        if self._role != self.role:             # control came to this world: step on from there
            self._role = self.role
            self.steps, self.last_packets = self.session.steps_sent, []

    def _check_controller(self, what: str) -> None:
        if self.role == "spectator" and hasattr(self.client, "await_control"):
            self.client.await_control(self.session, CONTROL_WAIT_S)   # a handover on its way
        self._sync_role()
        if self.role != "controller":
            raise WorldsimUserError(f"{what}: this world watches session {self.session.id} as a spectator; its "
                                    "controller steps it (watch with frames(); the controller can hand over control)")
