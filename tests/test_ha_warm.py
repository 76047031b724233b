"""A warm standby (outaged.ha.warm) against a cold recovery of the same store.

The leader is the daemon object in-process on a real PostgreSQL (injected
clock); the standby's `Warm` reads the same database through a store of its
own, refreshing after each of the leader's steps, as a standby's views do;
then it takes over. What it leads with must be what `recover` builds from the
store at that moment: the outages, records, deadlines, the engine's evidence,
and the decisions both take next.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from outaged.ha.warm import REBASE_S, Followed, Refreshed, Warm, readopt
from outaged.outages.engine import Engine
from outaged.outages.lifecycle import Action
from outaged.records.ledger import Ledger
from outaged.recovery import recover
from outaged.signals import Category, ProbeResult, Report, Signal
from outaged.store.base import Store
from tests.citygen import write_city
from tests.inprocess import T0
from tests.postgres import Postgres
from tests.smallnet import Net, load
from tests.stores import Backend
from tests.test_release_restart import Daemon

CALLED, PROBED = "m2-c1-b4", "m1-c2-b3"  # one outage on calls, one on probes


@pytest.fixture
def net(tmp_path_factory: pytest.TempPathFactory) -> Net:
    return load(write_city(tmp_path_factory.mktemp("city")))


@pytest.fixture
async def leader(tmp_path: Path, net: Net, pg: Postgres) -> AsyncIterator[Daemon]:
    backend = Backend("postgresql", tmp_path / "unused.db", pg.fresh_dsn("warm"))
    d = Daemon(tmp_path, net, backend=backend)
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


def burst(net: Net, element: str, n: int, start: float, skip: int = 0) -> list[Signal]:
    """Calls from `n` subscribers under `element`, a second apart."""
    return [
        Report(start + i, net.index.topology.subscribers[s], Category.DOWN, s)
        for i, s in enumerate(net.subs(element, n, skip))
    ]


def probes(elements: list[str], at: float, ok: bool) -> list[Signal]:
    return [ProbeResult(at, e, ok, 1.0 if ok else None) for e in elements]


def spikes(engine: Engine) -> dict[str, Any]:
    s, b = engine.spikes, engine.spikes.baselines
    windows = {
        k: (w.depth, w.seq, list(w.events), w.free, w.children, w.communities)
        for k, w in s.windows.items()
    }
    decayed = {k: (d.count, d.at) for k, d in b._own.items()}
    city = {k: (d.count, d.at) for k, d in b._city.items()}
    learned = (b.start, b._now, b._folded, decayed, city, b._hour_count, b._hour_time)
    return {
        "windows": windows,
        "active": s.active,
        "suspected": s.suspected,
        "baselines": (*learned, list(b._recent), list(b._unsettled)),
    }


def state(ledger: Ledger, next_seq: int) -> dict[str, Any]:
    """What the next decision step starts from: outages, records, deadlines,
    the engine's evidence (each part named, for a readable difference)."""
    e = ledger.engine
    return {
        "next_seq": next_seq,
        "next_id": e.next_id,
        "outages": e.outages,
        "open": e._open_ids,
        "restored": e._restored,
        "detached": e.detached,
        "records": ledger.records,
        "deadlines": ledger.deadlines,
        "seqs": ledger.seqs,
        "health": e.health,
        "probe_evidence": e._probe_evidence,
        "healthy_below": {k: n for k, n in e._healthy_below.items() if n},
        "suspects": e._suspects,
        "flapping": e._flapping,
        "manual": e.manual,
        "uplinks": e.uplinks,
        "maintenance": e.maintenance,
        "remembered": e._remembered,
        "first_reports": e._first_reports,
        "notes": e._notes,
        **spikes(e),
    }


