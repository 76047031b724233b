"""The daemon object in-process on a real store (SQLite or PostgreSQL), and the
check that memory equals the store: what a restart (outaged.recovery) builds from the store has the
same outages, records, deadlines and timelines as the running daemon.

Used by tests/test_atomic_step.py (regressions) and tests/test_atomic_property.py
(the hypothesis state machine).
"""

from __future__ import annotations

from outaged.outages.lifecycle import Action
from outaged.pipeline import Outcome
from outaged.records.actions import ActionRequest
from outaged.recovery import recover
from outaged.signals import Category, Report, Signal
from tests.inprocess import InProcess

ACTOR = "zhao.lei"


class Daemon(InProcess):
    """Start, feed, check and restart the daemon on one state directory."""

    async def ingest(
        self, signals: list[Signal], ext_ids: list[str | None] | None = None, actor: str = "cc"
    ) -> Outcome:
        ids: list[str | None] = [None] * len(signals) if ext_ids is None else ext_ids
        return await self.running.pipeline.ingest(signals, ids, actor)

    async def act(self, outage: int, action: Action, actor: str = ACTOR, **fields: str) -> Outcome:
        return await self.running.pipeline.act(outage, ActionRequest(action, fields), actor)

    def calls(self, element: str, n: int, skip: int = 0) -> list[Signal]:
        subs = self.net.subs(element, n, skip)
        at = self.clock.now
        return [Report(at, self.net.index.topology.subscribers[s], Category.DOWN, s) for s in subs]

    def state(self, outage: int) -> str:
        return self.running.pipeline.ledger.records[outage].state.value

    async def assert_memory_is_store(self) -> None:
        """A restart now would see what the running daemon holds."""
        pipeline = self.running.pipeline
        store = self.running.store
        fresh = await recover(store, pipeline.engine.index, self.clock(), pipeline.lookback_s)
        mine, theirs = pipeline.ledger, fresh.ledger
        active = {i for i, r in mine.records.items() if r.active}
        assert active <= theirs.records.keys(), (active, sorted(theirs.records))
        for oid, record in theirs.records.items():
            assert mine.records.get(oid) == record, (oid, mine.records.get(oid), record)
            assert mine.deadlines[oid] == theirs.deadlines[oid], oid
            assert mine.seqs[oid] == theirs.seqs[oid], oid
            assert mine.engine.outages[oid] == theirs.engine.outages[oid], oid
        opened = sorted(o.id for o in mine.engine.open_outages())
        assert opened == sorted(o.id for o in theirs.engine.open_outages())
        for oid, record in mine.records.items():
            timeline = await store.timeline(oid)
            assert [e.seq for e in timeline] == list(range(1, mine.seqs[oid] + 1)), oid
            assert all(e.actor for e in timeline), timeline
            moves = [e for e in timeline if "from" in e.payload and "to" in e.payload]
            assert moves and moves[-1].payload["to"] == record.state.value, (record, timeline)
