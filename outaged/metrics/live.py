"""Gauges read from the daemon's state at scrape time (nothing to update in the loop).

`Live` is a prometheus_client collector over a `View` of the running daemon:
element states by kind and area, open outages by severity and lifecycle state,
deadlines pending and overdue, the outbox, the probers and the topology. Deadline
misses are a counter the committed steps feed (outaged.metrics.observe), not a
scan here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from outaged.correlate.health import State as Health
from outaged.metrics.families import KINDS, NO_AREA, SEVERITIES, STEPS, step_label
from outaged.outages.lifecycle import ACTIVE
from outaged.probes.probers import PROBERS, Probers, ProberState
from outaged.probes.snmp_client import PollStatus
from outaged.records.ledger import Ledger
from outaged.records.model import DeadlineStatus
from outaged.topology.graph import GraphIndex

UNKNOWN = Health.UNKNOWN.value
ELEMENT_STATES = ("up", "down", "suspect", "unknown", "flapping", "maintenance")


@dataclass(slots=True)
class View:
    """Where the collector looks; callables, because a reload swaps what they return."""

    ledger: Callable[[], Ledger]
    clock: Callable[[], float]
    outbox_pending: Callable[[], tuple[int, float | None]]  # count, oldest created_at
    probers: Callable[[], Probers | None]


class Live(Collector):
    def __init__(self, view: View) -> None:
        self.view = view
        self._elements_of: tuple[GraphIndex, list[str], list[tuple[str, str]]] | None = None

    def collect(self) -> Iterator[Metric]:
        ledger = self.view.ledger()
        now = self.view.clock()
        yield self._elements(ledger, now)
        yield from self._outages(ledger, now)
        yield from self._outbox(now)
        yield from self._probers()
        topo = ledger.index.topology
        yield _gauge(
            "outaged_topology_elements", "Elements in the loaded topology.", len(topo.elements)
        )
        yield _gauge(
            "outaged_topology_subscribers",
            "Subscribers in the loaded topology.",
            len(topo.subscribers),
        )

    def _elements(self, ledger: Ledger, now: float) -> Metric:
        engine = ledger.engine
        index = ledger.index
        windows = [w for w in engine.maintenance if w.start <= now < w.end]
        ids, keys = self._static(index)
        states: list[str] = [
            UNKNOWN if h is None else "flapping" if h.flapping else h.state
            for h in map(engine.health.get, ids)
        ]  # a StrEnum state counts and looks up as its value
        if windows:
            states = [
                "maintenance" if any(index.dominates(w.element, e) for w in windows) else state
                for e, state in zip(ids, states, strict=True)
            ]
        counts = Counter(zip(keys, states, strict=True))  # counted in C: 100k elements
        family = GaugeMetricFamily(
            "outaged_elements",
            "Elements by kind, maintenance area and state as the probes see them.",
            labels=["kind", "area", "state"],
        )
        areas = {*index.topology.areas, NO_AREA}
        for kind in KINDS:
            for area in sorted(areas):
                for state in ELEMENT_STATES:
                    family.add_metric([kind, area, state], counts.get(((kind, area), state), 0))
        return family

    def _static(self, index: GraphIndex) -> tuple[list[str], list[tuple[str, str]]]:
        """Element ids and their (kind, area), kept while the topology stays the same."""
        if self._elements_of is None or self._elements_of[0] is not index:
            elements = index.topology.elements.values()
            ids = [e.id for e in elements]
            keys = [(e.kind.value, e.area or NO_AREA) for e in elements]
            self._elements_of = (index, ids, keys)
        return self._elements_of[1], self._elements_of[2]

    def _outages(self, ledger: Ledger, now: float) -> Iterator[Metric]:
        by_state: Counter[tuple[str, str]] = Counter()
        pending: Counter[tuple[str, str]] = Counter()
        overdue: Counter[tuple[str, str]] = Counter()
        for oid, record in ledger.records.items():
            outage = ledger.engine.outages.get(oid)
            if outage is None:
                continue
            severity = outage.severity.value
            if record.active:
                by_state[severity, record.state.value] += 1
            for name, deadline in ledger.deadlines.get(oid, {}).items():
                if record.active and deadline.met_at is None:
                    step = step_label(name)
                    pending[step, severity] += 1
                    if deadline.status(now, record.state) is DeadlineStatus.MISSED:
                        overdue[step, severity] += 1
        family = GaugeMetricFamily(
            "outaged_open_outages",
            "Outages not yet closed, cancelled or merged, by severity and lifecycle state.",
            labels=["severity", "state"],
        )
        for severity in SEVERITIES:
            for state in sorted(s.value for s in ACTIVE):
                family.add_metric([severity, state], by_state.get((severity, state), 0))
        yield family
        for name, text, counts in (
            ("outaged_deadlines_pending", "Unmet deadlines of open outages", pending),
            (
                "outaged_deadlines_overdue",
                "Unmet deadlines of open outages already past due",
                overdue,
            ),
        ):
            family = GaugeMetricFamily(
                name, f"{text}, by step and severity.", labels=["step", "severity"]
            )
            steps = dict.fromkeys([*STEPS, *(s for s, _ in counts)])
            for step in steps:
                for severity in SEVERITIES:
                    family.add_metric([step, severity], counts.get((step, severity), 0))
            yield family

    def _outbox(self, now: float) -> Iterator[Metric]:
        count, oldest = self.view.outbox_pending()
        yield _gauge(
            "outaged_outbox_pending_messages", "Notification messages not yet delivered.", count
        )
        yield _gauge(
            "outaged_outbox_oldest_pending_age_seconds",
            "Age of the oldest undelivered message (0 when none is pending).",
            0.0 if oldest is None else max(0.0, now - oldest),
        )

    def _probers(self) -> Iterator[Metric]:
        probers = self.view.probers()
        statuses = probers.statuses() if probers is not None else {}
        family = GaugeMetricFamily(
            "outaged_prober_up",
            "1 if the prober runs, 0 if it failed, stopped or is disabled (see state).",
            labels=["prober", "state"],
        )
        for name in PROBERS:
            found = statuses.get(name)
            for state in ProberState:
                on = found is not None and found.state is state
                family.add_metric([name, state.value], 1.0 if on else 0.0)
        yield family
        snmp = GaugeMetricFamily(
            "outaged_snmp_elements",
            "SNMP-polled elements by the outcome of their last poll (errors by reason).",
            labels=["status"],
        )
        counters = statuses["snmp"].counters if "snmp" in statuses else {}
        for status in PollStatus:
            snmp.add_metric([status.value], counters.get(status.value, 0))
        yield snmp
        icmp = statuses["icmp"].counters if "icmp" in statuses else {}
        yield CounterMetricFamily(
            "outaged_icmp_storms",
            "Times the ICMP prober saw most elements fail at once and held the results.",
            value=icmp.get("storms", 0),
        )


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=value)
