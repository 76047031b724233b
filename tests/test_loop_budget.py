"""The decision loop never holds the event loop past its budget (a big batch is
taken in by chunks, the loop answering between them, and the step says it was
slow in the log and the metrics), and the heap is frozen once the topology is
loaded (and again, collecting the old one, on reload)."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import weakref
from pathlib import Path

import aiohttp
import pytest

from outaged.heap import freeze_loaded
from outaged.outages.model import Decision, Event
from outaged.pipeline import Ingested
from outaged.signals import ProbeResult, Signal
from outaged.step_items import CHUNK
from outaged.steps import STEP_BUDGET_S, Step
from tests.atomic import Daemon
from tests.citygen import write_city
from tests.smallnet import load


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


async def test_a_step_past_its_budget_lets_other_tasks_run() -> None:
    ran: list[str] = []

    async def health_check() -> None:
        ran.append("healthz")

    step = Step()
    step.held_since = time.monotonic() - 2 * STEP_BUDGET_S  # held the loop too long
    task = asyncio.create_task(health_check())
    await step.pace()
    assert ran == ["healthz"] and step.yields == 1
    await task


async def test_a_step_within_its_budget_keeps_going() -> None:
    ran: list[str] = []

    async def health_check() -> None:
        ran.append("healthz")

    step = Step()
    step.held_since = time.monotonic() + 3600  # just got the loop back
    task = asyncio.create_task(health_check())
    await step.pace()
    assert ran == [] and step.yields == 0
    await task
    assert ran == ["healthz"]


def test_freeze_keeps_what_is_loaded_and_a_reload_frees_the_old() -> None:
    old = _Node()
    alive = weakref.ref(old)
    try:
        freeze_loaded()
        assert gc.get_freeze_count() > 0
        del old  # the old topology after a reload: garbage, but frozen
        gc.collect()
        assert alive() is not None  # frozen objects are out of the collector's way
        freeze_loaded()  # the reload's freeze collects what the old load left
        assert alive() is None
    finally:
        gc.unfreeze()


BUILDING = "m1-c2-b3"
ROUNDS = 40  # probe results per probed element (38) in the one batch: several chunks


async def test_a_big_batch_lets_health_checks_through_between_its_chunks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One step of a batch bigger than a chunk, with a budget every chunk exceeds:
    /healthz and /readyz are answered while it is half taken in, and what they see
    is the state before the step (its outage is there only once committed); the
    step is logged as slow and counted in the metrics."""
    net = load(write_city(tmp_path / "city", metros=2, communities=3))
    d = Daemon(tmp_path, net)
    app = await d.start()
    try:
        app.pipeline.budget_s = 0.0  # every look at the budget finds it spent
        engine = app.pipeline.engine
        taken: list[Signal] = []
        ingest = engine.ingest

        def counted(signal: Signal) -> None:
            ingest(signal)
            taken.append(signal)

        engine.ingest = counted  # type: ignore[method-assign]
        probes: list[Signal] = []
        for _ in range(ROUNDS):
            probes += [ProbeResult(d.clock(), element, True, 1.0) for element in net.probed()]
        batch = probes + d.calls(BUILDING, 10)  # the calls last: decided after every chunk
        assert len(batch) > 4 * CHUNK
        seen: list[tuple[int, str, int]] = []  # (signals taken in, path, open outages)
        url = f"http://127.0.0.1:{app.port}"
        async with aiohttp.ClientSession() as session:

            async def check(path: str) -> None:
                async with session.get(url + path) as response:
                    assert response.status == 200
                    body = await response.json()
                seen.append((len(taken), path, body.get("open_outages", -1)))

            await check("/readyz")  # connected before the step begins
            caplog.set_level(logging.WARNING, "outaged.pipeline")
            reply = app.pipeline.queue_signals(batch, [None] * len(batch), "cc")
            for _ in range(1000):  # bounded: one step of a few thousand signals
                if reply.done():
                    break
                await check("/healthz")
                await check("/readyz")
            outcome = await reply
            await check("/readyz")
        assert isinstance(outcome, Ingested) and outcome.accepted == len(batch)
        assert [x.event for x in outcome.decisions] == [Event.OPENED]
        between = [(n, path, o) for n, path, o in seen if 0 < n < len(batch)]
        assert {path for _, path, _ in between} == {"/healthz", "/readyz"}, seen
        assert all(o == 0 for _, path, o in between if path == "/readyz")  # not yet decided
        assert seen[-1] == (len(batch), "/readyz", 1)  # committed: there
        ours = f"({len(batch)} signals in"  # any step is over a budget of 0: this one's line
        slow = [r.getMessage() for r in caplog.records if ours in r.getMessage()]
        assert len(slow) == 1 and slow[0].startswith("slow decision step: "), slow
        yielded = int(slow[0].split("yielded ", 1)[1].split()[0])
        assert yielded >= len(batch) // CHUNK
        over = app.registry.get_sample_value("outaged_decision_steps_over_budget_total")
        held = app.registry.get_sample_value("outaged_decision_step_loop_held_seconds_count")
        assert over is not None and over >= 1.0 and held is not None and held >= over
    finally:
        await d.stop()


async def test_a_step_within_its_budget_lets_waiting_requests_in_before_its_election(
    tmp_path: Path,
) -> None:
    """A request that arrives while a step takes its signals in is answered before
    the election, even when the step is within its budget: one hold of the loop
    is the intake or the election, never both."""
    net = load(write_city(tmp_path / "city", metros=2, communities=3))
    d = Daemon(tmp_path, net)
    app = await d.start()
    try:
        app.pipeline.budget_s = 3600.0  # never past it: no chunk stands aside
        app.pipeline.interval_s = 0.0  # nor does it wait to gather a burst
        order: list[str] = []
        loop = asyncio.get_running_loop()
        engine, ledger = app.pipeline.engine, app.pipeline.ledger
        ingest, decide = engine.ingest, ledger.decide

        def taking(signal: Signal) -> None:
            if not order:  # a request's handler, ready to run from the first signal on
                order.append("intake")
                loop.call_soon(order.append, "request")
            ingest(signal)

        def deciding(now: float) -> list[Decision]:
            order.append("election")
            return decide(now)

        engine.ingest = taking  # type: ignore[method-assign]
        ledger.decide = deciding  # type: ignore[method-assign]
        outcome = await d.ingest(d.calls(BUILDING, 10))
        assert isinstance(outcome, Ingested) and outcome.decisions  # it did elect
        assert order[:3] == ["intake", "request", "election"], order
    finally:
        await d.stop()
