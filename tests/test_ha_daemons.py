"""Three real daemons on one real PostgreSQL, a real SMTP receiver: failover
without loss or duplicates, and a paused old leader that sends and commits nothing."""

from __future__ import annotations

import csv
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.citygen import write_city
from tests.daemon import Daemon, checked_samples
from tests.ha_cluster import LEASE_S, RENEW_S, Cluster
from tests.postgres import Postgres
from tests.smtpd import SmtpServer, delivered, free_port

REPORTS = "/api/v1/reports"
# On top of the lease: the new leader recovers from the store before it decides.
RECOVERY_S = 5.0
# Reminders due as soon as an outage opens: the kill lands in the clock's chase too.
ESCALATION = "escalation:\n  remind_before_s: 86400\n  restore_remind_before_s: 86400\n"


def mail(port: int) -> str:
    return (
        "notify:\n  email:\n    host: 127.0.0.1\n"
        f"    port: {port}\n    security: none\n    from: outaged@isp.example\n"
        "    timeout_s: 5\n"
        "  retry:\n    initial_s: 0.2\n    max_delay_s: 1\n    jitter: 0.1\n"
    )


@pytest.fixture
def city(tmp_path: Path) -> Path:
    # wide enough that three faulty buildings in three metros are no spike above them
    return write_city(tmp_path / "city", metros=16, communities=6, subs=10)


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with SmtpServer(tmp_path / "mail", free_port()) as server:
        yield server


@pytest.fixture
def cluster(tmp_path: Path, city: Path, pg: Postgres, smtp: SmtpServer) -> Iterator[Cluster]:
    c = Cluster(tmp_path, city, pg.fresh_dsn("ha"), notify=mail(smtp.port) + ESCALATION)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def subscribers(city: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    with (city.parent / "subscribers.csv").open() as f:
        for row in csv.DictReader(f):
            found.setdefault(row["element"], []).append(row["subscriber"])
    return found


# Faults in three metros: one outage each.
ROOTS = ["m1-c1-b1", "m2-c3-b2", "m3-c5-b4"]


def calm(c: Cluster, d: Daemon, city: Path) -> None:
    """Every probed element but the faulty buildings answers pings: the faults
    stay apart (nothing above them is down)."""
    doc = yaml.safe_load(city.read_text(encoding="utf-8"))
    up = [e["id"] for e in doc["elements"] if e.get("address") and e["id"] not in ROOTS]
    for _ in range(3):
        signals = [{"kind": "probe", "element": e, "ok": True} for e in up]
        got = c.post(d, "/api/v1/signals", {"signals": signals})
        assert got is not None and got[0] == 202, got


def ha_gauges(d: Daemon) -> dict[str, float]:
    """The outaged_ha_* gauges of one daemon's /metrics (which passes promtool)."""
    return {s.name: s.value for s in checked_samples(d) if s.name.startswith("outaged_ha_")}


def check_ha_metrics(c: Cluster, city: Path, members: int) -> int:
    """Each running instance's HA gauges agree with the leader's status and with
    each other: one leader, the status's epoch, `members` members, shares that add
    up to every probed element. Returns the epoch."""
    up = [d for d in c.daemons if d.proc is not None]
    leader = c.leader()
    status = c.status(leader)
    assert status is not None
    epoch = status["ha"]["epoch"]

    def seen() -> dict[Daemon, dict[str, float]] | None:
        """Each one's gauges once it has read the members and the lease again
        (a standby reads them at its next try, within renew_s)."""
        got = {d: ha_gauges(d) for d in up}
        ok = all(
            g["outaged_ha_members"] == members and g.get("outaged_ha_leader_epoch") == epoch
            for g in got.values()
        )
        return got if ok else None

    gauges = c.until(seen, 10.0)
    assert gauges is not None, {d.url: ha_gauges(d) for d in up}
    assert [d for d, g in gauges.items() if g["outaged_ha_leader"] == 1.0] == [leader]
    assert all(g["outaged_ha_leader"] in (0.0, 1.0) for g in gauges.values())
    assert all(0.0 <= g["outaged_ha_lease_age_seconds"] <= LEASE_S for g in gauges.values())
    doc = yaml.safe_load(city.read_text(encoding="utf-8"))
    probed = sum(1 for e in doc["elements"] if e.get("address"))
    shares = [g["outaged_ha_shard_elements"] for g in gauges.values()]
    assert probed > 0 and sum(shares) == probed and all(n > 0 for n in shares), shares
    return int(epoch)


def settled(c: Cluster) -> bool:
    """Everything taken in is decided and every e-mail is out."""
    inbox = c.query("SELECT COUNT(*) FROM ha_inbox")[0][0]
    queued = c.query("SELECT COUNT(*) FROM outbox WHERE state = 'queued'")[0][0]
    return bool(inbox == 0 and queued == 0)


def post_round_robin(
    c: Cluster, batches: list[list[dict[str, object]]], acked: set[str], on_half: object
) -> None:
    """Each batch to the next daemon; one that is down gets it on to the next, as
    a call centre's client would. `on_half` runs halfway."""
    n = 0
    for i, batch in enumerate(batches):
        if i == len(batches) // 2:
            on_half()  # type: ignore[operator]
        for _ in range(len(c.daemons) * 3):
            d = c.daemons[n % len(c.daemons)]
            n += 1
            got = c.post(d, REPORTS, {"reports": batch})
            if got is not None and got[0] == 202:
                acked.update(str(r["id"]) for r in batch)
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"no daemon took batch {i}")


