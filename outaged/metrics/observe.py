"""Feeding the event metrics at the edges, from what the pipeline already has.

The decision loop calls `committed` after a step's commit (its changes, the
signals it took in, the suspicions it logged) and `paced` (how long it held the
event loop; over its budget or not), the ICMP scheduler calls
`on_result` for each probe cycle, and the outbox's delivery reports go through
`delivered`. Nothing here decides anything or touches the engine.
"""

from __future__ import annotations

from collections import Counter as TallyCounter
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from outaged.correlate.spikes import ReportClass, Suspicion
from outaged.dispatch.escalation import Step
from outaged.metrics.families import CAUSES, Metrics, step_label
from outaged.notify.base import Failed, Sent
from outaged.notify.outbox import Report as Delivery
from outaged.outages.model import Event, Outage
from outaged.probes.icmp import PingResult
from outaged.records.ledger import Changes, Ledger
from outaged.records.model import Record
from outaged.signals import Report, Signal
from outaged.topology.model import Element

_SPANS = (  # (histogram attribute, record field it ends at, field it starts from)
    ("to_dispatch", "dispatched_at", None),  # from the opening
    ("to_ack", "acknowledged_at", "dispatched_at"),
    ("to_arrive", "arrived_at", "dispatched_at"),
)


class StepObserver(Protocol):
    """What the decision loop tells after each step (outaged.pipeline)."""

    def committed(
        self,
        changes: Changes,
        signals: Iterable[Signal],
        suspicions: Iterable[Suspicion],
        started_at: float,
        duration_s: float,
    ) -> None: ...

    def failed(self, duration_s: float) -> None: ...

    def paced(self, held_s: float, over_budget: bool) -> None:
        """A committed step held the event loop `held_s` at most in one go; its work
        took longer than its budget (outaged.steps.STEP_BUDGET_S)."""


class NoObserver:
    """The loop without metrics (tests, the replay, the bench's anchor)."""

    def committed(
        self,
        changes: Changes,
        signals: Iterable[Signal],
        suspicions: Iterable[Suspicion],
        started_at: float,
        duration_s: float,
    ) -> None:
        return None

    def failed(self, duration_s: float) -> None:
        return None

    def paced(self, held_s: float, over_budget: bool) -> None:
        return None


