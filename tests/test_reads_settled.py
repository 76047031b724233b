"""Reads of memory show only what the store holds: a decision step's outage is
not on the call centre's bulletin while its commit may still fail.

The daemon object in-process on a real store (SQLite and PostgreSQL); another
session's write lock holds the step's commit back, so the step's outage is in
memory but not in the store while a real HTTP lookup asks for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from outaged.api.auth import token_hash
from outaged.errors import StoreUnavailable
from outaged.pipeline import Ingested, Outcome
from outaged.store.base import Token
from tests.atomic import Daemon
from tests.citygen import write_city
from tests.smallnet import Net, load
from tests.stores import Backend

BUILDING = "m1-c2-b3"
LOCK_WAIT_MS = 1500  # how long the step's commit waits behind the lock before it fails


@pytest.fixture
def net(tmp_path_factory: pytest.TempPathFactory) -> Net:
    return load(write_city(tmp_path_factory.mktemp("city"), metros=2, communities=3))


@pytest.fixture
async def daemon(tmp_path: Path, net: Net, backend: Backend) -> AsyncIterator[Daemon]:
    d = Daemon(tmp_path, net, busy_timeout_ms=LOCK_WAIT_MS, backend=backend)
    await d.start()
    await d.running.store.add_token(Token("cc", "admin", token_hash("s3cret"), d.clock()))
    try:
        yield d
    finally:
        await d.stop()


async def lookup(d: Daemon, subscriber: str) -> list[int]:
    """The open outages the bulletin names for a caller (GET /api/v1/lookup)."""
    url = f"http://127.0.0.1:{d.running.port}/api/v1/lookup"
    headers = {"Authorization": "Bearer s3cret"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params={"subscriber": subscriber}, headers=headers) as response,
    ):
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
    return sorted({m["outage"]["id"] for m in body["matches"] if m.get("outage")})


async def in_memory_not_stored(d: Daemon, step: asyncio.Task[Outcome]) -> int:
    """Wait until the step's outage is in memory while its commit waits; its id."""
    for _ in range(300):
        active = [oid for oid, r in d.running.pipeline.ledger.records.items() if r.active]
        if active:
            assert not step.done()
            assert await d.running.store.outage(active[0]) is None  # not committed
            return active[0]
        await asyncio.sleep(0.01)
    raise AssertionError("the step never took the reports in")


async def test_a_lookup_during_the_commit_waits_for_it_and_shows_the_outage(
    daemon: Daemon,
) -> None:
    d = daemon
    caller = d.net.subs(BUILDING, 11)[-1]
    assert await lookup(d, caller) == []
    unlock = d.backend.lock()
    try:
        step = asyncio.create_task(d.ingest(d.calls(BUILDING, 10)))
        oid = await in_memory_not_stored(d, step)
        read = asyncio.create_task(lookup(d, caller))
        await asyncio.sleep(0.3)
        assert not read.done()  # it waits for the commit rather than read ahead of it
    finally:
        unlock()
    outcome = await step
    assert isinstance(outcome, Ingested)
    assert await read == [oid]
    assert await d.running.store.outage(oid) is not None


async def test_a_lookup_never_shows_an_outage_whose_commit_failed(daemon: Daemon) -> None:
    d = daemon
    caller = d.net.subs(BUILDING, 11)[-1]
    unlock = d.backend.lock()  # held past the commit's lock wait: the step fails
    try:
        step = asyncio.create_task(d.ingest(d.calls(BUILDING, 10)))
        await in_memory_not_stored(d, step)
        read = asyncio.create_task(lookup(d, caller))
        with pytest.raises(StoreUnavailable):
            await step
        assert await read == []  # memory was rebuilt from the store before it read
        assert not any(r.active for r in d.running.pipeline.ledger.records.values())
    finally:
        unlock()
    outcome = await d.ingest(d.calls(BUILDING, 10))  # the retry opens it for real
    assert isinstance(outcome, Ingested)
    (oid,) = {x.outage.id for x in outcome.decisions}
    assert await lookup(d, caller) == [oid]
