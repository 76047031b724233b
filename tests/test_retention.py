"""Retention: the store prunes expired signals and Idempotency-Key answers in small
batches, keeps what a restart needs; finished outages leave memory (issue 7 §6).

The long simulated run (weeks of reports and outages through the daemon) is in
tests/test_retention_long.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from outaged.app import App
from outaged.config import ApiConfig, Config, IcmpConfig, ProbesConfig, RetentionConfig
from outaged.configfile.load import load_config
from outaged.errors import ConfigError
from outaged.notify.log import LogNotifier
from outaged.notify.outbox import Outbox
from outaged.outages.engine import Engine
from outaged.outages.lifecycle import Action
from outaged.outages.model import Status
from outaged.pipeline import Pipeline
from outaged.records.actions import ActionRequest
from outaged.records.ledger import Ledger
from outaged.signals import Category, Maintenance, ManualFault, Report, Signal
from outaged.store.base import Batch, Idempotent, Store, StoredSignal
from outaged.store.retention import Pruner, cutoffs
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from tests.citygen import write_city
from tests.stores import Backend

DAY = 86400.0
T0 = 1_790_000_000.0  # 2026-09-21, any fixed time


def _stored(seq: int, signal: Signal, ext_id: str | None = None) -> StoredSignal:
    return StoredSignal(seq, signal, signal.at, ext_id, "test")


def _report(at: float, n: int) -> Report:
    return Report(at, "m1-c2-b4", Category.WEBSITE, f"m1-c2-b4-{n % 50:03d}")


async def _open(backend: Backend) -> Store:
    store = backend.store()
    await store.open()
    return store


def _engine_state(index: GraphIndex, signals: list[StoredSignal]) -> tuple[object, ...]:
    """What re-ingesting these signals leaves in a fresh engine (manual faults, windows)."""
    engine = Engine(index)
    for stored in signals:
        engine.ingest(stored.signal)
    return dict(engine.manual), list(engine.maintenance)


async def test_prune_signals_keeps_what_a_restart_needs(tmp_path: Path, backend: Backend) -> None:
    index = GraphIndex.build(load_topology(write_city(tmp_path / "city")))
    store = await _open(backend)
    before = T0 + 40 * DAY  # everything dated earlier is past retention
    old, new = T0, before + 3600
    signals: list[Signal] = [_report(old + i, i) for i in range(50)]
    signals += [
        ManualFault(old, "m1-c1", "never cleared"),  # still a fault: stays
        ManualFault(old, "m2-c1", "cleared later, both old"),
        ManualFault(old + 10, "m2-c1", cleared=True),
        ManualFault(old, "m3-c1", "cleared after the cutoff"),
        ManualFault(new, "m3-c1", cleared=True),
        ManualFault(old + 20, "m2-c2", "set again after a clear"),
        ManualFault(old + 5, "m2-c2", cleared=True),
        Maintenance(old, "m1-c3", old, before + DAY, "still running at the cutoff"),
        Maintenance(old, "m1-c4", old, old + 3600, "long over"),
    ]
    signals += [_report(new + i, i) for i in range(20)]
    # received in this order; the set-again-after-a-clear pair is received clear first
    order = list(range(len(signals)))
    i_set, i_clear = 55, 56
    order[i_set], order[i_clear] = order[i_clear], order[i_set]
    rows = [_stored(seq, signals[i], f"CC-{seq}") for seq, i in enumerate(order, start=1)]
    await store.commit(Batch(signals=rows))
    since = before  # a restart at any time from here on asks signals_since(>= before)
    wanted = _engine_state(index, await store.signals_since(since))
    assert wanted[0], "the fixture has a manual fault in force"

    deleted = await store.prune_signals(before, 1000)

    left = await store.signals_since(0.0)
    kept = {
        (type(s.signal).__name__, s.signal.element, getattr(s.signal, "note", "")) for s in left
    }
    assert ("ManualFault", "m1-c1", "never cleared") in kept
    assert ("ManualFault", "m2-c2", "set again after a clear") in kept
    assert ("Maintenance", "m1-c3", "still running at the cutoff") in kept
    assert not any(s.signal.element == "m2-c1" for s in left)
    assert ("Maintenance", "m1-c4", "long over") not in kept
    assert ("ManualFault", "m3-c1", "cleared after the cutoff") not in kept
    assert sum(isinstance(s.signal, Report) for s in left) == 20  # the recent ones
    assert deleted == len(rows) - len(left)
    assert _engine_state(index, await store.signals_since(since)) == wanted
    await store.close()


async def test_prune_keeps_the_newest_signal_so_numbering_resumes(backend: Backend) -> None:
    store = await _open(backend)
    await store.commit(Batch(signals=[_stored(s, _report(T0 + s, s)) for s in range(1, 11)]))
    assert await store.prune_signals(T0 + DAY, 100) == 9
    assert await store.last_ids() == (0, 10)  # the next signal is 11, not 1
    await store.close()


async def test_prune_deletes_at_most_the_batch_limit(backend: Backend) -> None:
    store = await _open(backend)
    await store.commit(Batch(signals=[_stored(s, _report(T0 + s, s)) for s in range(1, 2501)]))
    done = [await store.prune_signals(T0 + DAY, 1000) for _ in range(4)]
    assert done == [1000, 1000, 499, 0]
    await store.close()


async def test_prune_idempotency_by_age(backend: Backend) -> None:
    store = await _open(backend)
    keys = [Idempotent(f"k{i}", "sha", 202, "{}", T0 + i * 3600) for i in range(10)]
    await store.commit(Batch(idempotent=keys))
    assert await store.prune_idempotency(T0 + 4 * 3600, 3) == 3
    assert await store.prune_idempotency(T0 + 4 * 3600, 3) == 1
    assert await store.idempotent("k3") is None
    assert await store.idempotent("k4") is not None
    await store.close()


def test_cutoffs_never_cut_into_the_restart_lookback() -> None:
    policy = RetentionConfig(signals_s=600.0, idempotency_s=7200.0)
    cut = cutoffs(policy, T0, lookback_s=1800.0)
    assert (cut.signals, cut.idempotency) == (T0 - 1800.0, T0 - 7200.0)
    assert cutoffs(RetentionConfig(), T0, 1800.0).signals == T0 - 30 * DAY


def test_retention_config_defaults_and_errors(tmp_path: Path) -> None:
    config = tmp_path / "outaged.yaml"
    config.write_text("retention:\n  signals_s: 604800\n", encoding="utf-8")
    loaded = load_config(config).retention
    assert (loaded.signals_s, loaded.idempotency_s, loaded.enabled) == (604800.0, 172800.0, True)
    config.write_text("retention:\n  batch_rows: 0\n  pause_s: -1\n  keep: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    text = str(caught.value)
    assert ":2: retention.batch_rows: expected an integer 1-100000, got 0" in text
    assert ":3: retention.pause_s: expected seconds >= 0, got -1" in text
    assert ":4: retention.keep: unknown setting" in text


async def test_decision_steps_commit_between_pruning_batches(
    tmp_path: Path, backend: Backend
) -> None:
    """A pass over a large backlog pauses after every batch; a report posted
    meanwhile is committed and answered before the pass ends."""
    topology = load_topology(write_city(tmp_path / "city"))
    store = await _open(backend)
    backlog = 20_000
    await store.commit(Batch(signals=[_stored(s, _report(T0 + s, s)) for s in range(1, backlog)]))
    now = T0 + 60 * DAY
    pipeline = Pipeline(
        Ledger(Engine(GraphIndex.build(topology))),
        store,
        Outbox({"log": LogNotifier()}),
        next_signal_seq=backlog,
        clock=lambda: now,
    )
    loop = asyncio.create_task(pipeline.run())
    left_when_answered: list[int] = []

    async def pause(_seconds: float) -> None:
        if not left_when_answered:  # the first pause: a report arrives mid-pass
            await pipeline.ingest([_report(now, 1)], ["CC-mid-pass"], "test")
            left = backend.count("SELECT COUNT(*) FROM signals WHERE at < ?", now)
            left_when_answered.append(left)
        await asyncio.sleep(0)

    policy = RetentionConfig(batch_rows=1000)
    pruner = Pruner(store, policy, lookback_s=1800.0, clock=lambda: now, sleep=pause)
    done = await pruner.prune(now)
    pipeline.stop()
    await loop
    assert done.signals == backlog - 1
    assert done.batches >= backlog // 1000
    assert left_when_answered[0] >= backlog - 1 - 1000  # answered after one batch
    assert await store.known_ext_ids(["CC-mid-pass"]) == {"CC-mid-pass"}
    await store.close()


# ---- memory: finished outages leave the engine and the ledger ------------------


def _act(name: str, **fields: str) -> ActionRequest:
    return ActionRequest(Action(name), fields)


def _close(ledger: Ledger, oid: int, now: float) -> None:
    steps = [
        _act("ack"),
        _act("arrive"),
        _act("diagnose", cause="power"),
        _act("restore"),
        _act("verify"),
        _act("callback_done"),
        _act("close", method="m", result="r", prevention="p"),
    ]
    for request in steps:
        ledger.act(oid, request, "ops", now)


def test_a_closed_outage_leaves_memory_after_the_relapse_window(tmp_path: Path) -> None:
    index = GraphIndex.build(load_topology(write_city(tmp_path / "city")))
    relapse = index.topology.thresholds.relapse_window_s
    engine = Engine(index)
    ledger = Ledger(engine)
    engine.ingest(ManualFault(T0, "m1-c2", "seen by the NOC"))
    ledger.decide(T0)
    (oid,) = ledger.records
    _close(ledger, oid, T0 + 60)
    engine.ingest(ManualFault(T0 + 120, "m1-c2", cleared=True))
    ledger.decide(T0 + 120)
    ledger.drain()
    assert engine.outages[oid].status is Status.RESTORED
    assert ledger.evict(T0 + 120 + relapse - 1) == []  # a relapse would still reopen it
    assert ledger.evict(T0 + 120 + relapse + 1) == [oid]
    held = (engine.outages, ledger.records, ledger.deadlines, ledger.seqs)
    assert all(oid not in d for d in held)
    # the same fault again, later: judged afresh as a new outage
    engine.ingest(ManualFault(T0 + 2 * relapse + 200, "m1-c2", "again"))
    ledger.decide(T0 + 2 * relapse + 200)
    assert list(ledger.records) == [oid + 1]


def test_open_worked_or_undrained_outages_stay_in_memory(tmp_path: Path) -> None:
    index = GraphIndex.build(load_topology(write_city(tmp_path / "city")))
    engine = Engine(index)
    ledger = Ledger(engine)
    engine.ingest(ManualFault(T0, "m1-c2", "open"))
    engine.ingest(ManualFault(T0, "m2-c2", "restored but not closed"))
    ledger.decide(T0)
    first, second = sorted(ledger.records)
    engine.ingest(ManualFault(T0 + 60, "m2-c2", cleared=True))
    ledger.decide(T0 + 60)
    later = T0 + 10 * DAY
    assert ledger.evict(later) == []  # second's restore is not drained yet
    ledger.drain()
    assert ledger.evict(later) == []  # open, and still being worked on
    assert set(ledger.records) == {first, second}
    ledger.act(second, _act("cancel", reason="false alarm"), "ops", later)
    ledger.drain()
    assert ledger.evict(later) == [second]
    assert set(engine.outages) == {first}


async def test_the_daemon_prunes_in_the_background(tmp_path: Path, backend: Backend) -> None:
    """`App` runs the pruner from its start; expired rows go without anyone asking."""
    config = Config(
        topology=write_city(tmp_path / "city"),
        state_dir=tmp_path / "state",
        api=ApiConfig(port=0),
        probes=ProbesConfig(icmp=IcmpConfig(enabled=False)),
        store=backend.config,
        retention=RetentionConfig(batch_rows=100, pause_s=0.0),
    )
    store = await _open(backend)
    await store.commit(
        Batch(
            signals=[_stored(s, _report(T0 + s, s), f"CC-{s}") for s in range(1, 1001)],
            idempotent=[Idempotent("old-key", "sha", 202, "{}", T0)],
        )
    )
    await store.close()
    now = T0 + 31 * DAY
    app = App(config, clock=lambda: now)
    await app.start()
    try:
        for _ in range(200):  # bounded: 10 s
            left = backend.count("SELECT COUNT(*) FROM signals")
            keys = backend.count("SELECT COUNT(*) FROM idempotency")
            if (left, keys) == (1, 0):
                break
            await asyncio.sleep(0.05)
        assert (left, keys) == (1, 0)
    finally:
        await app.stop()


def test_a_merged_outage_leaves_memory_its_keeper_stays(tmp_path: Path) -> None:
    index = GraphIndex.build(load_topology(write_city(tmp_path / "city")))
    engine = Engine(index)
    ledger = Ledger(engine)
    engine.ingest(ManualFault(T0, "m1-c2", "one community"))
    ledger.decide(T0)
    engine.ingest(ManualFault(T0 + 60, "m2-c2", "another, under another metro"))
    ledger.decide(T0 + 60)
    assert len(engine.open_outages()) == 2
    engine.ingest(ManualFault(T0 + 120, "core-1", "the core above both"))
    ledger.decide(T0 + 120)
    ledger.drain()
    merged = [i for i, o in engine.outages.items() if o.status is Status.MERGED]
    assert len(merged) == 1
    assert ledger.evict(T0 + 180) == merged
    assert [o.id for o in engine.open_outages()] == list(ledger.records)
