"""kill -9 with running deadlines (issue 10 §2): after the restart, what came due while
the daemon was down goes out once, late, saying so, and the deadlines do not move.

The real daemon, a real SMTP server process (aiosmtpd on loopback). The daemon keeps
the real clock, so "an hour passed while it was down" is made by moving the stored
due times of one outage an hour back while the process is dead: the rows are the
clock's only source of truth, which is what is under test.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.citygen import write_city
from tests.daemon import PROBES_OFF, Daemon
from tests.smtpd import SmtpServer, free_port
from tests.test_notify_email import calm, detail, email_config, manual, until

SHIFT_S = 50 * 60.0  # what the stored clock pretends passed while the daemon was dead


@pytest.fixture
def started() -> Iterator[list[Daemon]]:
    running: list[Daemon] = []
    yield running
    for d in running:
        d.kill()


def _move_back(d: Daemon, oid: int) -> dict[str, float]:
    with closing(sqlite3.connect(d.db)) as db, db:
        db.execute(
            "UPDATE deadlines SET due = due - ?, set_at = set_at - ? WHERE outage_id = ?",
            (SHIFT_S, SHIFT_S, oid),
        )
        rows = db.execute("SELECT name, due FROM deadlines WHERE outage_id = ?", (oid,))
        return {name: due for name, due in rows}


def _recipients(smtp: SmtpServer) -> list[str]:
    """Who got a mail after the first two (dispatch, leadership)."""
    return sorted(str(m["X-Rcpt-To"]) for m in smtp.messages()[2:])


def _clock_mails(smtp: SmtpServer) -> list[tuple[str, str]]:
    found = []
    for m in smtp.messages():
        event = str(m["Message-ID"]).split(".")[4].split("@")[0]
        if event in ("reminder", "escalation", "assign", "reassigned"):
            found.append((event, str(m["X-Rcpt-To"])))
    return sorted(found)


def test_kill_9_with_running_deadlines_then_restart_sends_each_overdue_step_once_late(
    tmp_path: Path, started: list[Daemon]
) -> None:
    city = write_city(tmp_path / "city", metros=2, communities=3, subs=10)
    port = free_port()
    (tmp_path / "d").mkdir()
    d = Daemon(tmp_path / "d", city, probes=PROBES_OFF + email_config(port, None))
    started.append(d)
    with SmtpServer(tmp_path / "mail", port) as smtp:
        d.start()
        calm(d)
        oid = manual(d, "m1-c2")  # S3: dispatched to ops; boss is leadership and the roster
        smtp.wait_for(2)
        assert _clock_mails(smtp) == []  # nothing was due yet
        d.kill()
        moved = _move_back(d, oid)
        d.start()
        # ack_15/30 passed: a reminder to ops; ack_45 passed: reassigned to boss (an
        # "assign" to boss, the notice to ops); judge passed: escalated to boss. Several
        # messages to one person at once go as one digest (docs/notifications.md).
        assert until(lambda: _recipients(smtp) == ["boss@example.com", "ops@example.com"], 20.0)
        rows = d.query_db("SELECT event, recipient FROM outbox WHERE outage_id = ?", oid)
        clock_rows = sorted(
            r for r in rows if r[0] in ("reminder", "escalation", "assign", "reassigned")
        )
        assert clock_rows == [
            ("assign", "boss"),
            ("escalation", "boss"),
            ("reassigned", "ops"),
            ("reminder", "ops"),
        ]
        body = detail(d, oid)
        late = [e for e in body["timeline"] if e["kind"] in ("reminder", "escalation")]
        assert late and all(e["payload"]["late"] is True for e in late)
        missed = {
            e["payload"]["deadline"] for e in body["timeline"] if e["kind"] == "deadline_missed"
        }
        assert {"judge", "ack_15", "ack_30", "ack_45"} <= missed
        assert body["assignee"] == "boss"
        after = {x["name"]: x for x in body["deadlines"]}
        with closing(sqlite3.connect(f"file:{d.db}?mode=ro", uri=True)) as db:
            stored = dict(db.execute("SELECT name, due FROM deadlines WHERE outage_id = ?", (oid,)))
        assert {n: stored[n] for n in moved} == moved  # the clock did not move them
        assert after["ack_next"]["owner"] == "boss"  # who must answer within 15 min
        # Once: another kill -9 and restart sends nothing more.
        d.kill()
        d.start()
        time.sleep(2.0)
        assert _recipients(smtp) == ["boss@example.com", "ops@example.com"]  # nothing twice
        steps = [e for e in detail(d, oid)["timeline"] if e["kind"] == "deadline_missed"]
        assert len(steps) == len({e["payload"]["deadline"] for e in steps})
