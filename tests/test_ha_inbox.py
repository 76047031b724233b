"""The shared inbox is never blocked by a row the leader cannot decide (outaged.ha.inbox).

Real daemons on a real PostgreSQL; rows another instance (an older or newer
outaged, a bug) could have written are put in the inbox with SQL, as a
standby's Writer does. A row that cannot be read is refused at once, one
whose decision step keeps failing after MAX_TRIES tries; either way its outcome
(GET /api/v1/queued/{id}, outagectl queued) says why, the rows behind it are
decided, and the leader counts it (outaged_ha_inbox_given_up_total)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from outaged.api import queued
from outaged.cli import ctl
from outaged.ha import sql
from outaged.ha.inbox import BATCH, CHANNEL, MAX_TRIES, Reader
from outaged.notify.log import LogNotifier
from outaged.notify.outbox import Outbox
from outaged.outages.engine import Engine
from outaged.pipeline import Pipeline
from outaged.records.ledger import Ledger
from outaged.store.postgres import Connection, PostgresStore
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from tests.citygen import write_city
from tests.daemon import Daemon, checked_samples
from tests.ha_cluster import Cluster
from tests.postgres import Postgres
from tests.test_ha_standby import ROOT, ctl_run, open_outage, outcome, queue, standby


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("inbox")
    city = write_city(work / "city", metros=6, communities=2)
    c = Cluster(work, city, pg.fresh_dsn("inbox"), size=2)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def put(dsn: str, rows: list[tuple[str, str]], before_s: float = 0.0) -> list[str]:
    """(kind, payload text) rows into the inbox as a standby writes them, received
    `before_s` ago (in this order), then the NOTIFY; their ids."""
    ids = [uuid.uuid4().hex for _ in rows]
    with psycopg.connect(dsn, autocommit=True) as db, db.transaction():
        for n, (row_id, (kind, payload)) in enumerate(zip(ids, rows, strict=True)):
            db.execute(
                "INSERT INTO ha_inbox (id, received_at, via, kind, actor, payload) VALUES "
                "(%s, EXTRACT(EPOCH FROM clock_timestamp()) - %s + %s, 'test', %s, 'ops', %s)",
                (row_id, before_s, n * 1e-6, kind, payload),
            )
        db.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
    return ids


def given_up(d: Daemon) -> dict[str, float]:
    """outaged_ha_inbox_given_up_total by reason on `d`'s /metrics (which passes promtool)."""
    return {
        s.labels["reason"]: s.value
        for s in checked_samples(d)
        if s.name == "outaged_ha_inbox_given_up_total"
    }


