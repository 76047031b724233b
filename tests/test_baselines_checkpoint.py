"""The learned report baselines' checkpoint (outaged.correlate.baselines `export`
/ `restore`, outaged/store/learned.py, migration 9): what the store holds after
whole and partial exports, on both stores; an upgrade from schema 8; a restart
drops the rows of elements the topology lost; the daemon's decision step writes
it with the signals it belongs to. That a restart on it decides as the live
engine did: tests/test_replay_divergence.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from outaged.correlate.baselines import Snapshot
from outaged.correlate.spikes import Call, ReportClass
from outaged.recovery import recover
from outaged.signals import Category, Report, Signal
from outaged.store.base import Batch, Learned, StoredSignal
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from tests.atomic import Daemon
from tests.citygen import write_city
from tests.smallnet import load
from tests.stores import Backend

T0 = 1_790_000_000.0
HOURS = tuple(float(h) for h in range(24))
Rows = dict[tuple[str, str], tuple[float, float] | None]


def _snapshot(
    own: dict[tuple[str, str], tuple[float, float] | None], whole: bool, now: float = T0
) -> Snapshot:
    return Snapshot(
        T0 - 86400.0,
        now,
        now - 30.0,
        now - 1800.0,
        HOURS,
        {"down": HOURS[::-1]},
        {"down": (12.5, now - 3.0)},
        own,
        whole,
    )


async def test_whole_and_partial_exports_leave_the_merged_rows(backend: Backend) -> None:
    store = backend.store()
    await store.open()
    assert await store.learned() is None
    first: Rows = {("b1", "down"): (1.5, T0 - 10.0), ("b2", "down"): (0.25, T0 - 20.0)}
    await store.commit(Batch(learned=Learned(7, _snapshot(dict(first), whole=True))))
    assert await store.learned() == Learned(7, _snapshot(dict(first), whole=True))
    later = T0 + 60.0
    change: dict[tuple[str, str], tuple[float, float] | None] = {
        ("b1", "down"): (2.5, later),  # changed
        ("b2", "down"): None,  # swept
        ("b3", "degraded"): (1.0, later),  # new
    }
    await store.commit(Batch(learned=Learned(9, _snapshot(change, whole=False, now=later))))
    merged: Rows = {("b1", "down"): (2.5, later), ("b3", "degraded"): (1.0, later)}
    assert await store.learned() == Learned(9, _snapshot(merged, whole=True, now=later))
    replaced: Rows = {("b4", "down"): (3.0, later)}
    await store.commit(Batch(learned=Learned(10, _snapshot(dict(replaced), whole=True))))
    found = await store.learned()
    assert found is not None and found.baselines.own == replaced and found.seq == 10
    await store.close()


async def test_a_schema_8_store_is_upgraded_with_its_data(backend: Backend) -> None:
    store = backend.store()
    await store.open()
    report = Report(T0, "m1-c1-b1", Category.DOWN, "m1-c1-b1-001")
    await store.commit(Batch(signals=[StoredSignal(1, report, T0)]))
    await store.close()
    backend.write("DROP TABLE learned_counts", [()])
    backend.write("DROP TABLE learned", [()])
    backend.write("DELETE FROM schema_version WHERE version = ?", [(9,)])
    store = backend.store()
    await store.open()  # migration 9 again, on a store with data
    assert backend.query("SELECT MAX(version) FROM schema_version") == [(9,)]
    assert [s.signal for s in await store.signals_since(T0 - 1)] == [report]
    assert await store.learned() is None
    await store.commit(Batch(learned=Learned(1, _snapshot({("b1", "down"): (1.0, T0)}, True))))
    assert backend.count("SELECT COUNT(*) FROM learned_counts") == 1
    await store.close()


async def test_a_restart_drops_the_rows_of_elements_no_longer_in_the_topology(
    tmp_path: Path, backend: Backend
) -> None:
    index = GraphIndex.build(load_topology(write_city(tmp_path / "city")))
    assert "m1-c1-b1" in index.topology.elements and "m9-gone" not in index.topology.elements
    store = backend.store()
    await store.open()
    rows: dict[tuple[str, str], tuple[float, float] | None] = {
        ("m1-c1-b1", "down"): (2.0, T0 - 5.0),
        ("m9-gone", "down"): (4.0, T0 - 5.0),
    }
    await store.commit(Batch(learned=Learned(0, _snapshot(rows, whole=True))))
    done = await recover(store, index, T0 + 1.0)
    baselines = done.ledger.engine.spikes.baselines
    counted = {(e, str(c)) for e, c in baselines._own}
    assert counted == {("m1-c1-b1", "down")}
    assert baselines.start == T0 - 86400.0  # the learned time came back too
    exported = baselines.export(T0 + 1.0)
    assert exported is not None and exported.whole  # the first of this process replaces all
    await store.commit(Batch(learned=Learned(0, exported)))
    left = backend.query("SELECT element FROM learned_counts")
    assert left == [("m1-c1-b1",)]
    await store.close()


def test_an_export_leaves_out_the_unsettled_calls_and_a_restore_takes_them_back(
    tmp_path: Path,
) -> None:
    """Re-observing the calls an export left out gives the live counts back."""
    net = load(write_city(tmp_path / "city"))
    from outaged.correlate.spikes import SpikeDetector

    th = net.index.topology.thresholds
    live = SpikeDetector(net.index, th).baselines
    calls = [(T0 + 100.0 * i, f"m1-c1-b{1 + i % 3}") for i in range(40)]  # over 66 minutes
    targets = {e: (e, *net.index.dominators(e)) for _, e in calls}
    for at, element in calls:
        live.observe(
            Call(at, "x", element, ReportClass.DOWN, None, targets[element]),
            ReportClass.DOWN,
            targets[element],
        )
    now = calls[-1][0]
    live.advance(now)
    snapshot = live.export(now)
    assert snapshot is not None and snapshot.since == now - max(th.spike_window_s, th.flap_window_s)
    again = SpikeDetector(net.index, th).baselines
    again.restore(snapshot, net.index.topology.elements)
    left_out = [(at, e) for at, e in calls if at > snapshot.since]
    assert 0 < len(left_out) < len(calls)
    city = again._city[ReportClass.DOWN]
    assert city.count < live._city[ReportClass.DOWN].count - len(left_out) + 1
    for at, element in left_out:
        again.observe(
            Call(at, "x", element, ReportClass.DOWN, None, targets[element]),
            ReportClass.DOWN,
            targets[element],
        )
    for key, learned in live._own.items():
        assert abs(again._own[key].count - learned.count) < 1e-9, key
    assert abs(city.count - live._city[ReportClass.DOWN].count) < 1e-9
    assert again._hour_count == live._hour_count
    assert live.export(now + 1.0) is None  # once per decay step


async def test_the_decision_step_commits_the_checkpoint_with_its_signals(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path, load(write_city(tmp_path / "city")))
    await daemon.start()
    try:
        store = daemon.running.store
        first = await store.learned()  # the recovery step's, the first of the process
        assert first is not None and first.seq == 0 and first.baselines.whole
        called = daemon.clock.now
        await daemon.ingest(daemon.calls("m1-c1-b1", 2))
        assert await store.learned() == first  # not yet a minute later
        daemon.clock.now += 61.0
        await daemon.ingest(daemon.calls("m1-c1-b2", 1))
        later = await store.learned()
        _, last_seq = await store.last_ids()
        assert later is not None and later.seq == last_seq == 3
        assert later.baselines.now == daemon.clock.now
        # the calls are within the window: left out, to be re-ingested
        assert later.baselines.own[("m1-c1-b1", "down")] == (0.0, called)
        await daemon.restart()
        await daemon.assert_memory_is_store()
    finally:
        await daemon.stop()


def test_after_a_long_stop_the_calls_left_out_are_taken_again(tmp_path: Path) -> None:
    """Calls the checkpoint left out that are older than the re-ingest window at
    the restart (the daemon was down an hour) are re-ingested, not lost: the
    rates equal those of an engine that ran through the gap."""
    from outaged.outages.engine import Engine
    from tests.test_replay_divergence import Checkpoints, restarted

    net = load(write_city(tmp_path / "city", metros=2, communities=3))
    buildings = sorted(e.id for e in net.index.topology.elements.values() if e.kind == "building")
    live = Engine(net.index)
    log: list[Signal] = []
    kept = Checkpoints()
    now = T0
    for i in range(12):  # background: a call every 3 minutes at one of a few buildings
        now = T0 + 180.0 * i
        building = buildings[i % 4]
        (sub,) = net.subs(building, 1, i)
        signal = Report(now, building, Category.DOWN, sub)
        live.ingest(signal)
        log.append(signal)
        live.evaluate(now)
        kept.commit(len(log), live.spikes.baselines.export(now))
    assert not live.spikes.active and kept.last is not None
    later = now + 3600.0
    fresh = restarted(net, live, log, kept, later)
    live.evaluate(later)
    subs = net.index.subtree_subscribers
    city = live.spikes.baselines._city[ReportClass.DOWN]
    assert city.value(later, net.index.topology.thresholds.baseline_tau_s) > 11.0  # learned
    for building in buildings[:5]:
        args = (building, ReportClass.DOWN, subs[building], later)
        assert fresh.spikes.baselines.rate(*args) == pytest.approx(
            live.spikes.baselines.rate(*args), rel=1e-9
        ), building
    without = Engine(net.index)  # the checkpoint alone: the calls it left out are missing
    without.spikes.baselines.restore(kept.last.baselines, net.index.topology.elements)
    without.evaluate(later)
    args = (buildings[0], ReportClass.DOWN, subs[buildings[0]], later)
    assert without.spikes.baselines.rate(*args) != pytest.approx(
        live.spikes.baselines.rate(*args), rel=1e-6
    )


async def test_an_idle_daemon_commits_no_checkpoint_and_restarts_the_same(
    tmp_path: Path,
) -> None:
    """No call and no stored signal since the last checkpoint: the decision steps
    of the next 40 minutes (up elements answering, nothing stored) write none;
    a restart on the older one learns what the running daemon holds."""
    from outaged.correlate.spikes import SpikeDetector
    from outaged.signals import ProbeResult

    daemon = Daemon(tmp_path, load(write_city(tmp_path / "city")))
    await daemon.start()
    try:
        store = daemon.running.store
        probed = sorted(e.id for e in daemon.net.index.topology.elements.values() if e.address)[:3]
        daemon.clock.now += 61.0
        await daemon.ingest([ProbeResult(daemon.clock.now, e, True, 1.0) for e in probed])
        await daemon.ingest(daemon.calls("m1-c1-b1", 2) + daemon.calls("m1-c2-b3", 1))
        daemon.clock.now += 61.0
        await daemon.ingest(daemon.calls("m1-c1-b2", 1))
        last = await store.learned()
        _, last_seq = await store.last_ids()
        assert last is not None and last.seq == last_seq and last.baselines.now == daemon.clock.now
        for _ in range(40):  # past the re-ingest window: the calls it left out are old now
            daemon.clock.now += 61.0
            await daemon.ingest([ProbeResult(daemon.clock.now, e, True, 1.0) for e in probed])
            assert await store.learned() == last
        assert (await store.last_ids())[1] == last_seq  # the answers were not stored
        live = daemon.running.pipeline.engine.spikes.baselines
        await daemon.restart()
        fresh = daemon.running.pipeline.engine.spikes.baselines
        index, now = daemon.net.index, daemon.clock.now
        unlearned = SpikeDetector(index, index.topology.thresholds).baselines
        unlearned.advance(now)
        for element in ("m1-c1-b1", "m1-c1-b2", "m1-c2-b3", "m1-c1", "m1"):
            args = (element, ReportClass.DOWN, index.subtree_subscribers[element], now)
            assert fresh.rate(*args) == pytest.approx(live.rate(*args), rel=1e-9), element
            assert live.rate(*args) != pytest.approx(unlearned.rate(*args), rel=1e-3), element
        await daemon.assert_memory_is_store()
        daemon.clock.now += 61.0  # something stored: the next step writes one
        await daemon.ingest(daemon.calls("m1-c1-b3", 1))
        after = await daemon.running.store.learned()
        assert after is not None and after.seq == last_seq + 1
    finally:
        await daemon.stop()


def test_an_export_is_skipped_only_when_nothing_changed_since_the_last(tmp_path: Path) -> None:
    net = load(write_city(tmp_path / "city"))
    from outaged.correlate.spikes import SpikeDetector

    baselines = SpikeDetector(net.index, net.index.topology.thresholds).baselines
    targets = ("m1-c1-b1", *net.index.dominators("m1-c1-b1"))
    call = Call(T0, "x", "m1-c1-b1", ReportClass.DOWN, None, targets)
    baselines.observe(call, ReportClass.DOWN, targets)
    assert baselines.export(T0, 1) is not None
    assert baselines.export(T0 + 61.0, 1) is None  # nothing new
    assert baselines.export(T0 + 122.0, 2) is not None  # a signal stored since
    assert baselines.export(T0 + 183.0, 2) is None
    baselines.forget(call, ReportClass.DOWN, targets)  # unlearned: a spike claimed it
    assert baselines.export(T0 + 244.0, 2) is not None
    assert baselines.export(T0 + 305.0) is not None  # no seq given: as before, once a step
