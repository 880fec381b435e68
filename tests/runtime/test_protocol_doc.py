"""docs/protocol.md says what the code does: every message type with its number, every field with
whether it is required, every error code, every limit with its value."""
import re
from pathlib import Path

import pytest

from worldsim.runtime import protocol as P
from worldsim.runtime import scheduling, sessions, shm, worker_io

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
LIMITS = {name: getattr(module, name) for module, names in [
    (P, [n for n in vars(P) if n.startswith("MAX_")] + ["PROTOCOL_VERSION"]),
    (scheduling, ["INBOX_QUOTA", "CONTROL_SLICE", "STEP_DEADLINE_S"]),
    (sessions, ["SESSION_IDLE_S"]),
    (worker_io, ["HEARTBEAT_IVL_MS", "HEARTBEAT_TIMEOUT_MS"]),
    (shm, ["SLOTS", "MAX_SLOT_BYTES"])] for name in names}


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
