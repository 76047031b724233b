"""What a standby answers: real daemons on a real PostgreSQL.

A standby answers 202 with a Location; the leader stores its decision in the
commit that makes it; GET /api/v1/queued/{id} on every instance gives it, a
refusal with the very status and body the leader answers directly. And a
standby's in-memory views (bulletin, board, element health) follow the
leader's commits (outaged.ha.views)."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outaged.cli import ctl
from tests.citygen import write_city
from tests.daemon import Daemon
from tests.ha_cluster import LEASE_S, RENEW_S, Cluster
from tests.postgres import Postgres

ROOT = "m1-c1-b1"
TAKEOVER_S = LEASE_S + RENEW_S + 5.0  # the lease, then the new leader's recovery
# docs/deploy/ha.md: a standby's views follow a commit within poll_s (0.5 s here) +
# views.MIN_GAP_S (1 s) + twice a rebuild; a rebuild of this small city is well
# under a second even on a loaded machine
VIEWS_S = 0.5 + 1.0 + 2 * 1.0


@pytest.fixture
def cluster(tmp_path: Path, pg: Postgres) -> Iterator[Cluster]:
    city = write_city(tmp_path / "city", metros=6, communities=2)
    c = Cluster(tmp_path, city, pg.fresh_dsn("queued"), size=2)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def standby(c: Cluster, leader: Daemon) -> Daemon:
    return next(d for d in c.daemons if d is not leader)


def open_outage(c: Cluster, leader: Daemon) -> int:
    """Down reports from one building, to the leader: one outage, its id."""
    for i in range(8):
        body = {"subscriber": f"{ROOT}-{i:03d}", "code": 678}
        got = c.post(leader, "/api/v1/reports", body)
        assert got is not None and got[0] == 202, got
    code, body = leader.call("GET", "/api/v1/outages")
    assert code == 200, body
    found = [o["id"] for o in body["outages"] if o["root"] == ROOT]
    assert len(found) == 1, body
    return int(found[0])


def queue(d: Daemon, path: str, body: dict[str, Any]) -> str:
    """POST to a standby: 202 with the id and a Location naming it."""
    code, answer = d.call("POST", path, body)
    assert code == 202 and "queued" in answer, (code, answer)
    location = d.last_headers["Location"]
    assert location == f"/api/v1/queued/{answer['queued']}" == answer["location"]
    return str(answer["queued"])


def outcome(c: Cluster, d: Daemon, queued_id: str) -> dict[str, Any]:
    """Its outcome read from `d`, once decided."""

    def decided() -> dict[str, Any] | None:
        code, body = d.call("GET", f"/api/v1/queued/{queued_id}")
        assert code == 200, body
        return None if body["state"] == "pending" else dict(body)

    found = c.until(decided, TAKEOVER_S + 10.0)
    assert found is not None, f"{queued_id} still pending on {d.url}"
    return dict(found)


def ctl_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """`outagectl ARGV` in this process: its exit code and all it printed."""
    capsys.readouterr()
    code = ctl.main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def test_a_refused_queued_action_gives_its_refusal_on_every_instance(cluster: Cluster) -> None:
    """A close the outage's state does not allow, queued on a standby: every
    instance then answers it refused with the leader's own 409 and body; an
    allowed action queued the same way is done, with the state it led to."""
    c = cluster
    leader = c.leader()
    other = standby(c, leader)
    oid = open_outage(c, leader)
    path = f"/api/v1/outages/{oid}/actions"
    refused_id = queue(other, path, {"action": "close"})
    outcome(c, other, refused_id)
    direct = leader.call("POST", path, {"action": "close"})  # in the same state
    assert direct[0] == 409, direct
    done_id = queue(other, path, {"action": "ack"})
    for d in c.daemons:
        refused = outcome(c, d, refused_id)
        assert refused["state"] == "refused" and refused["kind"] == "action", refused
        assert (refused["status"], refused["body"]) == direct, refused
        assert refused["body"]["refused"]["action"] == "close"
        done = outcome(c, d, done_id)
        assert done["state"] == "done" and done["status"] == 200, done
        assert done["body"] == {"outage": oid, "action": "ack", "state": "acknowledged"}
    assert c.query("SELECT COUNT(*) FROM ha_inbox")[0][0] == 0
    code, body = other.call("GET", "/api/v1/queued/" + "0" * 32)
    assert code == 404 and body["problems"][0]["field"] == "id", body


def test_outagectl_on_a_standby_says_the_leaders_decision(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`outagectl` pointed at a standby waits for the queued action's outcome: a
    refusal exits as the leader's 409 would (zh-CN text), an accepted action
    says the state it led to (en)."""
    c = cluster
    leader = c.leader()
    other = standby(c, leader)
    oid = open_outage(c, leader)
    monkeypatch.setenv("OUTAGED_URL", other.url)
    monkeypatch.setenv("OUTAGED_TOKEN", other.token)

    code, text = ctl_run(capsys, "--lang", "zh-CN", "close", str(oid))
    assert code == ctl.Exit.CONFLICT, text
    assert "操作被拒绝" in text and "不能执行" in text, text
    code, text = ctl_run(capsys, "--lang", "en", "arrive", str(oid))
    assert code == 0, text
    assert f"Outage {oid}: arrived on site decided by the leader; now on site." in text, text
    # the leader's decisions
    code, text = ctl_run(capsys, "--lang", "en", "report-fault", "m2-c1-b1")
    assert code == 0 and "Manual fault on" in text, text
    assert re.search(r"Outage \d+ \(S\d\) covers it\.", text), text


