"""Shared-memory frame slots between a client and a worker on the same machine.

A step's frames (736x416, 4 frames = 3.7 MB) cost two kernel copies over an ipc socket. For a
local worker the client asks in OPEN for a ring of slots (`shm`: how many); the worker creates the
block under a random name of its own (mode 0600, never a name a client chose, so no client can
make the worker write into another client's block) and names it in OPENED. The client attaches,
names a free slot in each STEP; the worker writes the frames there and FRAMES carries only the
slot number. The client copies the frames out as the reply arrives and frees the slot. A STEP
without a slot (all busy, or a remote worker) gets its frames inline as before: shared memory is
only a faster path, never a different protocol.
"""
from __future__ import annotations

import secrets
from multiprocessing import resource_tracker, shared_memory

import numpy as np

PREFIX = "worldsim-"
SLOTS = 4
MAX_SLOT_BYTES = 64 * 1024 * 1024


class WorkerSlots:
    """Worker side: creates and owns the block of one session; writes frames into slots."""

    def __init__(self, slot_bytes: int, slots: int = SLOTS):
        if not 0 < slot_bytes <= MAX_SLOT_BYTES or not 0 < slots <= 64:
            raise ValueError(f"{slots} slots of {slot_bytes} bytes is out of range")
        self.slot_bytes, self.slots = int(slot_bytes), int(slots)
        self.shm = shared_memory.SharedMemory(name=f"{PREFIX}w{secrets.token_hex(12)}", create=True,
                                              size=self.slot_bytes * self.slots)

    def describe(self) -> dict:
        return {"name": self.shm.name, "slots": self.slots, "slot_bytes": self.slot_bytes}

    def write(self, slot: int, frames: np.ndarray) -> bool:
        """Copy frames into `slot`; False if the slot number or the size does not fit (send inline)."""
        if type(slot) is not int or not 0 <= slot < self.slots or frames.nbytes > self.slot_bytes:
            return False
        view = np.frombuffer(self.shm.buf, np.uint8, frames.nbytes, slot * self.slot_bytes)
        np.copyto(view, frames.reshape(-1).view(np.uint8))
        return True

    def close(self) -> None:
        try:
            self.shm.unlink()                 # first: the name goes even if a view keeps the mapping alive
        except FileNotFoundError:
            pass
        try:
            self.shm.close()
        except BufferError:
            pass


class FrameSlots:
    """Client side: attaches the worker's block (from OPENED); hands out and takes back slots."""

    def __init__(self, desc: dict):
        name, slots, slot_bytes = desc.get("name"), desc.get("slots"), desc.get("slot_bytes")
        if not (isinstance(name, str) and name.startswith(PREFIX) and len(name) < 64
                and type(slots) is int and 0 < slots <= 64 and type(slot_bytes) is int
                and 0 < slot_bytes <= MAX_SLOT_BYTES):
            raise ValueError(f"bad shared-memory description {desc!r}")
        self.shm = shared_memory.SharedMemory(name=name)
        # Python < 3.13 registers attached blocks with the resource tracker, which would unlink the
        # worker's block when this process exits: the worker owns it, so take it off the tracker.
        try:
            resource_tracker.unregister(self.shm._name, "shared_memory")
        except Exception:
            pass
        if self.shm.size < slots * slot_bytes:
            self.shm.close()
            raise ValueError(f"shared memory {name} has {self.shm.size} bytes, {slots}x{slot_bytes} announced")
        self.slots, self.slot_bytes = slots, slot_bytes
        self.free = list(range(self.slots))

    def take(self) -> int | None:
        return self.free.pop() if self.free else None

    def read(self, slot: int, shape, dtype) -> np.ndarray:
        """Copy the frames out of `slot` and free it."""
        count = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if not 0 <= slot < self.slots or count > self.slot_bytes:
            raise ValueError(f"worker named slot {slot} of {self.slots} for {count} bytes")
        view = np.frombuffer(self.shm.buf, np.uint8, count, slot * self.slot_bytes)
        out = np.empty(shape, dtype)
        np.copyto(out.reshape(-1).view(np.uint8), view)
        self.release(slot)
        return out

    def release(self, slot: int) -> None:
        if slot not in self.free:
            self.free.append(slot)

    def reset(self) -> None:
        self.free = list(range(self.slots))

    def close(self) -> None:
        try:
            self.shm.close()
        except BufferError:
            pass