def test_kill_9_of_the_leader_in_a_report_storm(
    cluster: Cluster, city: Path, smtp: SmtpServer
) -> None:
    """Reports round-robin to all three open one outage per root; the leader is
    killed halfway: a standby takes over within the lease, no acknowledged report
    is lost, no outage duplicated, deadlines unchanged, each e-mail once (one in
    flight at the kill may repeat, with the same Message-ID)."""
    c = cluster
    old = c.leader()
    subs = subscribers(city)
    calm(c, old, city)
    batches = [
        [{"id": f"T-{b}-{k}", "subscriber": subs[b][k], "code": 678}]
        for k in range(len(subs[ROOTS[0]]))
        for b in ROOTS
    ]
    roots = ROOTS
    acked: set[str] = set()
    before: dict[tuple[int, str], float] = {}
    killed: list[float] = []

    def kill() -> None:
        for oid, name, due in c.query("SELECT outage_id, name, due FROM deadlines"):
            before[(oid, name)] = due
        old.kill()
        killed.append(time.monotonic())

    post_round_robin(c, batches, acked, kill)
    new = c.leader(LEASE_S + RENEW_S + RECOVERY_S, other_than=old)
    status = c.status(new)
    assert status is not None and status["ha"]["epoch"] >= 2
    took = time.monotonic() - killed[0]
    assert took <= LEASE_S + RENEW_S + RECOVERY_S + 2.0, took  # +2: it was already found
    assert c.until(lambda: settled(c)), "the inbox or the outbox did not drain"

    stored = {r[0] for r in c.query("SELECT ext_id FROM signals WHERE ext_id IS NOT NULL")}
    assert acked and acked <= stored, sorted(acked - stored)[:5]
    opened = Counter(r[0] for r in c.query("SELECT root FROM outages"))
    assert opened == dict.fromkeys(roots, 1), opened
    after = {(o, n): d for o, n, d in c.query("SELECT outage_id, name, due FROM deadlines")}
    assert before and all(after[k] == due for k, due in before.items())

    rows = {r[0] for r in c.query("SELECT id FROM outbox WHERE channel = 'email'")}
    sent = {
        r[0] for r in c.query("SELECT id FROM outbox WHERE channel = 'email' AND state = 'sent'")
    }
    assert sent == rows
    got = Counter(delivered(smtp.wait_for(1)))
    assert c.until(lambda: set(Counter(delivered(smtp.messages()))) >= rows, 10)
    got = Counter(delivered(smtp.messages()))
    assert set(got) == rows  # each notification reached the receiver, nothing else
    again = [mid for mid, n in got.items() if n > 1]
    assert all(got[m] == 2 for m in again) and len(again) <= 100, again  # at most one burst


def test_a_paused_old_leader_sends_and_commits_nothing(
    cluster: Cluster, city: Path, smtp: SmtpServer
) -> None:
    """SIGSTOP the leader with e-mails waiting for a retry, past its lease; a
    standby takes over and sends them; SIGCONT: the old one sends nothing (no
    Message-ID arrives twice), commits nothing, and goes on as a standby."""
    c = cluster
    old = c.leader()
    subs = subscribers(city)
    a, b, third = ROOTS[:3]
    calm(c, old, city)

    def report(d: Daemon, building: str) -> None:
        body = {
            "reports": [
                {"id": f"T-{building}-{k}", "subscriber": s, "code": 678}
                for k, s in enumerate(subs[building][:4])
            ]
        }
        got = c.post(d, REPORTS, body)
        assert got is not None and got[0] == 202, got

    report(old, a)
    assert c.until(lambda: settled(c))
    smtp.stop()  # the old leader's next e-mails fail and wait for a retry
    report(old, b)
    assert c.until(lambda: c.query("SELECT COUNT(*) FROM outbox WHERE attempts > 0")[0][0] > 0)
    assert old.proc is not None
    os.kill(old.proc.pid, signal.SIGSTOP)
    try:
        new = c.leader(LEASE_S + RENEW_S + RECOVERY_S, other_than=old)
        smtp.start()
        report(new, third)
        assert c.until(lambda: settled(c))
        rows_before = c.query("SELECT COUNT(*) FROM outage_events")[0][0]
    finally:
        os.kill(old.proc.pid, signal.SIGCONT)
    time.sleep(3 * RENEW_S + 1.0)  # its retries and timers come due; its keeper looks
    assert c.leaders() == [new]
    got = Counter(delivered(smtp.messages()))
    assert got and max(got.values()) == 1, [m for m, n in got.items() if n > 1]
    rows = {r[0] for r in c.query("SELECT id FROM outbox WHERE channel = 'email'")}
    assert set(got) == rows
    assert c.query("SELECT COUNT(*) FROM outage_events")[0][0] == rows_before
    assert Counter(r[0] for r in c.query("SELECT root FROM outages")) == {a: 1, b: 1, third: 1}
    log = old.log_text()
    assert "no longer leads" in log and "not leading any more" in log
    # still serving, as a standby: what it takes in the leader decides
    got_back = c.post(
        old, REPORTS, {"reports": [{"id": "T-late", "subscriber": subs[a][5], "code": 678}]}
    )
    assert got_back is not None and got_back[0] == 202 and "queued" in got_back[1]
    assert c.until(lambda: c.query("SELECT COUNT(*) FROM signals WHERE ext_id = 'T-late'")[0][0])


def test_every_instance_exposes_the_ha_gauges(cluster: Cluster, city: Path) -> None:
    """/metrics of the leader and of each standby: who leads, the epoch, the
    lease's age, the members and each one's share of the probes; after the leader
    stops, the two left show the next epoch, a new leader and all the elements."""
    c = cluster
    epoch = check_ha_metrics(c, city, 3)
    old = c.leader()
    assert old.stop() == 0
    c.leader(LEASE_S + RENEW_S + RECOVERY_S, other_than=old)
    assert check_ha_metrics(c, city, 2) == epoch + 1
