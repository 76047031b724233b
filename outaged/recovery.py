"""The decision state rebuilt from the store on a topology: at start, and on reload.

`recover` adopts the persisted outages that still matter into a fresh engine and
ledger built on `index`, takes back the learned report baselines of the last
checkpoint (outaged.correlate.baselines; rows of elements the topology lost are
dropped), re-ingests the recent signals, and reconciles the open
outages with the topology: one naming elements the topology no longer has stays
open and workable (detached from correlation if its root is gone; one that lost only parts keeps
correlating, its scope recomputed on the new topology) and
is marked "element removed from topology" on its timeline, once. The marks are
changes of the ledger, committed by the caller's next decision step.

A reload uses it as the start does: load and index the new file (a broken one
changes nothing), `recover(store, new_index, now)`, then, between two decision
steps, run the pipeline on the returned ledger (and its engine) and let one
step commit the marks.
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from outaged import heap
from outaged.correlate.health import steady, still_down
from outaged.dispatch.escalation import Policy
from outaged.errors import SignalError
from outaged.outages.engine import Engine
from outaged.outages.orphans import REMOVED, Orphan, orphans
from outaged.records.ledger import Ledger
from outaged.signals import Maintenance, ManualFault, ProbeResult, Signal
from outaged.store.base import Learned, OutageRow, Store
from outaged.store.codec import decoded, probe_fields, signal_from_row
from outaged.topology.graph import GraphIndex

log = logging.getLogger("outaged.recovery")
PAGE = 20_000  # stored signals read at a time on re-ingest


@dataclass(frozen=True, slots=True)
class Recovered:
    ledger: Ledger
    next_signal_seq: int
    outages: int  # adopted from the store
    stored_signals: int  # looked at for re-ingestion
    reingested: int
    orphans: tuple[Orphan, ...]  # active outages that name elements the topology lacks
    # hooks of a warm standby (outaged.ha.warm): the rows adopted, the replay that fed the engine
    rows: tuple[OutageRow, ...] = ()
    replay: Replay | None = None

    @property
    def refused(self) -> int:
        return self.stored_signals - self.reingested


async def recover(
    store: Store,
    index: GraphIndex,
    now: float,
    lookback_s: float | None = None,
    policy: Policy | None = None,
    engine_type: type[Engine] = Engine,
) -> Recovered:
    """Rebuild engine and ledger from `store` on `index`: same outages, no twins.

    `lookback_s`: how far back signals are re-ingested (default: the longest
    window of the topology's thresholds). `engine_type`: a hook for a warm
    standby's engine (outaged.ha.warm.Followed), which notes what it may need again."""
    th = index.topology.thresholds
    last_outage, last_seq = await store.last_ids()
    engine = engine_type(index, first_id=last_outage + 1)
    rows = await store.recoverable(now - th.relapse_window_s)
    engine.adopt([r.outage for r in rows], last_outage + 1)
    ids = [r.outage.id for r in rows]
    deadlines = await store.deadlines(ids)
    seqs = await store.last_seqs(ids)
    ledger = Ledger(engine, policy, now=now)  # the clock's rows say what is still owed
    for row in rows:
        ledger.load(row.record, deadlines[row.outage.id], seqs.get(row.outage.id, 0), row.area)
    if lookback_s is None:
        lookback_s = max(th.spike_window_s, th.flap_window_s)
    learned = await store.learned()
    if learned is not None:
        dropped = engine.spikes.baselines.restore(learned.baselines, index.topology.elements)
        if dropped:
            log.info("learned baselines of %d elements no longer in the topology dropped", dropped)
    replay = await _reingest(engine, store, now - lookback_s, learned)
    stored, reingested = replay.taken, replay.taken - replay.refused.total()
    found = await mark_orphans(ledger, store, rows, index, now)
    log.info(
        "recovered %d outages; re-ingested %d of %d stored signals, refused %d",
        len(rows),
        reingested,
        stored,
        stored - reingested,
    )
    return Recovered(
        ledger, last_seq + 1, len(rows), stored, reingested, found, tuple(rows), replay
    )


async def mark_orphans(
    ledger: Ledger, store: Store, rows: Iterable[OutageRow], index: GraphIndex, now: float
) -> tuple[Orphan, ...]:
    """The active outages of `rows` that name elements `index` lacks, marked on the
    ledger (also the hook of a warm standby's takeover, outaged.ha.warm)."""
    active = [r.outage for r in rows if r.record.active]
    found = tuple(orphans(active, index.topology.elements))
    for orphan in found:
        await _mark(ledger, store, orphan, now)
    return found


async def _reingest(engine: Engine, store: Store, since: float, learned: Learned | None) -> Replay:
    """Feed the stored signals from `since` on to `engine` in pages: memory holds
    one page, not the window (10^6 signals: ~0.5 GB at once). Pages are read one
    after the other (reading the next in the store's thread meanwhile cost 20 %
    more CPU: both threads want the GIL). Returns the replay (its counts)."""
    enabled = gc.isenabled()
    gc.disable()  # re-ingesting builds state, not cycles: no full collections over it meanwhile
    try:
        return await _pages(engine, store, since, learned)
    finally:
        heap.freeze_recovered()  # else the first collection after would walk all of it
        if enabled:
            gc.enable()


async def _pages(engine: Engine, store: Store, since: float, learned: Learned | None) -> Replay:
    replay = Replay(engine, since, learned)
    while True:
        page = await store.replay_rows_since(replay.reads_from, replay.upto, PAGE)
        replay.feed(page)
        if page:
            replay.upto = page[-1][0]
        if len(page) < PAGE:
            break
    refused = replay.refused
    if refused:
        listed = ", ".join(f"{e} ({n})" for e, n in sorted(refused.items())[:20])
        more = f" and {len(refused) - 20} more" if len(refused) > 20 else ""
        log.warning(
            "not re-ingesting %d stored signals of elements no longer in the topology: %s%s",
            refused.total(),
            listed,
            more,
        )
    return replay


class Replay:
    """The stored signals from `reads_from` on, in seq order, into a fresh engine.

    Without a checkpoint of the baselines it takes the signals from `since` on.
    With one (restored already), a call it holds settled (up to its seq, before
    its window) is not taken again; the calls it left out are, all of them, even
    from before `since` (the daemon was down a while): whether a spike claims
    them, so that they are no background, is decided again as the running
    daemon would have (a spike of old calls alone ends at the first evaluation)."""

    def __init__(self, engine: Engine, since: float, learned: Learned | None) -> None:
        self.engine = engine
        self.since = since
        self.settled_seq, self.settled_at = (
            (learned.seq, learned.baselines.since) if learned else (0, since)
        )
        self.reads_from = min(since, self.settled_at)
        self.taken = 0  # signals looked at for the engine
        self.refused: Counter[str] = Counter()  # by element: not in the topology
        self.upto = 0  # the seq of the last row read (a warm standby reads on after it)

    def feed(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Take rows of `Store.replay_rows_since` (or of `signal_rows_since`: their
        first five columns), decoding only what is taken."""
        engine, since = self.engine, self.since
        healths = engine.health
        taken = 0
        for row in rows:
            seq, kind, at, element, payload = row[:5]
            if kind == "probe":  # most rows: one that changes nothing stops here
                if at < since:
                    continue
                taken += 1
                fields = probe_fields(payload)
                if fields is None:  # not as `_encode` writes it: the decoder's
                    signal = decoded(kind, at, element, payload)
                else:
                    health = healths.get(element)
                    if health is not None and (
                        steady(health, fields[0], fields[1]) or still_down(health, fields[0], at)
                    ):
                        continue
                    signal = ProbeResult(at, element, fields[0], fields[1])
            elif kind == "report":
                if at <= self.settled_at and seq <= self.settled_seq:
                    continue
                taken += 1  # from before `since` too, if after the checkpoint's window
                signal = signal_from_row(kind, at, element, payload)
            else:
                signal = signal_from_row(kind, at, element, payload)
                if at < since and not _in_force(signal, since):
                    continue
                taken += 1
            try:
                engine.ingest(signal)
            except SignalError:  # the topology changed under it
                self.refused[signal.element] += 1
        self.taken += taken


def _in_force(signal: Signal, since: float) -> bool:
    """What `Store.signals_since(since)` returns from before `since`."""
    if type(signal) is Maintenance:
        return signal.end >= since
    return type(signal) is ManualFault


async def _mark(ledger: Ledger, store: Store, orphan: Orphan, now: float) -> None:
    """Mark the timeline unless the latest mark already names the same elements."""
    how = "still judged on its remaining elements" if orphan.watched else "no longer judged"
    log.warning(
        "outage %d (root %s): element removed from topology: %s; kept open and workable, %s",
        orphan.outage,
        orphan.root,
        ", ".join(orphan.missing),
        how,
    )
    marks = [e for e in await store.timeline(orphan.outage) if e.kind == REMOVED]
    if marks and marks[-1].payload.get("elements") == list(orphan.missing):
        return
    ledger.mark_removed(orphan, now)
