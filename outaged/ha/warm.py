"""A warm standby: the decision state kept from one refresh to the next.

A cold recovery (outaged.recovery `recover`) adopts the stored outages into a
fresh engine, then feeds it the signals of the re-ingest window. A standby
refreshing its views that way re-ingested the whole window every time (and its
takeover was one more cold recovery). `Warm` keeps what it built instead:

    base:      recover(...) into a `Followed` engine (once, or when it must, below)
    refresh:   outages re-read (few) -> the changed ones adopted again,
               what the intake derived from outages recomputed (below)
               -> the signal rows after the last one fed (by seq, the store's
               `replay_rows_since` and the base's `Replay.feed`) -> a new ledger
    takeover:  one last refresh; the state leads (`Followed` stops noting)

The split. Evidence (health, spikes and their baselines, manual faults,
uplinks, planned work) is fed by signals only: feeding the new rows after the
old ones is what a cold recovery does with all of them. The outages are
adopted from rows; a cold recovery adopts them *before* feeding the signals,
and the intake reads them while it feeds, in three places:

* the first-report time of open outages (`_first_report`): recomputed for every
  outage new or changed since the last refresh, from the calls `Followed` noted;
* the report evidence open outages remember (`_remembered`), which a recovery
  seen under it ends (`_forget_below`): rebuilt from the rows, then ended again
  by the recoveries `Followed` noted, in their order;
* the report mute and set-asides of outages people ended (`_releases`): not
  recomputed; a refresh that sees such an outage new, changed or gone rebuilds
  cold (people's cancels and closes: rare).

A cold rebuild (`Refreshed.cold` says why) also when: the first refresh; the
topology (its index) changed; the baselines' checkpoint moved (the leader
writes one about once a minute while signals arrive: its baselines and the
calls it settles cannot be swapped into a warm engine); an outage left the
store's recoverable set while this engine still follows it (open or ended);
and when the base is older than REBASE_S: a cold recovery re-ingests from
`now - lookback`, the warm engine from its base's start, so between two bases
it holds up to REBASE_S more of the oldest signals (what a cold recovery with
a lookback up to REBASE_S longer would take). Within those bounds the state is
the cold recovery's (tests/test_ha_warm.py compares them).
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection

from outaged.dispatch.escalation import Policy
from outaged.ha.keeper import CONNECT_TIMEOUT_S
from outaged.outages.engine import Engine
from outaged.outages.model import Outage
from outaged.records.ledger import Ledger
from outaged.recovery import PAGE, Replay, mark_orphans, recover
from outaged.signals import Category, Report
from outaged.store.base import OutageRow, Store
from outaged.topology.graph import GraphIndex

log = logging.getLogger("outaged.ha")

REBASE_S = 300.0  # a warm base is rebuilt cold when older than this
_MARK = "SELECT seq, now_at FROM learned WHERE id = 1"  # the checkpoint's identity


class Followed(Engine):
    """An engine that notes, while `following`, what a warm refresh may need to
    derive again when the outages it adopted change: the calls its intake dated
    first reports from, and the recoveries that ended remembered report evidence."""

    def __init__(self, index: GraphIndex, *, first_id: int = 1, min_interval: float = 0.0) -> None:
        super().__init__(index, first_id=first_id, min_interval=min_interval)
        self.following = True
        self.calls: list[tuple[float, str]] = []  # (at, element) of calls past the mute
        self.ups: list[tuple[float, str]] = []  # (at, element): seen up after down

    def _first_report(self, report: Report) -> None:
        if self.following:
            self.calls.append((report.at, report.element))
        super()._first_report(report)

    def _forget_below(self, element: str, at: float) -> None:
        if self.following:
            self.ups.append((at, element))
        super()._forget_below(element, at)

    def lead(self) -> None:
        """Leading now: nothing is noted any more."""
        self.following = False
        self.calls, self.ups = [], []


@dataclass(frozen=True, slots=True)
class Refreshed:
    ledger: Ledger
    next_seq: int
    fed: int  # signal rows looked at (read and fed) by this refresh
    cold: str | None  # why it rebuilt cold; None: warm


@dataclass(slots=True)
class _Base:
    index: GraphIndex
    engine: Followed
    replay: Replay
    mark: tuple[int, float] | None  # the checkpoint it was built on
    at: float  # the clock when built
    rows: dict[int, OutageRow]


class Warm:
    """A standby's engine and ledger, refreshed from the store (see the module doc)."""

    def __init__(self, store: Store, dsn: str, policy: Policy | None = None) -> None:
        self.store = store
        self.dsn = dsn
        self.policy = policy
        self._base: _Base | None = None
        self._conn: AsyncConnection[Any] | None = None
        self.refreshes = {"warm": 0, "cold": 0}
        self.fed = {"warm": 0, "cold": 0}  # signal rows looked at, by kind of refresh
        self.last_cold: str | None = None

    async def refresh(self, index: GraphIndex, now: float, lookback_s: float) -> Refreshed:
        try:
            mark = await self._mark()
            base = self._base
            why = self._cold(base, index, mark, now)
            done: Refreshed | None = None
            if base is not None and why is None:
                done = await self._warm(base, now)
                if done is None:
                    why = "an outage ended by people, or gone from the store, changed"
            if done is None:
                done = await self._rebuild(index, now, lookback_s, mark, why or "first")
        except BaseException:  # half caught up: the next refresh starts anew
            self._base = None
            raise
        kind = "warm" if done.cold is None else "cold"
        self.refreshes[kind] += 1
        self.fed[kind] += done.fed
        return done

    async def takeover(self, index: GraphIndex, now: float, lookback_s: float) -> Refreshed:
        """The state caught up once more, to lead on; the next refresh starts anew."""
        done = await self.refresh(index, now, lookback_s)
        base, self._base = self._base, None
        assert base is not None  # a refresh leaves one
        base.engine.lead()
        await mark_orphans(done.ledger, self.store, base.rows.values(), index, now)
        await self.close()
        return done

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    # ---- the two ways ---------------------------------------------------------

    @staticmethod
    def _cold(
        base: _Base | None, index: GraphIndex, mark: tuple[int, float] | None, now: float
    ) -> str | None:
        if base is None:
            return "first"
        if base.index is not index:
            return "topology reloaded"
        if mark != base.mark:
            return "baselines checkpoint moved"
        if now - base.at > REBASE_S:
            return f"base older than {REBASE_S:.0f} s"
        return None

    async def _rebuild(
        self,
        index: GraphIndex,
        now: float,
        lookback_s: float,
        mark: tuple[int, float] | None,
        why: str,
    ) -> Refreshed:
        self._base = None
        # Recovery freezes what it built (outaged.heap): thaw the last base first,
        # so its cycles are collected once dropped instead of piling up frozen.
        gc.unfreeze()
        done = await recover(self.store, index, now, lookback_s, self.policy, Followed)
        engine, replay = done.ledger.engine, done.replay
        assert isinstance(engine, Followed) and replay is not None
        rows = {r.outage.id: r for r in done.rows}
        self._base = _Base(index, engine, replay, mark, now, rows)
        self.last_cold = why
        log.info("standby state rebuilt cold (%s): %d signals", why, replay.taken)
        return Refreshed(done.ledger, done.next_signal_seq, replay.taken, why)

    async def _warm(self, base: _Base, now: float) -> Refreshed | None:
        """Catch up from the last row fed; None if only a cold rebuild is right.
        Everything is read first and the engine changed after the last await, so
        a request served meanwhile sees the views before or after, never between."""
        store, replay = self.store, base.replay
        last_outage, last_seq = await store.last_ids()
        rows = await store.recoverable(now - base.index.topology.thresholds.relapse_window_s)
        ids = [r.outage.id for r in rows]
        deadlines = await store.deadlines(ids)
        seqs = await store.last_seqs(ids)
        pages, upto = [], replay.upto
        while True:  # the rows stored since, as a cold recovery reads them after the outages
            page = await store.replay_rows_since(replay.reads_from, upto, PAGE)
            pages.append(page)
            if page:
                upto = page[-1][0]
            if len(page) < PAGE:
                break
        engine = base.engine
        old = {oid: r.outage for oid, r in base.rows.items()}
        if not readopt(engine, old, [r.outage for r in rows], last_outage + 1):
            return None
        base.rows = {r.outage.id: r for r in rows}
        for page in pages:
            replay.feed(page)
        replay.upto = upto
        ledger = Ledger(engine, self.policy, now=now)
        for row in rows:
            ledger.load(row.record, deadlines[row.outage.id], seqs.get(row.outage.id, 0), row.area)
        fed = sum(len(p) for p in pages)
        return Refreshed(ledger, max(last_seq, upto) + 1, fed, None)

    async def _mark(self) -> tuple[int, float] | None:
        """The baselines checkpoint's (seq, export time), None before the first."""
        try:
            conn = self._conn
            if conn is None or conn.closed:
                conn = self._conn = await AsyncConnection.connect(
                    self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                )
            async with conn.cursor() as cur:
                await cur.execute(_MARK)
                row = await cur.fetchone()
        except (psycopg.Error, OSError):
            await self.close()
            raise
        return None if row is None else (int(row[0]), float(row[1]))


