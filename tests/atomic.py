"""The daemon object in-process on a real store (SQLite or PostgreSQL), and the
check that memory equals the store: what a restart (outaged.recovery) builds from the store has the
same outages, records, deadlines and timelines as the running daemon.

Used by tests/test_atomic_step.py (regressions) and tests/test_atomic_property.py
(the hypothesis state machine).
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from outaged.outages.lifecycle import Action
from outaged.pipeline import Outcome
from outaged.records.actions import ActionRequest
from outaged.recovery import recover
from outaged.signals import Category, Report, Signal
from outaged.store.sqlite import BUSY_TIMEOUT_MS
from tests.inprocess import InProcess
from tests.smallnet import Net
from tests.stores import Backend

ACTOR = "zhao.lei"
CITY_PREFIX = "atomic-city-"  # tests/test_atomic_property.py's city, in a temporary directory
_cities: set[Path] = set()


@atexit.register
def _remove_cities() -> None:
    """The property test writes its city once per process to a directory of its
    own outside pytest's tmp_path (its source stays as it is): removed at exit."""
    for directory in _cities:
        shutil.rmtree(directory, ignore_errors=True)


class Daemon(InProcess):
    """Start, feed, check and restart the daemon on one state directory."""

    def __init__(
        self,
        tmp_path: Path,
        net: Net,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        backend: Backend | None = None,
    ) -> None:
        super().__init__(tmp_path, net, busy_timeout_ms, backend)
        if net.path.parent.name.startswith(CITY_PREFIX):
            _cities.add(net.path.parent)

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


# The property test (tests/test_atomic_property.py) keeps these SQLite-only helpers,
# not tests.stores.Backend: Hypothesis derives its derandomized examples from the
# test's source (a changed source once found the divergence that
# tests/test_replay_divergence.py now pins).
def lock(db: Path) -> sqlite3.Connection:
    """Another process's write lock on the database, held until rolled back."""
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def unlock(holder: sqlite3.Connection) -> None:
    with closing(holder):
        holder.execute("ROLLBACK")


def poison(db: Path, ticket: str) -> None:
    """Make SQLite itself refuse a report with this ticket id (a trigger aborts its
    insert): the store refuses one row inside a commit that holds others."""
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "CREATE TRIGGER IF NOT EXISTS poison BEFORE INSERT ON signals "
            f"WHEN NEW.ext_id = '{ticket}' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
        )
