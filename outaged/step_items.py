"""What a decision step does with its items (a base of `outaged.pipeline.Pipeline`,
as `outaged.step_failures` is): each signal folded into the engine, each action
and delivery report into the ledger, after looking up what the store already
knows (idempotency keys, report ids, finished outages); and, once the ledger has
decided, its changes and the intakes' outcomes turned into the batch the step
commits (outages, deadlines, timeline entries, the outbox's messages, the
replies kept for an Idempotency-Key).

`Pipeline` decides when a step runs and makes it atomic; this is what is in it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from outaged.admission import replayed, storable_item
from outaged.correlate.health import State as Health
from outaged.dispatch import planned
from outaged.dispatch.verification import verdict
from outaged.errors import OutagedError, SignalError
from outaged.outages.engine import Engine
from outaged.outages.lifecycle import Action
from outaged.records.ledger import Changes, Ledger
from outaged.records.model import DAEMON
from outaged.signals import Maintenance, ProbeResult, Report, Signal
from outaged.steps import Act, Check, Delivery, Ingested, Intake, Item, OutboxPort, Step
from outaged.store.base import Idempotent, OutageRow, Store, StoredSignal

log = logging.getLogger("outaged.pipeline")

CHUNK = 100  # signals folded in between two looks at the step's time budget (~1-2 ms)


class StepItems:
    """Taking a step's items in, and the batch it commits."""

    # the pipeline's, used here
    ledger: Ledger
    store: Store
    outbox: OutboxPort
    clock: Callable[[], float]
    _seq: int
    reprobe_targets: Callable[[int], Mapping[str, str]]

    @property
    def engine(self) -> Engine:
        """The ledger's engine (both are replaced together when a step fails)."""
        return self.ledger.engine

    async def _take(self, items: list[Item], step: Step) -> None:
        for item in items:  # decided by this step, even if refused: its commit deletes the row
            if isinstance(item, Intake | Act) and item.inbox is not None:
                step.batch.inbox.append(item.inbox)
        items = [i for i in items if storable_item(i, step)]
        await self._prepare(items, step)
        now = self.clock()
        for item in items:
            await step.pace()
            if isinstance(item, Intake):
                await self._take_signals(item, step, now)
            elif isinstance(item, Delivery):
                self.ledger.delivery(item.message, item.result, item.complete, now)
                step.batch.outbox_updates.append(item.message)
            elif isinstance(item, Check):
                ingest = Intake(item.signals, [None] * len(item.signals), DAEMON, None, None)
                await self._take_signals(ingest, step, now)
                step.checks.append(item)
            else:
                await self._take_action(item, step, now)

    async def _prepare(self, items: list[Item], step: Step) -> None:
        """Look up what the store already knows: idempotency keys, report ids, old outages."""
        for item in items:
            if isinstance(item, Delivery | Check):
                continue
            if item.idem is not None and item.idem.key not in step.seen_keys:
                found = await step.aside(self.store.idempotent(item.idem.key))
                if found is not None:
                    step.seen_keys[found.key] = found
        ext_ids = [e for i in items if isinstance(i, Intake) for e in i.ext_ids if e]
        if ext_ids:
            step.seen_ext = await step.aside(self.store.known_ext_ids(ext_ids))
        for item in items:
            oid = (
                item.outage_id
                if isinstance(item, Act)
                else item.message.outage
                if isinstance(item, Delivery)
                else item.outage
                if isinstance(item, Check)
                else None
            )
            if oid is not None and oid not in self.ledger.records:
                await step.aside(self._load(oid))

    async def _load(self, outage_id: int) -> None:
        row = await self.store.outage(outage_id)
        if row is None:
            return
        self.engine.adopt([row.outage], self.engine.next_id)
        deadlines = (await self.store.deadlines([outage_id]))[outage_id]
        seqs = await self.store.last_seqs([outage_id])
        self.ledger.load(row.record, deadlines, seqs.get(outage_id, 0), row.area)

    async def _take_signals(self, item: Intake, step: Step, now: float) -> None:
        if replayed(item, step):
            return
        accepted = duplicates = 0
        inside: list[tuple[int, int]] = []
        for position, (signal, ext_id) in enumerate(zip(item.signals, item.ext_ids, strict=True)):
            if (position + 1) % CHUNK == 0:
                await step.pace()
            if ext_id is not None:
                if ext_id in step.seen_ext:
                    duplicates += 1
                    continue
                step.seen_ext.add(ext_id)
            before = self._health(signal)
            try:
                self.engine.ingest(signal)
            except SignalError as exc:  # the edge validated it; the topology moved since
                log.warning("signal dropped: %s", exc)
                continue
            accepted += 1
            step.signals += 1
            if isinstance(signal, Report):
                oid = self.ledger.count_call(signal, item.actor, now)
                if oid is not None:
                    inside.append((position, oid))
            if not self._steady(signal, before):
                step.batch.signals.append(StoredSignal(self._seq, signal, now, ext_id, item.actor))
                if isinstance(signal, Maintenance):
                    step.planned.append((self._seq, signal))
                self._seq += 1
        step.intakes.append((item, accepted, duplicates, inside))

    def _health(self, signal: Signal) -> Health | None:
        if not isinstance(signal, ProbeResult):
            return None
        health = self.engine.health.get(signal.element)
        return None if health is None else health.state

    def _steady(self, signal: Signal, before: Health | None) -> bool:
        """A good probe of an element that was and stays up: nothing worth keeping."""
        if not isinstance(signal, ProbeResult) or not signal.ok or before is not Health.UP:
            return False
        after = self.engine.health.get(signal.element)
        return after is not None and after.state is Health.UP and not after.flapping

    async def _take_action(self, item: Act, step: Step, now: float) -> None:
        if replayed(item, step):
            return
        try:
            record = self.ledger.act(item.outage_id, item.request, item.actor, now)
        except OutagedError as exc:  # unknown outage, transition not allowed
            step.done.append((item.reply, exc))
            return
        step.done.append((item.reply, record))
        if item.request.action is Action.RESTORE:
            if self.reprobe_targets(item.outage_id):
                step.repaired.append(item.outage_id)
            else:
                step.checks.append(Check(item.outage_id, [], verdict({})))
        if item.idem is not None:
            kept = Idempotent(item.idem.key, item.idem.request_sha256, 200, "", now)
            step.batch.idempotent.append(kept)

    def _collect(self, changes: Changes, step: Step, now: float) -> None:
        """Turn the ledger's changes and the intakes' outcomes into the step's batch."""
        outages = dict(changes.outages)
        for oid, outage in self.engine.outages.items():  # changed with no decision to say so
            if step.before.get(oid) is not outage and oid in self.ledger.records:
                outages.setdefault(oid, outage)
        for oid, outage in outages.items():
            area = self.ledger.area(oid)
            step.batch.outages.append(OutageRow(outage, self.ledger.records[oid], area))
        step.batch.deadlines = changes.deadlines
        step.batch.entries = changes.entries
        people = self.engine.index.topology.people
        for notice in changes.notices:
            step.batch.outbox += self.outbox.compose(notice, people)
        topology = self.engine.index.topology
        for seq, window in step.planned:  # planned work: notices before and after
            if window.cancelled:
                rows = self.outbox.withdrawn(planned.window_key(window))
                step.batch.outbox_updates += rows
                step.withdrawn += [m.id for m in rows]
            for notice in planned.notices(seq, window, topology, now):
                step.batch.outbox += self.outbox.compose(notice, people)
        for item, accepted, duplicates, inside in step.intakes:
            outcome = Ingested(accepted, duplicates, changes.decisions, inside)
            if item.reply is not None:
                step.done.append((item.reply, outcome))
            if item.idem is not None:
                body = item.render(outcome) if item.render is not None else ""
                step.batch.idempotent.append(
                    Idempotent(item.idem.key, item.idem.request_sha256, 202, body, now)
                )
