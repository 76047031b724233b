"""The store interface (outaged/store/base.py) on both backends: migrations, the
all-or-nothing commit, tokens, reads. Retention, the outbox, the format-1
upgrade and the failed-step regressions run on both in their own modules
(test_retention, test_notify_units, test_store_codec, test_atomic_step)."""

from __future__ import annotations

import pytest

from outaged.errors import StoreError, UnstorableError
from outaged.outages.model import Event
from outaged.pipeline import Ingested
from outaged.records.model import Entry
from outaged.signals import Category, Maintenance, ManualFault, Report
from outaged.store.base import Batch, Idempotent, OutageQuery, StoredSignal, Token
from outaged.store.migrations import MIGRATIONS
from tests.atomic import Daemon
from tests.citygen import write_city
from tests.smallnet import load
from tests.stores import Backend

T0 = 1_790_000_000.0


def _report(seq: int, at: float) -> StoredSignal:
    return StoredSignal(seq, Report(at, "m1-c1-b1", Category.DOWN, f"m1-c1-b1-{seq:03d}"), at)


async def test_migrations_number_every_version_once_and_a_newer_schema_is_refused(
    backend: Backend,
) -> None:
    for _ in range(2):  # the second open finds everything done
        store = backend.store()
        await store.open()
        await store.close()
    versions = backend.query("SELECT version FROM schema_version ORDER BY version")
    assert versions == [(v,) for v in range(1, len(MIGRATIONS) + 1)]
    backend.write("INSERT INTO schema_version (version) VALUES (?)", [(len(MIGRATIONS) + 1,)])
    store = backend.store()
    with pytest.raises(StoreError, match="newer than this outaged"):
        await store.open()
    await store.close()


async def test_a_commit_is_all_or_nothing(backend: Backend) -> None:
    store = backend.store()
    await store.open()
    try:
        entry = Entry(1, 1, T0, "daemon", "note", {"text": "first"})
        await store.commit(Batch(signals=[_report(1, T0)], entries=[entry]))
        again = Batch(
            signals=[_report(2, T0 + 1)],
            entries=[entry],  # (1, 1) exists: the whole step is refused
            idempotent=[Idempotent("k", "sha", 202, "{}", T0)],
        )
        with pytest.raises(UnstorableError):
            await store.commit(again)
        assert await store.last_ids() == (0, 1)
        assert await store.idempotent("k") is None
        assert [e.payload for e in await store.timeline(1)] == [{"text": "first"}]
        await store.commit(Batch(signals=[_report(2, T0 + 1)]))  # the store still writes
        assert await store.last_ids() == (0, 2)
    finally:
        await store.close()


async def test_signals_since_keeps_manual_faults_and_running_windows_in_order(
    backend: Backend,
) -> None:
    store = backend.store()
    await store.open()
    try:
        old = [
            StoredSignal(1, ManualFault(T0, "m1-c1", "seen by the NOC"), T0),
            StoredSignal(2, Maintenance(T0, "m1-c2", T0, T0 + 7200, "works"), T0),
            StoredSignal(3, Maintenance(T0, "m1-c3", T0, T0 + 60, "over"), T0),
            _report(4, T0),
        ]
        await store.commit(Batch(signals=[*old, _report(5, T0 + 3600)]))
        since = await store.signals_since(T0 + 1800)
        assert [s.seq for s in since] == [1, 2, 5]
        assert since[0] == old[0]
        assert await store.known_ext_ids(["nope"]) == set()
    finally:
        await store.close()


async def test_tokens_add_refuse_a_live_name_revoke_and_add_again(backend: Backend) -> None:
    store = backend.store()
    await store.open()
    try:
        await store.add_token(Token("cc", "reporter", "a" * 64, T0))
        with pytest.raises(StoreError, match="exists; revoke it first"):
            await store.add_token(Token("cc", "admin", "b" * 64, T0))
        assert await store.token_by_hash("a" * 64) == Token("cc", "reporter", "a" * 64, T0)
        assert await store.revoke_token("cc", T0 + 1)
        assert not await store.revoke_token("cc", T0 + 2)  # already revoked
        await store.add_token(Token("cc", "admin", "b" * 64, T0 + 3))
        assert await store.tokens() == [Token("cc", "admin", "b" * 64, T0 + 3)]
        assert await store.token_by_hash("a" * 64) is None
    finally:
        await store.close()


async def test_reads_answer_what_the_daemon_decided(tmp_path_factory, backend: Backend) -> None:
    net = load(write_city(tmp_path_factory.mktemp("city"), metros=2, communities=3))
    d = Daemon(tmp_path_factory.mktemp("daemon"), net, backend=backend)
    await d.start()
    try:
        outcome = await d.ingest(d.calls("m1-c2-b3", 10))
        assert isinstance(outcome, Ingested)
        (oid,) = [x.outage.id for x in outcome.decisions if x.event is Event.OPENED]
        store = d.running.store
        row = await store.outage(oid)
        assert row is not None and row.record == d.running.pipeline.ledger.records[oid]
        assert row.outage == d.running.pipeline.engine.outages[oid]
        assert await store.outage(oid + 1) is None
        found = {
            "any": OutageQuery(),
            "dispatched": OutageQuery(states=frozenset({"dispatched"})),
            "closed": OutageQuery(states=frozenset({"closed"})),
            "S4": OutageQuery(severities=frozenset({row.outage.severity.value})),
            "its area": OutageQuery(area=row.area),
            "no area": OutageQuery(area="nowhere"),
            "since opened": OutageQuery(since=row.outage.opened_at),
            "before opened": OutageQuery(until=row.outage.opened_at),
            "limit 0": OutageQuery(limit=0),
        }
        ids = {name: [r.outage.id for r in await store.outages(q)] for name, q in found.items()}
        assert ids == {
            "any": [oid],
            "dispatched": [oid],
            "closed": [],
            "S4": [oid],
            "its area": [oid],
            "no area": [],
            "since opened": [oid],
            "before opened": [],
            "limit 0": [],
        }
        # (a delivery report may mark "dispatch" met meanwhile: compare the names)
        found_deadlines = await store.deadlines([oid, oid + 1])
        names = set(d.running.pipeline.ledger.deadlines[oid])
        assert {x.name for x in found_deadlines[oid]} == names and found_deadlines[oid + 1] == []
        assert await store.last_seqs([oid]) == {oid: d.running.pipeline.ledger.seqs[oid]}
        assert await store.writable()
        await d.assert_memory_is_store()
    finally:
        await d.stop()