def differences(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


async def stored(store: Store) -> int:
    return (await store.last_ids())[1]


async def test_a_warm_standby_takes_over_with_what_a_cold_recovery_builds(
    leader: Daemon, net: Net
) -> None:
    """The standby follows calls opening an outage, probes failing under another
    building (a second outage), an ack, more calls, those probes recovering (the
    second restored), all within the minute before the baselines' first checkpoint
    is due: every refresh after its first (cold) one is warm and reads only the
    rows stored since the last; the takeover equals `recover`."""
    app = leader.running
    index, clock = app.pipeline.ledger.index, leader.clock
    lookback, policy = app._lookback(index), app.config.escalation
    backend = leader.backend
    assert backend.url is not None
    mine, cold_store = backend.store(), backend.store()
    await mine.open()
    await cold_store.open()
    warm = Warm(mine, backend.url, policy)
    down = sorted(net.below(PROBED) & set(net.probed()))
    oid = 0

    async def ack() -> None:
        await leader.act(oid, Action.ACK)

    async def repaired() -> None:  # what the calls' outage remembers is over
        await leader.act(oid, Action.RESTORE)

    steps: list[Any] = [  # within a minute: the baselines' next checkpoint is due after
        burst(net, CALLED, 8, T0),
        *(probes(down, T0 + 10.0 + 5.0 * i, False) for i in range(3)),
        ack,
        burst(net, CALLED, 4, T0 + 25.0, skip=8),
        burst(net, PROBED, 2, T0 + 30.0),  # into the probes' outage: its first report
        *(probes(down, T0 + 40.0 + 5.0 * i, True) for i in range(2)),
        repaired,
        probes(down, T0 + 50.0, True),
    ]
    seen: list[Refreshed] = [await warm.refresh(index, clock.now, lookback)]
    try:
        for step in steps:
            before = await stored(mine)
            if callable(step):
                await step()
            else:
                await leader.send(step)
                oid = oid or min(app.pipeline.ledger.records)
            done = await warm.refresh(index, clock.now, lookback)
            if done.cold is None:  # the rows stored since, not the window
                assert done.fed == await stored(mine) - before, step
            seen.append(done)
        assert [d.cold for d in seen] == ["first"] + [None] * len(steps)
        outages = app.pipeline.engine.outages
        assert {o.root for o in outages.values()} == {CALLED, PROBED}, outages
        assert [o.status.value for o in outages.values()].count("restored") == 1
        assert max(d.fed for d in seen[1:]) < await stored(mine) / 2  # the window grew

        clock.now = T0 + 56.0
        took = await warm.takeover(index, clock.now, lookback)
        cold = await recover(cold_store, index, clock.now, lookback, policy)
        assert took.cold is None
        assert state(took.ledger, took.next_seq) == state(cold.ledger, cold.next_signal_seq), (
            differences(state(took.ledger, took.next_seq), state(cold.ledger, cold.next_signal_seq))
        )
        clock.now += 1.0
        for ledger in (took.ledger, cold.ledger):
            ledger.decide(clock.now)
        a, b = took.ledger.drain(), cold.ledger.drain()
        assert a.decisions == b.decisions
        assert [(n.outage, n.why, n.to) for n in a.notices] == [
            (n.outage, n.why, n.to) for n in b.notices
        ]
        assert warm.refreshes == {"warm": len(steps) + 1, "cold": 1}
    finally:
        await warm.close()
        await mine.close()
        await cold_store.close()


def test_outages_changed_under_fed_calls_are_derived_again_as_a_cold_adopt_has_them(
    net: Net,
) -> None:
    """Pure (no store): a warm engine adopted an outage, was fed calls, then the
    outage changed (its scope grew over a sibling building, what it remembers
    went). `readopt` must leave what the intake derived from it, its first
    report and the remembered calls, as adopting the changed outage before
    those calls does; one people ended is left to a cold rebuild, untouched."""
    live = Engine(net.index)
    for call in burst(net, CALLED, 8, T0):
        live.ingest(call)
    live.evaluate(T0 + 10.0)
    (first,) = live.open_outages()
    assert first.held and first.first_report_at == T0, first
    sibling = "m2-c1-b3"
    grown = dataclasses.replace(
        first,
        scope=dataclasses.replace(first.scope, parts=("m2-c1",)),
        first_report_at=None,
        held=(),
    )
    calls = burst(net, sibling, 2, T0 + 20.0)  # under the grown scope, not the first
    cold = Engine(net.index)
    cold.adopt([grown], grown.id + 1)
    warm = Followed(net.index)
    warm.adopt([first], first.id + 1)
    warm.ingest(calls[0])
    assert readopt(warm, {first.id: first}, [grown], grown.id + 1)
    for call in calls:
        cold.ingest(call)
    warm.ingest(calls[1])
    assert cold._first_reports == {first.id: T0 + 20.0}
    assert cold._remembered == {}
    assert (warm._first_reports, warm._remembered) == (cold._first_reports, cold._remembered)
    assert spikes(warm) == spikes(cold)
    # a person ended it: its report mute cannot be applied to calls already fed
    ended = dataclasses.replace(grown, released_at=T0 + 30.0)
    before = (dict(warm.outages), dict(warm._first_reports), dict(warm._remembered))
    assert not readopt(warm, {grown.id: grown}, [ended], grown.id + 1)
    assert (warm.outages, warm._first_reports, warm._remembered) == before


async def test_a_moved_baselines_checkpoint_rebuilds_cold_and_the_takeover_still_equals(
    leader: Daemon, net: Net
) -> None:
    """Calls over three minutes: the leader writes new checkpoints of the learned
    baselines; the refresh after each is cold (a warm engine cannot take one
    in), the others warm; one after REBASE_S is cold again; the takeover equals
    `recover`."""
    app = leader.running
    index, clock = app.pipeline.ledger.index, leader.clock
    lookback, policy = app._lookback(index), app.config.escalation
    backend = leader.backend
    assert backend.url is not None
    mine, cold_store = backend.store(), backend.store()
    await mine.open()
    await cold_store.open()
    warm = Warm(mine, backend.url, policy)
    try:
        seen = [await warm.refresh(index, clock.now, lookback)]
        for k in range(6):
            await leader.send(burst(net, CALLED, 3, T0 + 35.0 * k, skip=3 * k))
            seen.append(await warm.refresh(index, clock.now, lookback))
        why = [d.cold for d in seen]
        assert "baselines checkpoint moved" in why and None in why, why
        clock.now += REBASE_S + 1.0  # and a base that old is rebuilt anyway
        assert (await warm.refresh(index, clock.now, lookback)).cold == "base older than 300 s"
        took = await warm.takeover(index, clock.now + 1.0, lookback)
        cold = await recover(cold_store, index, clock.now + 1.0, lookback, policy)
        assert state(took.ledger, took.next_seq) == state(cold.ledger, cold.next_signal_seq), (
            differences(state(took.ledger, took.next_seq), state(cold.ledger, cold.next_signal_seq))
        )
    finally:
        await warm.close()
        await mine.close()
        await cold_store.close()
