"""`outaged_deadlines_missed_total` is fed by the committed steps: each deadline the
clock records missed (Ledger._missed) counts once, in the step that recorded it, and
so does a deadline met past its due before the clock saw it; outages that leave
memory are not counted again and later steps add nothing. A Ledger on a generated
city, a real prometheus_client registry, the Recorder the daemon uses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from outaged.correlate.spikes import Suspicion
from outaged.metrics.families import Metrics
from outaged.metrics.observe import Recorder
from outaged.notify.base import Message, Sent
from outaged.notify.base import State as Delivery
from outaged.outages.engine import Engine
from outaged.outages.lifecycle import Action
from outaged.records.actions import ActionRequest
from outaged.records.ledger import Ledger
from outaged.signals import ManualFault, ProbeResult, Signal
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from tests.citygen import write_city

T0 = 1_795_000_000.0
MIN = 60.0


def _setup(tmp_path: Path) -> tuple[Ledger, Recorder, CollectorRegistry]:
    index = GraphIndex.build(load_topology(write_city(tmp_path / "city", metros=2)))
    ledger = Ledger(Engine(index))
    registry = CollectorRegistry()
    recorder = Recorder(Metrics(registry, index.topology.areas, ["log"]), lambda: ledger)
    for element in index.topology.elements.values():
        if element.address:
            ledger.engine.ingest(ProbeResult(T0, element.id, True, 1.0))
    return ledger, recorder, registry


def _step(ledger: Ledger, recorder: Recorder, now: float, signals: Sequence[Signal] = ()) -> int:
    """One committed step; the `deadline_missed` entries it recorded."""
    for signal in signals:
        ledger.engine.ingest(signal)
    ledger.decide(now)
    changes = ledger.drain()
    none: list[Suspicion] = []
    recorder.committed(changes, signals, none, now, 0.0)
    return sum(1 for e in changes.entries if e.kind == "deadline_missed")


def _missed(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    found = {}
    for metric in registry.collect():
        if metric.name == "outaged_deadlines_missed":
            for s in metric.samples:
                if s.name.endswith("_total") and s.value:
                    found[s.labels["step"], s.labels["severity"]] = s.value
    return found


def test_each_recorded_miss_counts_once_and_pruned_outages_stay_counted(tmp_path: Path) -> None:
    ledger, recorder, registry = _setup(tmp_path)
    fault = ManualFault(T0 + MIN, "m1-c2-b1", "down", "noc", False)
    assert _step(ledger, recorder, T0 + MIN, [fault]) == 0
    (oid,) = ledger.records
    severity = ledger.engine.outages[oid].severity.value
    assert _missed(registry) == {}
    recorded = _step(ledger, recorder, T0 + 50 * MIN)  # past the judgement, ack_15/30/45 ...
    assert recorded >= 2
    counted = _missed(registry)
    assert sum(counted.values()) == recorded
    assert all(sev == severity for _, sev in counted)
    assert counted[("ack_15", severity)] == 1.0
    for minute in (51, 52, 53):  # the clock has nothing new to record: nothing more counted
        _step(ledger, recorder, T0 + minute * MIN)
    assert _missed(registry) == counted
    # cancelled and evicted from memory: its rows are gone, the count is not
    ledger.act(oid, ActionRequest(Action.CANCEL, {"reason": "test"}), "tester", T0 + 54 * MIN)
    cleared = ManualFault(T0 + 55 * MIN, "m1-c2-b1", "down", "noc", True)
    _step(ledger, recorder, T0 + 55 * MIN, [cleared])
    later = T0 + 10 * 86_400
    _step(ledger, recorder, later)
    assert ledger.evict(later) == [oid]
    _step(ledger, recorder, later + MIN)
    assert oid not in ledger.records and oid not in ledger.deadlines
    assert _missed(registry) == counted


def test_a_deadline_met_late_before_the_clock_looked_counts_once(tmp_path: Path) -> None:
    ledger, recorder, registry = _setup(tmp_path)
    opened = T0 + MIN
    _step(ledger, recorder, opened, [ManualFault(opened, "m1-c2-b1", "down", "noc", False)])
    (oid,) = ledger.records
    severity = ledger.engine.outages[oid].severity.value
    due = ledger.deadlines[oid]["dispatch"].due
    late = due + 2 * MIN
    message = Message(oid, 1, "dispatch", "p", "log", "", "en", {}, opened)
    sent = Message(
        oid, 1, "dispatch", "p", "log", "", "en", {}, opened, Delivery.SENT, 1, 0.0, late
    )
    ledger.delivery(sent, Sent(message.id), True, late)  # the report comes before the chase
    _step(ledger, recorder, late)
    row = ledger.deadlines[oid]["dispatch"]
    assert row.met_at == late and row.missed_at is None  # met late; the clock never missed it
    assert _missed(registry)[("dispatch", severity)] == 1.0
    for minute in (15, 16, 17):  # the row goes out with every later change: counted once
        _step(ledger, recorder, opened + minute * MIN)
    assert _missed(registry)[("dispatch", severity)] == 1.0
