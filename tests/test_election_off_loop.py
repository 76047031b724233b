"""A long election does not hold the event loop: /healthz is answered while it
runs; what iterates memory (/readyz, the bulletin) waits for it.

The daemon object in-process on SQLite with its real HTTP API; the step's
election is made long by spinning the CPU (holding the GIL, as a city-wide
storm's election does) on its thread before the real one. The checks are on
the order of events, not on how fast anything is.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import aiohttp
import pytest

from outaged.api.auth import token_hash
from outaged.outages.model import Decision
from outaged.pipeline import Ingested, Pipeline
from outaged.records.ledger import Ledger
from outaged.store.base import Token
from tests.atomic import Daemon
from tests.citygen import write_city
from tests.smallnet import Net, load
from tests.stores import Backend

BUILDING = "m1-c2-b3"
SPIN_S = 1.5  # CPU the election spins before it decides


@pytest.fixture
def net(tmp_path_factory: pytest.TempPathFactory) -> Net:
    return load(write_city(tmp_path_factory.mktemp("city"), metros=2, communities=3))


@pytest.fixture
async def daemon(tmp_path: Path, net: Net) -> AsyncIterator[Daemon]:
    d = Daemon(tmp_path, net, backend=Backend("sqlite", tmp_path / "state" / "outaged.db"))
    await d.start()
    await d.running.store.add_token(Token("cc", "admin", token_hash("s3cret"), d.clock()))
    try:
        yield d
    finally:
        await d.stop()


def slow_elections(ledger: Ledger, ended: list[float]) -> None:
    """Each decide with an election to run spins SPIN_S of CPU first (on the thread
    it runs on); `ended` gets the time each such decide returned."""
    decide = ledger.decide

    def slow(now: float) -> list[Decision]:
        if not ledger.engine.dirty:
            return decide(now)
        end = time.monotonic() + SPIN_S
        while time.monotonic() < end:  # pure Python: the GIL is held, as in a storm
            pass
        decided = decide(now)
        ended.append(time.monotonic())
        return decided

    ledger.decide = slow  # type: ignore[method-assign]


async def get(d: Daemon, path: str) -> tuple[int, float]:
    """(status, time.monotonic() when the answer was in)."""
    url = f"http://127.0.0.1:{d.running.port}{path}"
    headers = {"Authorization": "Bearer s3cret"}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        await response.read()
        return response.status, time.monotonic()


async def test_healthz_is_answered_during_a_long_election_readyz_after_it(daemon: Daemon) -> None:
    d = daemon
    ended: list[float] = []
    slow_elections(d.running.pipeline.ledger, ended)
    caller = d.net.subs(BUILDING, 11)[-1]
    step = asyncio.create_task(d.ingest(d.calls(BUILDING, 10)))
    for _ in range(500):  # until the election's thread runs
        if not d.running.pipeline._quiet.is_set():
            break
        await asyncio.sleep(0.005)
    else:
        raise AssertionError("no election began")
    healthz = [await get(d, "/healthz") for _ in range(3)]  # one after the other, meanwhile
    ready = asyncio.create_task(get(d, "/readyz"))
    looked = asyncio.create_task(get(d, f"/api/v1/lookup?subscriber={caller}"))
    outcome = await step
    assert isinstance(outcome, Ingested) and outcome.decisions
    (election_end,) = ended
    assert all(status == 200 for status, _ in healthz)
    assert all(at < election_end for _, at in healthz), (healthz, election_end)
    ready_status, ready_at = await ready
    looked_status, looked_at = await looked
    assert ready_status == 200 and ready_at > election_end
    assert looked_status == 200 and looked_at > election_end


class _Loop:
    """What `Pipeline._off_loop` uses of the pipeline: its `quiet` event."""

    def __init__(self) -> None:
        self._quiet = asyncio.Event()
        self._quiet.set()


async def test_a_cancelled_step_leaves_quiet_clear_until_its_elections_thread_ends() -> None:
    """Shutdown may cancel a step while its election runs: what iterates memory
    must still wait for the thread, not for the cancelled await."""
    loop = _Loop()
    began, release = threading.Event(), threading.Event()

    def decide(now: float) -> list[Decision]:
        began.set()
        release.wait(10)
        return []

    step = asyncio.create_task(Pipeline._off_loop(cast(Pipeline, loop), decide, 0.0))
    assert await asyncio.to_thread(began.wait, 10)
    step.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await step
    await asyncio.sleep(0.05)
    assert not loop._quiet.is_set()  # the thread still runs
    release.set()
    await asyncio.wait_for(loop._quiet.wait(), 10)