def readopt(engine: Followed, old: dict[int, Outage], outages: list[Outage], next_id: int) -> bool:
    """Bring the engine's outages from `old` to `outages` (the store's rows, in
    order) as a cold recovery's adopt would have them before its re-ingest; False
    (and nothing changed) if that needs a cold one."""
    new = {o.id: o for o in outages}
    changed = [o for o in outages if old.get(o.id) != o]
    gone = [oid for oid in old if oid not in new]
    ended = [o for o in changed if o.released_at is not None]
    ended += [old[o.id] for o in changed if o.id in old and old[o.id].released_at is not None]
    ended += [old[oid] for oid in gone if old[oid].released_at is not None]
    if ended or any(engine.is_open(oid) for oid in gone):
        return False
    if not changed and not gone:
        return True
    engine.adopt(changed, next_id)
    engine.forget(gone)
    _remembered(engine, outages)
    _first_reports(engine, {o.id for o in changed} | set(gone))
    return True


def _remembered(engine: Followed, outages: Iterable[Outage]) -> None:
    """What open outages remember, as `Engine.adopt` leaves it after adopting
    `outages` in order, then ended by the recoveries seen since, in order."""
    remembered: dict[str, tuple[str, float, int]] = {}
    for each in outages:
        oid = each.id
        if engine.is_open(oid):
            outage = engine.outages[oid]  # as adopted (pruned to the topology)
            remembered.update((e, (r, t, oid)) for e, r, t in outage.held)
    engine._remembered = remembered
    for at, element in engine.ups:
        Engine._forget_below(engine, element, at)


def _first_reports(engine: Followed, ids: set[int]) -> None:
    """The first-report times of the outages `ids` as a cold recovery's re-ingest
    dates them: from every call noted, under the outages as they are now."""
    times = engine._first_reports
    for oid in [o for o in times if o in ids or not engine.is_open(o)]:
        del times[oid]
    opened = [engine.outages[o].opened_at for o in ids if engine.is_open(o)]
    if not opened:
        return
    since = min(opened)
    for at, element in engine.calls:
        if at >= since:  # `_first_report` takes no call from before an outage opened
            Engine._first_report(engine, Report(at, element, Category.DOWN))
