"""A failed decision step changes nothing, in memory or on disk (issue 7 §2).

Each test reproduces one failure the issue names, on the real daemon object
and a real store, SQLite and PostgreSQL (the `backend` fixture): a write lock
held by a second connection past the busy timeout / lock_timeout, a lone
surrogate in a note / ticket id / actor, an outage id above 2^63, and a report
the database refuses inside a step shared with an innocent one.
After each, memory equals the store (tests/atomic.py) and the retry works.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from outaged.api.auth import token_hash
from outaged.errors import NotFoundError, SignalError, StoreUnavailable, UnstorableError
from outaged.notify.base import Sent
from outaged.outages.lifecycle import Action
from outaged.outages.model import Event
from outaged.pipeline import Ingested
from outaged.records.model import Record
from outaged.signals import ProbeResult, Trap, TrapKind
from outaged.store.base import Token
from tests.atomic import ACTOR, Daemon
from tests.citygen import write_city
from tests.smallnet import Net, load
from tests.stores import Backend

BUILDING = "m1-c2-b3"


@pytest.fixture
def net(tmp_path_factory: pytest.TempPathFactory) -> Net:
    return load(write_city(tmp_path_factory.mktemp("city"), metros=2, communities=3))


@pytest.fixture
async def daemon(tmp_path: Path, net: Net, backend: Backend) -> AsyncIterator[Daemon]:
    d = Daemon(tmp_path, net, backend=backend)
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


async def open_one(d: Daemon) -> int:
    outcome = await d.ingest(d.calls(BUILDING, 10))
    assert isinstance(outcome, Ingested)
    opened = [x.outage.id for x in outcome.decisions if x.event is Event.OPENED]
    assert len(opened) == 1, outcome.decisions
    return opened[0]


def signal_rows(d: Daemon) -> int:
    return d.backend.count("SELECT COUNT(*) FROM signals")


async def test_a_lock_past_the_busy_timeout_changes_nothing_and_the_retry_is_not_409(
    daemon: Daemon,
) -> None:
    d = daemon
    oid = await open_one(d)
    unlock = d.backend.lock()  # another process writes for longer than the 5 s busy timeout
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            await d.act(oid, Action.ACK, note="on my way")
        assert d.state(oid) == "dispatched"  # memory did not keep the ack
        assert d.running.pipeline.rebuilds == 1
        with pytest.raises(StoreUnavailable, match="locked"):  # asked at once: no rebuild
            await d.act(oid, Action.ACK, note="on my way")
        with pytest.raises(StoreUnavailable):
            await d.ingest(d.calls("m1-c3-b1", 3))
        assert d.running.pipeline.rebuilds == 1
        await d.assert_memory_is_store()  # reads still work under the lock (WAL)
    finally:
        unlock()
    record = await d.act(oid, Action.ACK, note="on my way")  # the retry: not "already"
    assert isinstance(record, Record) and record.state.value == "acknowledged"
    timeline = await d.running.store.timeline(oid)
    assert [(e.kind, e.actor) for e in timeline if e.kind == "ack"] == [("ack", ACTOR)]
    await d.assert_memory_is_store()
    await d.restart()
    assert d.state(oid) == "acknowledged"


async def test_a_lone_surrogate_in_a_note_is_refused_naming_it_and_changes_nothing(
    daemon: Daemon,
) -> None:
    d = daemon
    oid = await open_one(d)
    with pytest.raises(SignalError) as refused:
        await d.act(oid, Action.ACK, note="broken \ud800 text")
    assert [p.field for p in refused.value.problems] == ["note"]
    assert "surrogate" in refused.value.problems[0].message
    assert d.state(oid) == "dispatched"
    assert d.running.pipeline.rebuilds == 0  # refused before the step touched anything
    await d.assert_memory_is_store()
    record = await d.act(oid, Action.ACK, note="on my way")
    assert isinstance(record, Record) and record.state.value == "acknowledged"
    await d.assert_memory_is_store()


async def test_a_lone_surrogate_in_a_ticket_id_or_actor_is_refused_and_stores_nothing(
    daemon: Daemon,
) -> None:
    d = daemon
    before = signal_rows(d)
    two = d.calls(BUILDING, 2)
    with pytest.raises(SignalError) as refused:
        await d.ingest(two, ["T-1", "T-\udcff"])
    assert [p.field for p in refused.value.problems] == ["signals[1].id"]
    with pytest.raises(SignalError) as refused:
        await d.ingest(two[:1], ["T-1"], actor="cc\udc80")
    assert [p.field for p in refused.value.problems] == ["actor"]
    assert signal_rows(d) == before
    assert d.running.pipeline.rebuilds == 0
    await d.assert_memory_is_store()
    outcome = await d.ingest(two, ["T-1", "T-2"])
    assert isinstance(outcome, Ingested) and outcome.accepted == 2


async def test_an_outage_id_past_2_63_is_unknown_and_its_neighbour_in_the_step_commits(
    daemon: Daemon,
) -> None:
    d = daemon
    oid = await open_one(d)
    bad, good = await asyncio.gather(
        d.act(2**64, Action.ACK), d.act(oid, Action.ACK), return_exceptions=True
    )
    assert isinstance(bad, NotFoundError), bad
    assert isinstance(good, Record) and good.state.value == "acknowledged", good
    await d.assert_memory_is_store()


async def test_a_report_the_database_refuses_fails_alone_and_the_innocent_one_commits(
    daemon: Daemon,
) -> None:
    d = daemon
    d.backend.poison("T-poison")
    bad, good = await asyncio.gather(  # queued together: one decision step
        d.ingest(d.calls(BUILDING, 1), ["T-poison"]),
        d.ingest(d.calls(BUILDING, 1, skip=1), ["T-good"]),
        return_exceptions=True,
    )
    assert isinstance(bad, UnstorableError), bad
    assert "poisoned row" in str(bad)
    assert isinstance(good, Ingested) and good.accepted == 1, good
    assert d.running.pipeline.rebuilds >= 1  # it did fail together first
    assert await d.running.store.known_ext_ids(["T-poison", "T-good"]) == {"T-good"}
    await d.assert_memory_is_store()
    # The innocent report counts: nine more open the outage (ten in all).
    oid = await open_one_more(d, 8)
    assert d.state(oid) == "dispatched"


async def open_one_more(d: Daemon, n: int) -> int:
    outcome = await d.ingest(d.calls(BUILDING, n, skip=2))
    assert isinstance(outcome, Ingested)
    opened = [x.outage.id for x in outcome.decisions if x.event is Event.OPENED]
    assert len(opened) == 1, outcome.decisions
    return opened[0]


async def test_over_http_the_refused_report_is_422_and_the_innocent_one_202(
    daemon: Daemon,
) -> None:
    d = daemon
    d.backend.poison("T-poison")
    await d.running.store.add_token(Token("cc", "admin", token_hash("s3cret"), d.clock()))
    url = f"http://127.0.0.1:{d.running.port}/api/v1/reports"
    headers = {"Authorization": "Bearer s3cret"}
    subs = d.net.subs(BUILDING, 2)

    async def post(
        session: aiohttp.ClientSession, ticket: str, sub: str
    ) -> tuple[int, dict[str, Any]]:
        body = {"id": ticket, "subscriber": sub, "category": "down"}
        async with session.post(url, json=body, headers=headers) as response:
            return response.status, await response.json()

    async with aiohttp.ClientSession() as session:
        (bad, bad_body), (good, good_body) = await asyncio.gather(
            post(session, "T-poison", subs[0]), post(session, "T-good", subs[1])
        )
    assert bad == 422 and "cannot be stored" in bad_body["error"], bad_body
    assert good == 202 and good_body["accepted"] == 1, good_body
    await d.assert_memory_is_store()


async def test_a_delivery_report_waits_out_a_locked_store_and_is_then_recorded(
    tmp_path: Path, net: Net, backend: Backend
) -> None:
    d = Daemon(tmp_path, net, busy_timeout_ms=100, backend=backend)
    await d.start()
    try:
        oid = await open_one(d)
        store, pipeline = d.running.store, d.running.pipeline

        async def sent() -> int:
            return sum(e.kind == "notification_sent" for e in await store.timeline(oid))

        for _ in range(100):  # the log channel delivers at once; its report commits
            if await sent():
                break
            await asyncio.sleep(0.05)
        before = await sent()
        assert before >= 1
        message = (await store.outbox(oid))[0]
        unlock = d.backend.lock()
        try:
            pipeline.delivered(message, Sent(message.id), True)  # what the outbox says next
            for _ in range(20):
                await asyncio.sleep(0.05)
                if pipeline.failed_steps:
                    break
            assert pipeline.failed_steps >= 1
            assert await sent() == before
            await d.assert_memory_is_store()
        finally:
            unlock()
        for _ in range(100):  # kept in the queue, recorded once the lock is gone
            if await sent() > before:
                break
            await asyncio.sleep(0.05)
        assert await sent() == before + 1
        await d.assert_memory_is_store()
    finally:
        await d.stop()


async def test_a_trap_waits_out_a_locked_store_a_probe_result_does_not(
    tmp_path: Path, net: Net, backend: Backend
) -> None:
    """Issue 7 acceptance §2/§4: a one-shot linkDown sunk while the store was locked
    was dropped with the probe results; it is kept for the next step now (a probe
    repeats every cycle: it may go). Fails without the backlog."""
    d = Daemon(tmp_path, net, busy_timeout_ms=100, backend=backend)
    await d.start()
    try:
        await open_one(d)
        pipeline = d.running.pipeline
        before = signal_rows(d)
        unlock = d.backend.lock()
        try:
            now = d.clock()
            pipeline.sink(Trap(now, "m1-c1", TrapKind.LINK_DOWN, 3))
            pipeline.sink(ProbeResult(now, "m1-c1-b1", False, None))
            for _ in range(40):
                await asyncio.sleep(0.05)
                if pipeline.failed_steps >= 2:
                    break
            assert pipeline.failed_steps >= 2  # refused more than once, kept each time
            assert signal_rows(d) == before
        finally:
            unlock()
        for _ in range(200):
            if signal_rows(d) > before:
                break
            await asyncio.sleep(0.05)
        rows = d.backend.query("SELECT kind, element FROM signals ORDER BY seq")
        assert rows[before:] == [("trap", "m1-c1")], rows[before:]
        await d.assert_memory_is_store()
    finally:
        await d.stop()
