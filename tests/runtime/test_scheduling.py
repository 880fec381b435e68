"""Units of the worker's fairness and session lifetime: FairInbox and SessionTable."""
from __future__ import annotations

import pytest

from worldsim.runtime import protocol as P
from worldsim.runtime.scheduling import FairInbox
from worldsim.runtime.sessions import Session, SessionTable


def test_the_inbox_takes_one_request_per_client_in_turn_and_enforces_the_quota():
    inbox = FairInbox(quota=5)
    assert all(inbox.put(b"flood", ("flood", i)) for i in range(5))
    assert not inbox.put(b"flood", ("flood", 5))          # over quota: refused, nothing queued
    inbox.put(b"good", ("good", 0))
    inbox.put_control("stop")                             # the worker's own messages come first
    assert inbox.take(3) == ["stop", ("flood", 0), ("good", 0)]
    assert inbox.take(10) == [("flood", i) for i in range(1, 5)]
    inbox.put(b"gone", 1), inbox.put(b"gone", 2), inbox.put(b"stays", 3)
    assert inbox.drop(b"gone") == 2 and inbox.take(10) == [3] and len(inbox) == 0
    assert not inbox.wait(0.01)


def _session(sid: int, owner: bytes) -> Session:
    return Session(sid, owner, "testpattern", ["camera"], state=None)


def test_the_table_limits_sessions_per_client_and_per_worker_and_says_when_to_retry():
    table = SessionTable(max_sessions=3, max_per_client=2, idle_s=30.0)
    seen = {b"a": 0.0, b"b": 0.0}
    table.add(_session(1, b"a")), table.add(_session(2, b"a"))
    with pytest.raises(P.ProtocolError, match="per client") as err:
        table.check_room(b"a", 7, seen)
    assert err.value.code is P.ErrorCode.OVERLOADED and err.value.rid == 7
    table.add(_session(3, b"b"))
    with pytest.raises(P.ProtocolError, match="retry in") as err:
        table.check_room(b"c", 8, seen)
    assert err.value.retry_s >= 1.0


def test_idle_sessions_are_found_and_freed_ones_say_why():
    table = SessionTable(idle_s=30.0)
    table.add(_session(1, b"quiet")), table.add(_session(2, b"talks"))
    seen = {b"quiet": 0.0, b"talks": 100.0}
    assert [s.id for s in table.idle(seen, now=110.0)] == [1]
    table.remove(1, "freed after 30 s idle")
    with pytest.raises(P.ProtocolError, match="idle") as err:
        table.owned(b"quiet", 1, 5)
    assert err.value.code is P.ErrorCode.UNKNOWN_SESSION
    with pytest.raises(P.ProtocolError, match="no session 2"):
        table.owned(b"someone else", 2, 6)                # another client's session is not theirs