class Recorder:
    """Turns committed steps, probe cycles and deliveries into metric updates."""

    def __init__(self, metrics: Metrics, ledger: Callable[[], Ledger]) -> None:
        self.m = metrics
        self._ledger = ledger  # the current one (a reload swaps it)
        self._seen: dict[int, set[str]] = {}  # spans observed per outage: once each
        self._spikes: set[tuple[str, ReportClass]] = set()  # active after the last step
        # deadlines met late before the clock saw them missed: (outage, name, due),
        # counted once; forgotten when the record ends
        self._late: set[tuple[int, str, float]] = set()

    # ---- the decision loop ------------------------------------------------

    def committed(
        self,
        changes: Changes,
        signals: Iterable[Signal],
        suspicions: Iterable[Suspicion],
        started_at: float,
        duration_s: float,
    ) -> None:
        self.m.step_seconds.observe(duration_s)
        elements = self._ledger().index.topology.elements
        areas: TallyCounter[str | None] = TallyCounter()
        for signal in signals:
            if isinstance(signal, Report):
                found = elements.get(signal.element)
                areas[found.area if found else None] += 1
        for area, count in areas.items():  # one update per area, not per call
            self.m.reports.labels(self.m.area(area)).inc(count)
        self._new_spikes(elements)
        for suspicion in suspicions:
            found = elements.get(suspicion.element)
            self.m.suspected.labels(self.m.area(found.area if found else None)).inc()
        for decision in changes.decisions:
            outage = decision.outage
            if decision.event is Event.OPENED:
                self._opened(outage)
            elif decision.event is Event.RESTORED and outage.restored_at is not None:
                self.m.restored.labels(outage.severity.value).inc()
                spent = outage.restored_at - outage.occurred_at
                self.m.to_restore.labels(outage.severity.value).observe(max(0.0, spent))
        for oid, record in changes.records.items():
            now_outage = changes.outages.get(oid) or self._ledger().engine.outages.get(oid)
            self._spans(record, now_outage, started_at)
        self._missed(changes)

    def failed(self, duration_s: float) -> None:
        self.m.step_seconds.observe(duration_s)
        self.m.step_failures.inc()

    def paced(self, held_s: float, over_budget: bool) -> None:
        self.m.step_held.observe(held_s)
        if over_budget:
            self.m.steps_over_budget.inc()

    def _new_spikes(self, elements: Mapping[str, Element]) -> None:
        """Count each spike once, in the step that found it (the detector keeps them).

        Set operations on the detector's keys (in C): a storm keeps thousands active."""
        active = self._ledger().engine.spikes.active
        new = active.keys() - self._spikes
        if new or len(self._spikes) != len(active):
            self._spikes = set(active)
        for element, cls in new:
            found = elements.get(element)
            self.m.spikes.labels(self.m.area(found.area if found else None), cls.value).inc()

    def _opened(self, outage: Outage) -> None:
        root = self._ledger().index.topology.elements.get(outage.root)
        cause = outage.cause or "unknown"
        cause = cause if cause in CAUSES else "other"
        area = self.m.area(root.area if root is not None else None)
        self.m.opened.labels(outage.severity.value, cause, area).inc()

    def _spans(self, record: Record, outage: Outage | None, since: float) -> None:
        """Observe each span once, when the step that set its end commits."""
        if not record.active:
            self._seen.pop(record.id, None)
        seen = self._seen.setdefault(record.id, set()) if record.active else set()
        for attr, end_field, start_field in _SPANS:
            end = getattr(record, end_field)
            if end is None or end < since or end_field in seen:
                continue
            start = getattr(record, start_field) if start_field else None
            if start is None and outage is not None and start_field is None:
                start = outage.opened_at
            if start is None:
                continue
            seen.add(end_field)
            severity = outage.severity.value if outage is not None else None
            if severity is not None:
                getattr(self.m, attr).labels(severity).observe(max(0.0, end - start))

    # ---- deadlines ---------------------------------------------------------

    def _missed(self, changes: Changes) -> None:
        """Count each deadline miss once, from the step that recorded it: the clock's
        `deadline_missed` entries (Ledger._missed, once per deadline and due time),
        and a deadline met past its due before the clock saw it missed."""
        for entry in changes.entries:
            if entry.kind == Step.MISSED.value:
                self._count(changes, entry.outage, str(entry.payload["deadline"]))
        for oid, rows in changes.deadlines.items():
            record = changes.records.get(oid)
            if record is not None and not record.active:
                self._late = {k for k in self._late if k[0] != oid}
            for d in rows:
                if d.met_at is not None and d.met_at > d.due and d.missed_at is None:
                    key = (oid, d.name, d.due)
                    if key not in self._late:
                        self._late.add(key)
                        self._count(changes, oid, d.name)

    def _count(self, changes: Changes, oid: int, name: str) -> None:
        outage = changes.outages.get(oid) or self._ledger().engine.outages.get(oid)
        if outage is not None:
            self.m.missed.labels(step_label(name), outage.severity.value).inc()

    # ---- probes and deliveries --------------------------------------------

    def on_result(self, element: str, result: PingResult) -> None:
        found = self._ledger().index.topology.elements.get(element)
        if found is None:
            return
        kind = found.kind.value
        self.m.probes_sent.labels(kind).inc(result.sent)
        self.m.probes_lost.labels(kind).inc(max(0, result.sent - result.received))
        rtt = self.m.rtt.labels(kind)
        for ms in result.rtts_ms:
            rtt.observe(ms / 1000.0)

    def delivered(self, report: Delivery) -> None:
        m = report.message
        if isinstance(report.result, Sent):
            self.m.sent.labels(m.channel).inc()
            at = report.message.sent_at
            if at is not None:
                self.m.latency.labels(m.channel).observe(max(0.0, at - m.created_at))
        elif isinstance(report.result, Failed):
            self.m.failed.labels(m.channel, report.result.reason.value).inc()
