"""docs/protocol.md says what the code does: every message type with its number, every field with
whether it is required, its direction and payload frames, every error code, every limit with its
value, the protocol version."""
import contextlib
import io
import re
from pathlib import Path

import pytest

from worldsim.runtime import protocol as P
from worldsim.runtime import client_share, scheduling, sessions, shm, worker_io
from worldsim.runtime.worker import Worker

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
LIMITS = {name: getattr(module, name) for module, names in [
    (P, [n for n in vars(P) if n.startswith("MAX_")] + ["PROTOCOL_VERSION", "SPECTATOR_QUEUE"]),
    (scheduling, ["INBOX_QUOTA", "CONTROL_SLICE", "STEP_DEADLINE_S"]),
    (sessions, ["SESSION_IDLE_S"]),
    (worker_io, ["HEARTBEAT_IVL_MS", "HEARTBEAT_TIMEOUT_MS"]),
    (shm, ["SLOTS", "MAX_SLOT_BYTES"]),
    (client_share, ["WATCH_WINDOW"])] for name in names}


def section(heading: str) -> str:
    """The text under `heading` up to the next heading of any level."""
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#)", DOC + "\n#", flags=re.S | re.M)
    assert match, f"docs/protocol.md has no section {heading!r}"
    return match.group(1)


def rows(text: str) -> dict[str, list[str]]:
    """Table rows keyed by their first cell's `name`."""
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and cells[0].startswith("`"):
            out[cells[0].strip("`")] = cells[1:]
    return out


@pytest.mark.parametrize("mtype", list(P.MsgType), ids=lambda t: t.name)
def test_every_message_and_field_is_documented(mtype):
    table = rows(section(f"{mtype.name} ({mtype.value})"))
    assert set(table) == set(P.SCHEMAS[mtype]), f"{mtype.name}: fields in the doc vs the code"
    for name, (_, required, _) in P.SCHEMAS[mtype].items():
        assert table[name][1] == ("yes" if required else "no"), f"{mtype.name}.{name}: required?"


def test_every_error_code_is_documented():
    assert set(rows(section("Error codes"))) == {code.value for code in P.ErrorCode}


def test_every_limit_is_documented_with_its_value():
    table = rows(section("Limits"))
    assert len(LIMITS) > 15
    for name, value in LIMITS.items():
        assert name in table, f"limit {name} is not in docs/protocol.md"
        assert table[name][0] == str(value), f"{name}: the doc says {table[name][0]}, the code {value}"


def test_the_title_names_the_protocol_version():
    assert DOC.startswith(f"# The worker protocol (version {P.PROTOCOL_VERSION})\n")
    hello = rows(section(f"HELLO ({P.MsgType.HELLO.value})"))
    assert re.search(rf"\bmust be {P.PROTOCOL_VERSION}\b", hello["version"][2])
    assert rows(section(f"WELCOME ({P.MsgType.WELCOME.value})"))["version"][2] == str(P.PROTOCOL_VERSION)
    assert re.search(rf"\bis not {P.PROTOCOL_VERSION}\b", rows(section("Error codes"))["version"][0])


def test_every_message_names_its_payload_frames():
    """The table under "Payload frames" is the code's: every message with any, with their count."""
    table = {name: cells[0] for name, cells in rows(section("Payload frames")).items()}
    want = {t.name: str(lo) if lo == hi else f"{lo}..{hi}" for t, (lo, hi) in P._PAYLOAD_FRAMES.items()}
    assert table == want


def worker_refuses(mtype: P.MsgType) -> bool:
    """Whether a worker answers `mtype` with "a worker does not accept" (it is a worker's reply)."""
    probe = Worker.__new__(Worker)               # no sockets, no sessions: only the dispatch runs
    sent = []
    probe.stats = {"errors": 0}
    probe._send = lambda identity, frames: sent.append(P.decode(frames))
    with contextlib.redirect_stderr(io.StringIO()):  # requests it takes fail on the missing state
        probe._handle(b"probe", P.Message(mtype, {"rid": 7}), 0.0)
    assert len(sent) == 1 and sent[0].type is P.MsgType.ERROR and sent[0].header["rid"] == 7
    return "does not accept" in sent[0].header["message"]


def test_every_message_has_the_direction_of_the_code():
    """C→W: the worker takes it; W→C: the worker refuses it, and the doc lists it among those."""
    directions = {}
    for mtype in P.MsgType:
        first = section(f"{mtype.name} ({mtype.value})").strip().split()[0]
        assert first.rstrip(",;:") in ("C→W", "W→C"), f"{mtype.name}: the section starts with {first!r}"
        directions[mtype] = first.rstrip(",;:")
    for mtype, direction in directions.items():
        if mtype is P.MsgType.PING:              # the IO thread answers it; the main thread never sees one
            assert direction == "C→W"
            continue
        assert worker_refuses(mtype) == (direction == "W→C"), f"{mtype.name}: the doc says {direction}"
    listed = re.search(r"a type it does not take \(([^)]*)\)", DOC.replace("\n", " "))
    assert listed, "the doc does not list the types a worker does not take"
    assert {n.strip() for n in listed.group(1).split(",")} == {t.name for t, d in directions.items() if d == "W→C"}


def test_the_session_limit_is_the_workers_setting():
    """The doc states MAX_SESSIONS_PER_WORKER as the default of `worldsim serve --max-sessions N`,
    its bound, and what a full worker answers; the CLI has that default and that bound."""
    from worldsim.cli import build_parser
    table = rows(section("Limits"))
    past = table["MAX_SESSIONS_PER_WORKER"][1]
    assert "`worldsim serve --max-sessions N`" in past and "`overloaded`" in past and "`retry_s`" in past
    assert f"1..{P.MAX_SESSIONS_PER_WORKER_BOUND}" in table["MAX_SESSIONS_PER_WORKER_BOUND"][1]
    assert build_parser().parse_args(["serve"]).max_sessions == P.MAX_SESSIONS_PER_WORKER
    open_text = " ".join(section(f"OPEN ({P.MsgType.OPEN.value})").split())
    assert "`worldsim serve --max-sessions N`" in open_text and "`overloaded`" in open_text
