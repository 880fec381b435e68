"""Wire protocol between client (DEALER) and worker (ROUTER).

A message is multipart: ``[type (1 byte)] [header (msgpack map)] [payload frames...]``.
Frames and images travel as raw payload frames described in the header (shape, dtype, encoding);
headers are validated against a schema per type. Never pickle, never eval.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

PROTOCOL_VERSION = 3                  # 2: the worker names shared-memory slots; 3: snapshots, shared sessions
MAX_HEADER_BYTES = 64 * 1024          # a header larger than this is refused
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024  # one payload frame (e.g. 4 frames of 1280x720 RGB = 11 MB)
MAX_PAYLOAD_FRAMES = 1                # no message takes more than one payload frame
MAX_FRAME_BYTES = MAX_PAYLOAD_BYTES   # ZMQ_MAXMSGSIZE (per frame): a larger frame drops the connection
MAX_MESSAGE_FRAMES = 2 + MAX_PAYLOAD_FRAMES
MAX_MESSAGE_BYTES = 1 + MAX_HEADER_BYTES + MAX_PAYLOAD_FRAMES * MAX_PAYLOAD_BYTES   # all frames together
MAX_PACKETS_PER_STEP = 64
MAX_SESSIONS_PER_WORKER = 64          # the default of a worker's own limit (`worldsim serve --max-sessions N`)
MAX_SESSIONS_PER_WORKER_BOUND = 1024  # the largest limit a worker may be given
MAX_SESSIONS_PER_CLIENT = 8
MAX_PENDING_STEPS = 8                 # per session; more is a client that does not wait for frames
MAX_SHM_SLOTS = 8
MAX_SNAPSHOT_BYTES = MAX_PAYLOAD_BYTES  # a snapshot travels as one payload frame
MAX_SPECTATORS = 16                   # per session
MAX_WATCHED_PER_CLIENT = 8            # sessions one client watches
MAX_WATCHES = 4                       # WATCH requests of one spectator waiting for frames
SPECTATOR_QUEUE = 8                   # frames kept for a spectator that is not asking; then the oldest drops
DTYPES = ("uint8", "float16", "float32")


class MsgType(enum.IntEnum):
    HELLO = 1
    WELCOME = 2
    OPEN = 3
    OPENED = 4
    STEP = 5
    FRAMES = 6
    CLOSE = 7
    CLOSED = 8
    PING = 9
    PONG = 10
    ERROR = 11
    SNAPSHOT = 12      # -> STATE: the session's state as bytes (safetensors + JSON, worldsim.snapshot)
    STATE = 13
    RESTORE = 14       # + the bytes of a STATE -> RESTORED
    RESTORED = 15
    JOIN = 16          # a join token -> JOINED: watch that session as a spectator
    JOINED = 17
    WATCH = 18         # spectator: answered by FRAMES of the controller's next (or oldest kept) step
    HANDOVER = 19      # controller: give control to a spectator -> CONTROL (role spectator)
    CONTROL = 20       # your role changed: to the old controller (reply) and the new one (rid -1 or its WATCH)


class ErrorCode(str, enum.Enum):
    BAD_REQUEST = "bad_request"
    VERSION = "version"
    UNKNOWN_SESSION = "unknown_session"
    OVERLOADED = "overloaded"
    INTERNAL = "internal"
    FORBIDDEN = "forbidden"       # a wrong join token, or a spectator doing what only the controller may


class ProtocolError(ValueError):
    """A message that does not follow the protocol; carries the ERROR code and the request id if known."""

    def __init__(self, code: ErrorCode, message: str, rid: int = -1, session: int = -1,
                 retry_s: float | None = None):
        super().__init__(message)
        self.code, self.rid, self.session, self.retry_s = code, rid, session, retry_s


@dataclass
class Message:
    type: MsgType
    header: dict
    payload: list = field(default_factory=list)   # bytes-like frames (zmq.Frame / memoryview / bytes)


# ---- schemas ---------------------------------------------------------------------------------
# field -> (python types, required, limit); limit is the max length for str/list, (lo, hi) for ints.
_I64 = (-(2 ** 62), 2 ** 62)
_U32 = (0, 2 ** 32 - 1)
_SEED = (0, 2 ** 62)
_ARRAY = {"shape": (list, True, 5), "dtype": (str, True, 16), "encoding": (str, True, 16)}
SCHEMAS: dict[MsgType, dict[str, tuple]] = {
    MsgType.HELLO: {"rid": (int, True, _I64), "version": (int, True, _U32), "client": (str, False, 128)},
    MsgType.WELCOME: {"rid": (int, True, _I64), "version": (int, True, _U32), "renderers": (list, True, 256),
                      "specs": (dict, True, 256), "worker": (str, False, 256)},
    MsgType.OPEN: {"rid": (int, True, _I64), "renderer": (str, True, 64), "seed": (int, False, _SEED),
                   "prompt": (str, False, 4096), "controls": (list, False, 16), "first_frame": (dict, False, 3),
                   "shm": (int, False, (1, MAX_SHM_SLOTS))},   # ask the worker for this many frame slots
    MsgType.OPENED: {"rid": (int, True, _I64), "session": (int, True, _U32), "spec": (dict, True, 64),
                     "shm": (dict, False, 3),                    # {name, slots, slot_bytes}: made by the worker
                     "token": (str, False, 128)},                # the join token spectators need
    MsgType.STEP: {"rid": (int, True, _I64), "session": (int, True, _U32), "tick": (int, True, _I64),
                   "packets": (list, True, MAX_PACKETS_PER_STEP), "slot": (int, False, (0, 63))},
    MsgType.FRAMES: {"rid": (int, True, _I64), "session": (int, True, _U32), "tick": (int, True, _I64),
                     "step": (int, True, _I64), "frames": (dict, True, 3), "timings": (dict, False, 16),
                     "slot": (int, False, (0, 63)), "dropped": (int, False, _I64)},   # dropped: spectators
    MsgType.CLOSE: {"rid": (int, True, _I64), "session": (int, True, _U32)},
    MsgType.CLOSED: {"rid": (int, True, _I64), "session": (int, True, _U32)},
    MsgType.PING: {"rid": (int, True, _I64)},
    MsgType.PONG: {"rid": (int, True, _I64), "sessions": (int, True, _U32), "pending": (int, True, _U32),
                   "load": (float, False, None)},
    MsgType.ERROR: {"rid": (int, True, _I64), "code": (str, True, 32), "message": (str, True, 4096),
                    "session": (int, False, _I64), "retry_s": (float, False, (0.0, 3600.0))},
    MsgType.SNAPSHOT: {"rid": (int, True, _I64), "session": (int, True, _U32)},
    MsgType.STATE: {"rid": (int, True, _I64), "session": (int, True, _U32), "step": (int, True, _I64)},
    MsgType.RESTORE: {"rid": (int, True, _I64), "session": (int, True, _U32)},
    MsgType.RESTORED: {"rid": (int, True, _I64), "session": (int, True, _U32), "step": (int, True, _I64)},
    MsgType.JOIN: {"rid": (int, True, _I64), "token": (str, True, 128)},
    MsgType.JOINED: {"rid": (int, True, _I64), "session": (int, True, _U32), "renderer": (str, True, 64),
                     "spec": (dict, True, 64), "seed": (int, True, _SEED), "step": (int, True, _I64),
                     "viewer": (int, True, _U32)},
    MsgType.WATCH: {"rid": (int, True, _I64), "session": (int, True, _U32)},
    MsgType.HANDOVER: {"rid": (int, True, _I64), "session": (int, True, _U32), "to": (int, False, _U32)},
    MsgType.CONTROL: {"rid": (int, True, _I64), "session": (int, True, _U32), "role": (str, True, 16),
                      "step": (int, True, _I64), "viewer": (int, False, _U32)},
}
# (min, max) payload frames; FRAMES has none when its frames are in a shared-memory slot
_PAYLOAD_FRAMES = {MsgType.OPEN: (0, 1), MsgType.FRAMES: (0, 1), MsgType.STATE: (1, 1), MsgType.RESTORE: (1, 1)}


def _check_field(name: str, value: Any, types, limit, rid: int) -> None:
    if types is float and isinstance(value, int) and not isinstance(value, bool):
        return
    if types is float and isinstance(value, float):
        if limit is not None and not limit[0] <= value <= limit[1]:   # NaN fails too
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"field {name!r}={value} out of range {limit}", rid)
        return
    if not isinstance(value, types) or isinstance(value, bool):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"field {name!r} must be {types.__name__}, got {type(value).__name__}", rid)
    if limit is None:
        return
    if isinstance(limit, tuple):
        if not limit[0] <= value <= limit[1]:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"field {name!r}={value} out of range {limit}", rid)
    elif len(value) > limit:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"field {name!r} too long ({len(value)} > {limit})", rid)


def validate_header(mtype: MsgType, header: Any) -> dict:
    if not isinstance(header, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{mtype.name} header must be a map, got {type(header).__name__}")
    rid = header.get("rid", -1)
    # echo only a request id the reply can carry: an ERROR with an out-of-range rid would not decode
    rid = rid if type(rid) is int and _I64[0] <= rid <= _I64[1] else -1
    schema = SCHEMAS[mtype]
    for name in header:
        if name not in schema:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"{mtype.name}: unknown field {name!r}", rid)
    for name, (types, required, limit) in schema.items():
        if name not in header:
            if required:
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"{mtype.name}: missing field {name!r}", rid)
            continue
        _check_field(name, header[name], types, limit, rid)
    if mtype is MsgType.STEP:
        check_packets(header["packets"], rid)
    return header


def check_packets(packets: list, rid: int = -1) -> None:
    """The shape every packet must have before anything looks inside: a map of str -> map of str."""
    for i, packet in enumerate(packets):
        if type(packet) is not dict or len(packet) > 16:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"packet {i} must be a map of at most 16 control kinds", rid)
        for kind, part in packet.items():
            if type(kind) is not str:
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"packet {i}: control kinds must be strings, "
                                    f"got {type(kind).__name__}", rid)
            if type(part) is not dict or not all(type(k) is str for k in part):
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"packet {i}[{kind!r}] must be a map with string keys", rid)


def validate_array_desc(desc: Any, rid: int = -1) -> tuple[tuple[int, ...], np.dtype]:
    """Check an array description {shape, dtype, encoding} and return (shape, dtype)."""
    if not isinstance(desc, dict) or set(desc) != set(_ARRAY):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "array description needs exactly shape, dtype, encoding", rid)
    for name, (types, required, limit) in _ARRAY.items():
        _check_field(name, desc[name], types, limit, rid)
    if desc["encoding"] != "raw":
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"unsupported encoding {desc['encoding']!r} (supported: raw)", rid)
    if desc["dtype"] not in DTYPES:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"unsupported dtype {desc['dtype']!r} (supported: {DTYPES})", rid)
    shape = desc["shape"]
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= 65536 for n in shape):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"bad shape {shape!r}", rid)
    dtype = np.dtype(desc["dtype"])
    if math.prod(shape) * dtype.itemsize > MAX_PAYLOAD_BYTES:     # Python ints: no overflow
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"array of shape {shape} exceeds {MAX_PAYLOAD_BYTES} bytes", rid)
    return tuple(shape), dtype


# ---- encode / decode --------------------------------------------------------------------------
def describe(array: np.ndarray) -> dict:
    return {"shape": list(array.shape), "dtype": array.dtype.name, "encoding": "raw"}


def encode(mtype: MsgType, header: dict, payload: list | None = None) -> list:
    """Message -> multipart frames. Payload arrays are passed through without copying."""
    return [bytes((mtype,)), msgpack.packb(header, use_bin_type=True), *(payload or [])]


def decode(frames: list) -> Message:
    """Multipart frames -> validated Message. Raises ProtocolError with a clear reason."""
    if len(frames) < 2:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"a message needs at least 2 frames (type, header), got {len(frames)}")
    tbytes = bytes(frames[0])
    if len(tbytes) != 1 or tbytes[0] not in MsgType._value2member_map_:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"unknown message type {tbytes[:8]!r}", peek_rid(frames))
    mtype = MsgType(tbytes[0])
    raw = frames[1].buffer if hasattr(frames[1], "buffer") else frames[1]
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"header of {len(raw)} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        header = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as err:  # msgpack raises several types for garbage
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"header is not valid msgpack: {err}") from None
    header = validate_header(mtype, header)
    payload = list(frames[2:])
    lo, hi = _PAYLOAD_FRAMES.get(mtype, (0, 0))
    if not lo <= len(payload) <= hi:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{mtype.name} takes {lo}..{hi} payload frames, got {len(payload)}",
                            header.get("rid", -1))
    return Message(mtype, header, payload)


def array_from_payload(desc: dict, frame, rid: int = -1) -> np.ndarray:
    """Payload frame + description -> read-only numpy view (zero-copy)."""
    shape, dtype = validate_array_desc(desc, rid)
    buf = frame.buffer if hasattr(frame, "buffer") else memoryview(frame)
    expected = math.prod(shape) * dtype.itemsize
    if len(buf) != expected:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"payload has {len(buf)} bytes, shape {shape} {dtype} needs {expected}", rid)
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


def error(rid: int, code: ErrorCode, message: str, session: int = -1, retry_s: float | None = None) -> list:
    header = {"rid": rid if _I64[0] <= rid <= _I64[1] else -1, "code": code.value, "message": message[:4000]}
    if 0 <= session <= _I64[1]:
        header["session"] = session
    if retry_s is not None:
        header["retry_s"] = float(min(max(retry_s, 0.0), 3600.0))
    return encode(MsgType.ERROR, header)


def peek_rid(frames: list) -> int:
    """The request id of a message that will be refused anyway (-1 when there is none to echo)."""
    if len(frames) < 2 or len(frames[1]) > MAX_HEADER_BYTES:
        return -1
    try:
        header = msgpack.unpackb(frames[1].buffer if hasattr(frames[1], "buffer") else frames[1], raw=False)
    except Exception:
        return -1
    rid = header.get("rid", -1) if isinstance(header, dict) else -1
    return rid if type(rid) is int and _I64[0] <= rid <= _I64[1] else -1
