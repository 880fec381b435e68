"""`worldsim bench fuzz --messages N`: malformed messages at a worker while a good session streams.

Every message is a valid message of some type (all 11, server-only ones included) broken in one
to three ways: a field of the wrong type or out of range, a field missing or unknown, packets with
bytes / mixed / non-string keys, NaN, deep nesting or the wrong count, another client's session,
a bad first frame or shared-memory request, a bad type byte, garbage or truncated msgpack, extra
or empty frames. Each fuzz socket sends a window of messages and then waits for one reply per
message (the protocol answers every message it receives whole). Meanwhile a good client streams
steps and checks it gets every frame, in order. Reports messages sent / answered / unanswered,
the reply codes, whether the worker lived, the good session's frames asked / received, and the
worker's memory at start and end. `--oversize K` also sends K messages with one frame over the
per-frame cap: libzmq drops such a connection without a reply (documented in docs/RELIABILITY.md).
"""
from __future__ import annotations

import collections
import json
import random
import threading
import time

import msgpack
import numpy as np
import zmq

from worldsim.bench.load import CAMERA, rss_mb
from worldsim.runtime import protocol as P
from worldsim.runtime.client import Client
from worldsim.runtime.process import WorkerProcess

_WEIRD = [None, True, -1, 0, 2 ** 63, -(2 ** 63), 2 ** 64 - 1, 1.5, float("nan"), float("inf"), "", "x" * 5000,
          b"\x00\xff", [], [[[[]]]], {}, {"a": {"b": {"c": {}}}}, {1: 2}, {b"k": "v", "k": b"v"}]


def _value(rng: random.Random, depth: int = 0):
    if depth > 3 or rng.random() < 0.5:
        return rng.choice(_WEIRD)
    if rng.random() < 0.5:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = [rng.choice(["c2w", "camera", "x", b"c2w", b"camera", "keys"]) for _ in range(rng.randint(0, 3))]
    return {k: _value(rng, depth + 1) for k in keys}


def _packets(rng: random.Random) -> list:
    good = dict(CAMERA)
    choices = [
        lambda: [{"camera": {b"c2w": CAMERA["camera"]["c2w"], "x": 1}}],          # the crash of issue 13
        lambda: [{b"camera": {"c2w": CAMERA["camera"]["c2w"]}, "camera": {}}],
        lambda: [{"camera": {"c2w": [float("nan")] * 16}}],
        lambda: [{"camera": {"c2w": [1e308] * 16}}],
        lambda: [{"camera": {"c2w": [2 ** 70] * 16}}],
        lambda: [good] * rng.randint(0, 70),
        lambda: [_value(rng) for _ in range(rng.randint(1, 5))],
        lambda: [{"camera": {"c2w": CAMERA["camera"]["c2w"][:rng.randint(0, 15)]}}],
        lambda: [{"camera": _value(rng), "pose": _value(rng)}],
        lambda: _value(rng),
    ]
    return rng.choice(choices)()


def _template(rng: random.Random, mtype: P.MsgType, victim: int) -> tuple[dict, list]:
    rid = rng.randint(-5, 10 ** 6)
    desc = {"shape": [1, 4, 4, 3], "dtype": "uint8", "encoding": "raw"}
    if mtype is P.MsgType.HELLO:
        return {"rid": rid, "version": P.PROTOCOL_VERSION, "client": "fuzz"}, []
    if mtype is P.MsgType.OPEN:
        h = {"rid": rid, "renderer": "testpattern", "seed": rng.randint(0, 9), "controls": ["camera"]}
        if rng.random() < 0.3:
            h["first_frame"] = desc
            return h, [bytes(48)]
        if rng.random() < 0.2:
            h["shm"] = rng.choice([4, 0, 99, {"name": "worldsim-x", "slots": 4, "slot_bytes": 10}])
        return h, []
    if mtype is P.MsgType.STEP:
        return {"rid": rid, "session": rng.choice([victim, 0, rng.randint(1, 200)]), "tick": rng.randint(0, 99),
                "packets": _packets(rng)}, []
    if mtype in (P.MsgType.CLOSE, P.MsgType.CLOSED):
        return {"rid": rid, "session": rng.choice([victim, rng.randint(0, 200)])}, []
    if mtype is P.MsgType.ERROR:
        return {"rid": rid, "code": "internal", "message": "x"}, []
    if mtype is P.MsgType.FRAMES:
        return {"rid": rid, "session": victim, "tick": 0, "step": 0, "frames": desc}, [bytes(48)]
    return {"rid": rid}, []