def unreadable(n: int) -> list[tuple[str, str]]:
    """n rows the leader cannot turn into a request, of every way there is."""
    kinds = [
        ("action", "{not json"),
        ("telepathy", json.dumps({"signals": []})),
        ("signals", json.dumps({"signals": [["séance", 1.0, "x", "[]"]], "ext_ids": [None]})),
        ("signals", json.dumps({"signals": [], "ext_ids": ["only-an-id"], "idem": None})),
        ("action", json.dumps({"outage": 1, "action": "teleport", "fields": {}, "idem": None})),
        ("action", json.dumps(["a", "list"])),
        ("action", json.dumps({"outage": "seven", "action": "ack", "fields": {}})),
        ("action", json.dumps({"outage": 1, "action": "merge", "fields": {}, "idem": None})),
        ("action", json.dumps({"outage": 1, "action": "ack", "fields": {"note": 5}})),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


def test_unreadable_rows_at_the_head_are_refused_at_once_and_block_nothing(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """More unreadable rows than the leader reads at once, queued before a good
    report: the report is decided, each bad row has its refusal (422 naming
    the row, its kind, the stage and the error), the inbox is empty, the leader
    counted them, and outagectl says why in zh-CN and en."""
    c = cluster
    leader = c.leader()
    other = standby(c, leader)
    before = given_up(leader).get("unreadable", 0.0)
    bad = put(c.url, unreadable(BATCH + 100), before_s=60.0)
    good = queue(other, "/api/v1/reports", {"subscriber": f"{ROOT}-009", "code": 678})
    report = outcome(c, other, good)
    assert report["state"] == "done" and report["status"] == 202, report
    for row_id, (kind, _) in zip(bad[:9], unreadable(9), strict=True):
        found = outcome(c, other, row_id)
        assert found["state"] == "refused" and found["status"] == 422, found
        body = found["body"]
        assert body["given_up"] | {"error": ""} == {
            "row": row_id,
            "kind": kind,
            "stage": "read",
            "reason": "unreadable",
            "tries": 0,
            "error": "",
        }, body
        assert row_id in body["error"] and kind in body["error"], body
        assert body["given_up"]["error"] in body["error"], body
    assert "telepathy" in outcome(c, other, bad[1])["body"]["error"]
    assert "teleport" in outcome(c, other, bad[4])["body"]["error"]
    assert c.query("SELECT COUNT(*) FROM ha_inbox")[0][0] == 0
    assert c.query("SELECT COUNT(*) FROM ha_outcomes WHERE status = 422")[0][0] >= len(bad)
    assert given_up(leader)["unreadable"] == before + len(bad)
    assert given_up(other) == {"unreadable": 0.0, "refused": 0.0, "failing": 0.0}

    monkeypatch.setenv("OUTAGED_URL", other.url)
    monkeypatch.setenv("OUTAGED_TOKEN", other.token)

    code, text = ctl_run(capsys, "--lang", "zh-CN", "queued", bad[0])
    assert code == ctl.Exit.REJECTED, text
    assert f"排队请求 {bad[0]}（操作）无法读取，主实例已放弃" in text, text
    code, text = ctl_run(capsys, "--lang", "en", "queued", bad[0])
    assert code == ctl.Exit.REJECTED, text
    assert f"Queued request {bad[0]} (action) cannot be read; the leader gave it up" in text
    assert "Expecting property name" in text, text  # the error itself, as a detail


def test_a_request_whose_step_keeps_failing_is_given_up_after_max_tries(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An action that reads well but fails its decision step every time (a
    severity this outaged does not know): refused after MAX_TRIES steps with
    why, the outage unchanged, and an action queued behind it is done."""
    c = cluster
    leader = c.leader()
    other = standby(c, leader)
    oid = open_outage(c, leader)
    code, before = leader.call("GET", f"/api/v1/outages/{oid}")
    assert code == 200, before
    fields = {"severity": "S9", "reason": "from a newer outaged"}
    payload = {"outage": oid, "action": "severity", "fields": fields, "idem": None}
    [bad] = put(c.url, [("action", json.dumps(payload))])
    good = queue(other, f"/api/v1/outages/{oid}/actions", {"action": "ack"})
    assert outcome(c, other, good)["state"] == "done"
    found = outcome(c, other, bad)
    assert found["state"] == "refused" and found["status"] == 422, found
    body = found["body"]
    assert body["given_up"]["reason"] == "failing", body
    assert body["given_up"]["stage"] == "decide" and body["given_up"]["tries"] == MAX_TRIES
    assert "S9" in body["given_up"]["error"], body
    code, after = leader.call("GET", f"/api/v1/outages/{oid}")
    assert after["severity"] == before["severity"] and after["state"] == "acknowledged", after
    assert c.query("SELECT COUNT(*) FROM ha_inbox")[0][0] == 0
    assert given_up(leader)["failing"] == 1.0

    monkeypatch.setenv("OUTAGED_URL", other.url)
    monkeypatch.setenv("OUTAGED_TOKEN", other.token)
    capsys.readouterr()
    exit_code = ctl.main(["--lang", "zh-CN", "queued", bad])
    text = "".join(capsys.readouterr())
    assert exit_code == ctl.Exit.REJECTED, text
    assert f"排队请求 {bad}（操作）的决策步骤连续失败 {MAX_TRIES} 次，主实例已放弃" in text


# ---- fencing: the real reader and store, no daemon --------------------------


async def test_a_deposed_leader_writes_no_outcome(tmp_path: Path, pg: Postgres) -> None:
    """The reader's refusals are one fenced transaction: under an epoch the lease
    has moved past, the unreadable row stays in the inbox with no outcome and
    nothing is counted; under the lease's epoch it is finished."""
    dsn = pg.fresh_dsn("fenced")
    epoch = [1]

    def fence(db: Connection) -> None:
        sql.check_epoch_sync(db, epoch[0], 1.0)

    store = PostgresStore(dsn, fence=fence)
    await store.open()
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(
            "INSERT INTO ha_lease (name, holder, epoch, acquired_at, renewed_at, expires_at) "
            "VALUES (%s, 'other', 2, 0, 0, 1e12)",
            (sql.LEASE,),
        )
    [row] = put(dsn, [("action", "{broken")])
    topology = load_topology(write_city(tmp_path / "city"))
    pipeline = Pipeline(
        Ledger(Engine(GraphIndex.build(topology))),
        store,
        Outbox({"log": LogNotifier()}),
        next_signal_seq=1,
    )
    counts: Counter[str] = Counter()
    reader = Reader(dsn, pipeline, 0.1, refuse=queued.given_up, given_up=counts)
    task = asyncio.create_task(reader.run())
    try:
        await asyncio.sleep(1.0)  # ten polls, each trying to finish it
        assert await store.queued(row) is True  # pending: still in the inbox
        assert counts == Counter()
        epoch[0] = 2  # this instance leads the lease's epoch now
        for _ in range(100):
            if counts:
                break
            await asyncio.sleep(0.05)
        found = await store.queued(row)
        assert not isinstance(found, bool) and found.status == 422, found
        assert json.loads(found.body)["given_up"]["row"] == row
        assert counts == Counter({"unreadable": 1})
    finally:
        reader.stop()
        await task
        await store.close()
