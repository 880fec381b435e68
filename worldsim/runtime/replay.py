"""`worldsim replay`: feed a control log back through the frame loop and check every frame's sha256."""
from __future__ import annotations

from .loop import FrameLoop
from .play import PlayOptions, _open_display, make_client


class LoggedPackets:
    """Plays back the control packets of a log, one per tick (the actions are ignored)."""

    def __init__(self, ticks: list[dict]):
        self.packets = [record["packet"] for record in ticks]
        self.index = 0

    def tick(self, actions: dict) -> dict:
        packet = self.packets[self.index]
        self.index += 1
        return packet

    def reset(self) -> None:
        self.index = 0


class _NoInput:
    def sample(self) -> dict:
        return {}

    def pop_triggers(self) -> list[str]:
        return []


class FrameDigests:
    """A recorder stand-in that keeps the sha256 of every produced frame (to compare with a log)."""

    def __init__(self, writer=None, progress=None):
        from worldsim.render.recorder import frame_digest
        self._digest = frame_digest
        self.digests: list[str] = []
        self.writer = writer
        self.progress = progress              # a tqdm bar counting the frames, or None

    def log_tick(self, record: dict) -> None:
        if self.writer is not None:
            self.writer.log_tick(record)

    def add_frames(self, frames) -> None:
        self.digests.extend(self._digest(f) for f in frames)
        if self.progress is not None:
            self.progress.update(len(frames))
        if self.writer is not None:
            self.writer.add_frames(frames)


def replay(log_path: str, headless: bool = True, realtime: bool = False, in_process: bool = False,
           record: str | None = None, allow_truncated: bool = False) -> dict:
    """Feed a control log back through the loop; compare every produced frame with the recording
    (of a log cut short, with allow_truncated: the frames it holds)."""
    from worldsim.render.recorder import ControlLog, ControlLogError, Recorder
    log = ControlLog.read(log_path, allow_truncated=allow_truncated)
    meta = log.meta
    renderer = meta.get("renderer")
    if not isinstance(renderer, str):
        raise ControlLogError(f"{log_path}: the header names no renderer; not a `worldsim play --record` log")
    client = make_client(renderer, meta.get("renderer_options", {}), None, in_process)
    display = writer = None
    try:
        session = client.open(renderer, meta.get("seed", 0), meta.get("prompt", ""), controls=meta.get("controls", ()))
        if record:
            writer = Recorder(record, session.spec.fps, meta)
        from tqdm import tqdm
        if not headless or realtime:
            display = _open_display(session.spec, PlayOptions(headless=headless))
        with tqdm(total=len(log.frame_hashes), desc="replay", unit="frame", disable=None) as bar:   # on a terminal
            digests = FrameDigests(writer, bar)
            loop = FrameLoop(client, session, _NoInput(), LoggedPackets(log.ticks), display=display,
                             recorder=digests, realtime=realtime)
            loop.run(len(log.ticks))
        recorded = log.frame_hashes
        same = sum(a == b for a, b in zip(digests.digests, recorded))
        first_diff = next((i for i, (a, b) in enumerate(zip(digests.digests, recorded)) if a != b), None)
        # a log cut short may lose the frames of its last ticks: only the frames it holds are compared
        replayed = len(digests.digests) if log.complete else min(len(digests.digests), len(recorded))
        return {"frames_recorded": len(recorded), "frames_replayed": len(digests.digests), "identical": same,
                "first_difference": first_diff, "complete": log.complete,
                "exact": same == len(recorded) == replayed}
    finally:
        if writer is not None:
            writer.close()
        if display is not None:
            display.close()
        client.shutdown()