def malformed(rng: random.Random, victim: int = 1) -> list:
    """One malformed (or, now and then by chance, valid) message as multipart frames."""
    mtype = rng.choice(list(P.MsgType))
    header, payload = _template(rng, mtype, victim)
    type_byte = bytes([mtype])
    packed = None
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        if roll < 0.3 and header:
            header[rng.choice(list(header))] = _value(rng)                 # wrong type or range
        elif roll < 0.4 and header:
            header.pop(rng.choice(list(header)))                           # missing
        elif roll < 0.5:
            header[rng.choice(["extra", "slot", "shm", "first_frame", "session"])] = _value(rng)
        elif roll < 0.55:
            type_byte = rng.choice([b"", b"\x00", b"\xff", bytes([mtype, mtype]), bytes([rng.randint(12, 255)])])
        elif roll < 0.65:
            packed = rng.choice([b"", b"\xc1", b"\x93\x01", rng.randbytes(rng.randint(1, 64)),
                                 msgpack.packb([1, 2, 3]), msgpack.packb("str"), b"\xdf\xff\xff\xff\xff"])
        elif roll < 0.72:
            payload = payload + [b""] * rng.randint(1, 3)                   # extra frames
        elif roll < 0.78:
            payload = [rng.randbytes(rng.randint(0, 100))]
        elif roll < 0.85 and mtype is P.MsgType.OPEN:
            header["first_frame"] = {"shape": rng.choice([[65536] * 5, [-1, 2], [0], [2 ** 40], "x"]),
                                     "dtype": rng.choice(["uint8", "object", "float64", 3]), "encoding": "raw"}
        else:
            header["packets"] = _packets(rng)
    if packed is None:
        try:
            packed = msgpack.packb(header, use_bin_type=True)
        except (OverflowError, TypeError, ValueError):
            packed = b"\x81\xa3rid"                                        # truncated map
    return [type_byte, packed, *payload][: rng.choice([1, 2, 99, 99, 99])]


def flood(rng: random.Random, victim: int = 1) -> list:
    """A well-formed message that costs the worker work and the sender nothing: HELLO, or a STEP
    of a session that is not the sender's (the flood of issue 13)."""
    if rng.random() < 0.5:
        return P.encode(P.MsgType.HELLO, {"rid": rng.randint(0, 10 ** 6), "version": P.PROTOCOL_VERSION})
    return P.encode(P.MsgType.STEP, {"rid": rng.randint(0, 10 ** 6), "session": rng.choice([victim, 4242]),
                                     "tick": 0, "packets": [CAMERA] * 4})


def _good_stream(address: str, stop: threading.Event, out: dict) -> None:
    try:
        with Client.connect(address, timeout=30.0) as client:
            session = client.open("testpattern", seed=7, controls=["camera"])
            out["session"] = session.id
            out["ready"].set()
            expect, tick = 0, 0
            while not stop.is_set() or client.in_flight:
                while not stop.is_set() and client.in_flight < 2:
                    n = session.spec.frames_for_step(session.steps_sent)
                    client.submit_step(session, tick, [CAMERA] * n)
                    out["asked"] += n
                    tick += n
                for r in client.poll(0.5):
                    if r.error is not None:
                        out["errors"] += 1
                        continue
                    out["received"] += len(r.frames)
                    out["latency_ms"].append(r.round_trip_ms)
                    out["out_of_order"] += r.step != expect
                    expect = r.step + 1
    except Exception as err:
        out["failure"] = f"{type(err).__name__}: {err}"
        out["ready"].set()