def test_a_leader_restarted_before_deciding_loses_no_queued_outcome(cluster: Cluster) -> None:
    """The leader is paused, a report and an action are queued on the standby
    (pending there), the leader is killed and started again: whichever instance
    leads next decides both, and both instances give the outcomes."""
    c = cluster
    leader = c.leader()
    other = standby(c, leader)
    oid = open_outage(c, leader)
    assert leader.proc is not None
    os.kill(leader.proc.pid, signal.SIGSTOP)
    try:
        report_id = queue(
            other, "/api/v1/reports", {"id": "Q-1", "subscriber": f"{ROOT}-009", "code": 678}
        )
        action_id = queue(other, f"/api/v1/outages/{oid}/actions", {"action": "reopen"})
        for queued_id in (report_id, action_id):
            code, body = other.call("GET", f"/api/v1/queued/{queued_id}")
            assert (code, body) == (200, {"id": queued_id, "state": "pending"})
    finally:
        os.kill(leader.proc.pid, signal.SIGCONT)
        leader.kill()
    leader.start()
    for d in c.daemons:
        report = outcome(c, d, report_id)
        assert report["state"] == "done" and report["status"] == 202, report
        assert report["body"]["accepted"] == 1, report
        action = outcome(c, d, action_id)
        assert action["state"] == "refused" and action["status"] == 409, action
        assert action["body"]["refused"]["action"] == "reopen", action
    assert c.query("SELECT COUNT(*) FROM signals WHERE ext_id = 'Q-1'")[0][0] == 1


def test_a_standby_shows_what_the_leader_decided_within_the_bound(cluster: Cluster) -> None:
    """Reports decided by the leader open an outage: a standby's bulletin lookup
    and element health show it within VIEWS_S, with no request to the standby
    in between (it was answering from its startup's memory before)."""
    c = cluster
    leader = c.leader()
    other = standby(c, leader)
    lookup = f"/api/v1/lookup?subscriber={ROOT}-000"
    code, before = other.call("GET", lookup)
    assert code == 200 and [m["outage"] for m in before["matches"]] == [None], before
    oid = open_outage(c, leader)
    committed = time.monotonic()

    def shown() -> bool:
        code, body = other.call("GET", lookup)
        assert code == 200, body
        return [(m["outage"] or {}).get("id") for m in body["matches"]] == [oid]

    assert c.until(shown, VIEWS_S + 5.0), f"outage {oid} not in the standby's bulletin"
    took = time.monotonic() - committed
    assert took <= VIEWS_S, took
    code, element = other.call("GET", f"/api/v1/elements/{ROOT}")
    assert code == 200 and [o["id"] for o in element["open_outages"]] == [oid], element
    # caught up warm (outaged.ha.warm): each refresh read the rows stored since, not the window
    code, status = other.call("GET", "/api/v1/status")
    assert code == 200, status
    held = status["ha"]["standby"]
    assert held["refreshes"]["warm"] >= 1, held
    stored = c.query("SELECT COUNT(*) FROM signals")[0][0]
    assert held["signal_rows_read"]["warm"] <= stored, (held, stored)
