"""Shared-memory frame slots between a client and a worker on the same machine.

A step's frames (736x416, 4 frames = 3.7 MB) cost two kernel copies over an ipc socket. For a
local worker the client instead creates, per session, a ring of slots in shared memory and names
a free slot in each STEP; the worker writes the frames there and FRAMES carries only the slot
number. The client copies the frames out as the reply arrives and frees the slot. A STEP without
a slot (all busy, or a remote worker) gets its frames inline as before: shared memory is only a
faster path, never a different protocol.
"""
from __future__ import annotations

import os
import uuid
from multiprocessing import resource_tracker, shared_memory

import numpy as np

PREFIX = "worldsim-"
SLOTS = 4


class FrameSlots:
    """Client side: owns the shared memory block; hands out and takes back slots."""

    def __init__(self, slot_bytes: int, slots: int = SLOTS):
        self.slot_bytes, self.slots = int(slot_bytes), int(slots)
        name = f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.shm = shared_memory.SharedMemory(name=name, create=True, size=self.slot_bytes * self.slots)
        self.free = list(range(self.slots))

    def describe(self) -> dict:
        return {"name": self.shm.name, "slots": self.slots, "slot_bytes": self.slot_bytes}

    def take(self) -> int | None:
        return self.free.pop() if self.free else None

    def read(self, slot: int, shape, dtype) -> np.ndarray:
        """Copy the frames out of `slot` and free it."""
        count = int(np.prod(shape)) * np.dtype(dtype).itemsize
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
            self.shm.unlink()                 # first: the name goes even if a view keeps the mapping alive
        except FileNotFoundError:
            pass
        try:
            self.shm.close()
        except BufferError:
            pass


class AttachedSlots:
    """Worker side: the client's block, attached by name after checking name and size."""

    def __init__(self, desc: dict):
        name, slots, slot_bytes = desc.get("name"), desc.get("slots"), desc.get("slot_bytes")
        if not (isinstance(name, str) and name.startswith(PREFIX) and len(name) < 64
                and isinstance(slots, int) and 0 < slots <= 64 and isinstance(slot_bytes, int) and 0 < slot_bytes):
            raise ValueError(f"bad shared-memory description {desc!r}")
        self.shm = shared_memory.SharedMemory(name=name)
        # Python < 3.13 registers attached blocks with the resource tracker, which would unlink the
        # client's block when this process exits: the client owns it, so take it off the tracker.
        try:
            resource_tracker.unregister(self.shm._name, "shared_memory")
        except Exception:
            pass
        if self.shm.size < slots * slot_bytes:
            self.shm.close()
            raise ValueError(f"shared memory {name} has {self.shm.size} bytes, {slots}x{slot_bytes} announced")
        self.slots, self.slot_bytes = slots, slot_bytes

    def write(self, slot: int, frames: np.ndarray) -> bool:
        """Copy frames into `slot`; False if the slot number or the size does not fit (send inline)."""
        if not 0 <= slot < self.slots or frames.nbytes > self.slot_bytes:
            return False
        view = np.frombuffer(self.shm.buf, np.uint8, frames.nbytes, slot * self.slot_bytes)
        np.copyto(view, frames.reshape(-1).view(np.uint8))
        return True

    def close(self) -> None:
        try:
            self.shm.close()
        except BufferError:
            pass