def run(messages: int = 100_000, sockets: int = 4, window: int = 16, seed: int = 0, oversize: int = 0,
        reply_timeout_s: float = 10.0, kind: str = "malformed", progress=None) -> dict:
    """`progress(n)`, if given, is called with the number of messages each batch sent."""
    rng = random.Random(seed)
    make = flood if kind == "flood" else malformed
    process = WorkerProcess(["testpattern"], {"width": 64, "height": 48}).start()
    good = {"asked": 0, "received": 0, "errors": 0, "out_of_order": 0, "failure": None, "ready": threading.Event(),
            "latency_ms": []}
    stop = threading.Event()
    streamer = threading.Thread(target=_good_stream, args=(process.address, stop, good), daemon=True)
    streamer.start()
    good["ready"].wait(30)
    ctx = zmq.Context.instance()
    socks = []
    codes: collections.Counter = collections.Counter()
    sent = answered = 0
    mem_start, mem_samples = None, []
    t0 = time.monotonic()
    try:
        for _ in range(sockets):
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(process.address)
            socks.append(s)
        while sent < messages and process.alive():
            for s in socks:
                batch = min(window, messages - sent)
                for _ in range(batch):
                    s.send_multipart(make(rng, good.get("session", 1)))
                sent += batch
                if progress is not None:
                    progress(batch)
                for _ in range(batch):
                    if not s.poll(int(reply_timeout_s * 1000)):
                        break
                    reply = s.recv_multipart()
                    answered += 1
                    codes[_code(reply)] += 1
            if mem_start is None and sent >= min(2000, messages // 10):
                mem_start = rss_mb(process.pid)
            if sent // 10_000 > len(mem_samples):
                mem_samples.append(round(rss_mb(process.pid), 1))
        for _ in range(oversize):
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(process.address)
            s.send_multipart([bytes([P.MsgType.PING]), msgpack.packb({"rid": 1}), bytes(P.MAX_FRAME_BYTES + 1)])
            codes["oversize:" + ("answered" if s.poll(2000) else "dropped")] += 1
            s.close(0)
        mem_end = rss_mb(process.pid) if process.alive() else float("nan")
        alive = process.alive()
        with Client.connect(process.address) as check:
            pong = check.ping() if alive else {}
    finally:
        stop.set()
        streamer.join(30)
        for s in socks:
            s.close(0)
        process.stop()
    mem_start = mem_start or float("nan")
    return {"messages": sent, "answered": answered, "unanswered": sent - answered, "worker_alive": alive,
            "sessions_left": pong.get("sessions"), "codes": dict(codes.most_common()),
            "good_frames_asked": good["asked"], "good_frames_received": good["received"],
            "good_frames_lost": good["asked"] - good["received"], "good_errors": good["errors"],
            "good_out_of_order": good["out_of_order"], "good_failure": good["failure"],
            "good_step_ms_p50": float(np.percentile(good["latency_ms"], 50)) if good["latency_ms"] else None,
            "good_step_ms_p99": float(np.percentile(good["latency_ms"], 99)) if good["latency_ms"] else None,
            "good_step_ms_max": max(good["latency_ms"], default=None), "kind": kind,
            "worker_rss_mb_start": mem_start, "worker_rss_mb_end": mem_end,
            "memory_change_pct": 100.0 * (mem_end - mem_start) / mem_start,
            "worker_rss_mb_every_10k": mem_samples, "messages_per_s": sent / (time.monotonic() - t0), "seed": seed}


def _code(reply: list) -> str:
    try:
        msg = P.decode(reply)
    except P.ProtocolError:
        return "undecodable"
    return msg.header["code"] if msg.type is P.MsgType.ERROR else msg.type.name


def register(sub) -> None:
    p = sub.add_parser("fuzz", help="malformed messages at a worker while a good session streams")
    p.add_argument("--messages", type=int, default=100_000, help="messages to send (default 100000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the message generator")
    p.add_argument("--oversize", type=int, default=3, help="messages with a frame over the per-frame cap")
    p.add_argument("--window", type=int, default=16, help="messages each of the 4 fuzz sockets sends before "
                   "reading the replies")
    p.add_argument("--flood", action="store_true", help="well-formed HELLO / others' STEP messages instead "
                   "of malformed ones (a client trying to starve the others)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from tqdm import tqdm
    with tqdm(total=args.messages, desc="fuzz", unit="msg", disable=args.json) as bar:
        result = run(args.messages, window=args.window, seed=args.seed, oversize=args.oversize,
                     kind="flood" if args.flood else "malformed", progress=bar.update)
    print(json.dumps(result) if args.json else "\n".join(f"{k:<22} {v}" for k, v in result.items()))
    ok = (result["worker_alive"] and result["unanswered"] == 0 and result["good_frames_lost"] == 0
          and not result["good_errors"] and not result["good_failure"] and not result["good_out_of_order"])
    return 0 if ok else 1
