"""`/readyz` tells the truth about the decision loop (issue 7 §5).

A daemon whose decision steps keep failing is not ready, and says why; it is
ready again once a step commits. The failure is real: a table the commit needs
is renamed away under the running daemon (tests/daemon.py, real SQLite).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.citygen import write_city
from tests.daemon import Daemon, running_daemon

API = "/api/v1"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    with running_daemon(tmp_path, write_city(tmp_path / "city", metros=2, communities=3)) as d:
        up = [{"kind": "probe", "element": e, "ok": True} for e in ("egress-1", "core-1", "m1")]
        for _ in range(3):
            assert d.call("POST", f"{API}/signals", {"signals": up})[0] == 202
        yield d


def rename(d: Daemon, table: str, to: str) -> None:
    with sqlite3.connect(d.db) as db:
        db.execute(f"ALTER TABLE {table} RENAME TO {to}")


def manual(d: Daemon, element: str) -> int:
    status, _ = d.call("POST", f"{API}/signals", {"kind": "manual", "element": element})
    return status


def test_readyz_says_not_ready_while_decision_steps_fail(daemon: Daemon) -> None:
    d = daemon
    assert d.call("GET", "/readyz", token=None)[0] == 200
    rename(d, "outage_events", "outage_events_away")  # every decision has a timeline entry
    for number, element in enumerate(("m1-c1-b4", "m1-c2-b4", "m1-c3-b4"), start=1):
        assert manual(d, element) == 503
        status, body = d.call("GET", "/readyz", token=None)
        if number < 3:  # one failure may be passing trouble: still ready
            assert status == 200, body
    assert status == 503, body
    assert body["status"] == "failing"
    assert "the last 3 decision steps failed" in body["reason"]
    assert "outage_events" in body["reason"], body
    assert d.call("GET", "/healthz", token=None)[0] == 200  # alive, just not ready
    rename(d, "outage_events_away", "outage_events")
    assert manual(d, "m1-c3-b4") == 202
    status, body = d.call("GET", "/readyz", token=None)
    assert status == 200 and body["status"] == "ready", body
