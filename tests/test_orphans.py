"""Outages whose elements left the topology: the pure pieces (issue 7 §5).

Table-style tests on the engine and ledger with no daemon: an outage adopted on
a topology that lost its root is detached (kept, never correlated), one that
lost only other elements is still judged, and the lifecycle works on both.
"""

from __future__ import annotations

import dataclasses

from outaged.outages.engine import Engine
from outaged.outages.lifecycle import Action, State
from outaged.outages.model import Event, Outage, Status
from outaged.outages.orphans import correlatable, missing_elements, orphans
from outaged.records.actions import ActionRequest
from outaged.records.ledger import Ledger
from outaged.records.model import Record
from outaged.signals import ManualFault
from outaged.topology.graph import GraphIndex
from outaged.topology.model import Area, Element, Kind, Person, Thresholds, Topology


def topo(*elements: Element) -> GraphIndex:
    return GraphIndex.build(
        Topology(
            elements={e.id: e for e in elements},
            areas={"a": Area("a", "A", "p")},
            people={"p": Person("p", "P")},
            leadership=(),
            service_centres={},
            subscribers={},
            thresholds=Thresholds(),
        )
    )


def el(eid: str, kind: Kind, *parents: str, subs: int = 0) -> Element:
    return Element(eid, kind, tuple(parents), "a", subscribers=subs)


BASE = (
    el("core", Kind.CORE),
    el("m1", Kind.METRO, "core"),
    el("c1", Kind.COMMUNITY, "m1"),
    el("b1", Kind.BUILDING, "c1", subs=100),
    el("b2", Kind.BUILDING, "c1", subs=100),
    el("b3", Kind.BUILDING, "c1", subs=100),
)
OLD = topo(*BASE)
NEW = topo(*(e for e in BASE if e.id != "b1"))


def opened_on(index: GraphIndex, element: str, at: float = 1000.0) -> Outage:
    engine = Engine(index)
    engine.ingest(ManualFault(at, element, actor="noc"))
    (decision,) = engine.evaluate(at)
    return decision.outage


def test_missing_elements_and_correlatable() -> None:
    outage = opened_on(OLD, "b1")
    assert missing_elements(outage, OLD.topology.elements) == ()
    assert missing_elements(outage, NEW.topology.elements) == ("b1",)
    assert not correlatable(outage, NEW.topology.elements)
    other = opened_on(OLD, "b2")
    assert [o.outage for o in orphans([outage, other], NEW.topology.elements)] == [outage.id]
    # Only a piece of evidence gone: still correlatable, still an orphan to mark.
    shown = dataclasses.replace(other, evidence=("b2", "b1"))
    (found,) = orphans([shown], NEW.topology.elements)
    assert (found.missing, found.watched) == (("b1",), True)


def test_an_adopted_outage_without_its_root_is_detached_and_workable() -> None:
    gone = opened_on(OLD, "b1")
    engine = Engine(NEW, first_id=2)
    engine.adopt([gone], 2)
    assert engine.detached == {gone.id} and engine.open_outages() == []
    ledger = Ledger(engine)
    ledger.load(Record(gone.id, State.DISPATCHED, assignee="p"), [], 3, area="north")
    assert ledger.area(gone.id) == "north"
    # The engine decides on: a fault next door opens its own outage, the orphan stays.
    engine.ingest(ManualFault(2000.0, "b2", actor="noc"))
    decisions = ledger.decide(2000.0)
    assert [(d.outage.id, d.outage.root) for d in decisions] == [(2, "b2")]
    assert engine.outages[gone.id].status is Status.OPEN
    # Diagnosing it sets the cause and keeps it out of correlation.
    for action, fields in (
        (Action.ACK, {}),
        (Action.ARRIVE, {}),
        (Action.DIAGNOSE, {"cause": "fibre"}),
    ):
        ledger.act(gone.id, ActionRequest(action, fields), "p", 2100.0)
    assert engine.outages[gone.id].cause == "fibre"
    assert engine.detached == {gone.id} and [o.id for o in engine.open_outages()] == [2]
    for action in (Action.RESTORE, Action.VERIFY, Action.CALLBACK_DONE, Action.CLOSE):
        ledger.act(gone.id, ActionRequest(action), "p", 2200.0)
    assert ledger.records[gone.id].state is State.CLOSED
    assert "report" in ledger.deadlines[gone.id]  # an unknown root still owes a report
    changes = ledger.drain()
    assert changes.outages[gone.id].root == "b1"
    # The engine never weighs evidence against it, even when b2 clears.
    engine.ingest(ManualFault(2300.0, "b2", actor="noc", cleared=True))
    restored = ledger.decide(2300.0)
    assert [(d.outage.id, d.outage.status) for d in restored] == [(2, Status.RESTORED)]


def test_a_closed_detached_outage_leaves_memory_like_any_other() -> None:
    gone = opened_on(OLD, "b1")
    engine = Engine(NEW, first_id=2)
    engine.adopt([gone], 2)
    ledger = Ledger(engine)
    ledger.load(Record(gone.id, State.CLOSED, assignee="p"), [], 9, area="north")
    assert ledger.evict(5000.0) == [gone.id]
    assert engine.detached == set() and gone.id not in engine.outages


def test_an_outage_that_lost_only_a_part_keeps_its_root_and_correlates() -> None:
    """Issue 7 §5: removing a part (not the root) must not detach the outage, or
    re-ingested evidence at its root opens a duplicate. Fails without `pruned`."""
    first = opened_on(OLD, "c1")
    lost = dataclasses.replace(
        first, scope=dataclasses.replace(first.scope, parts=("c1", "b1", "b2"))
    )
    (found,) = orphans([lost], NEW.topology.elements)
    assert (found.missing, found.watched) == (("b1",), True)
    engine = Engine(NEW, first_id=2)
    engine.adopt([lost], 2)
    assert engine.detached == set()
    assert [(o.id, o.scope.parts) for o in engine.open_outages()] == [(1, ("c1", "b2"))]
    engine.ingest(ManualFault(1000.0, "c1", actor="noc"))  # the stored call, re-ingested
    decisions = engine.evaluate(1100.0)
    assert all(d.event is not Event.OPENED for d in decisions)
    assert [(o.id, o.root) for o in engine.open_outages()] == [(1, "c1")]
    assert "b1" not in engine.outages[1].scope.parts and engine.next_id == 2
