"""Table tests for the pure pieces of the core: graph index, hysteresis, spikes, severity."""

from __future__ import annotations

import math

import pytest

from outaged.classify.scope import Scope
from outaged.classify.severity import on_site_by, restore_by, severity
from outaged.correlate.health import Health, State, expire_flap, observe
from outaged.correlate.significance import poisson_tail
from outaged.correlate.spikes import ReportClass, SpikeDetector
from outaged.topology.graph import GraphIndex
from outaged.topology.model import Area, Element, Kind, Person, Severity, Thresholds, Topology

TH = Thresholds()


def topo(*elements: Element, thresholds: Thresholds = TH) -> GraphIndex:
    return GraphIndex.build(
        Topology(
            elements={e.id: e for e in elements},
            areas={"a": Area("a", "A", "p")},
            people={"p": Person("p", "P")},
            leadership=(),
            service_centres={},
            subscribers={},
            thresholds=thresholds,
        )
    )


def el(eid: str, kind: Kind, *parents: str, subs: int = 0) -> Element:
    return Element(eid, kind, tuple(parents), "a", subscribers=subs)


CITY = topo(
    el("core", Kind.CORE),
    el("aaa", Kind.PLATFORM, "core"),
    el("m1", Kind.METRO, "core"),
    el("m2", Kind.METRO, "core"),
    el("c1", Kind.COMMUNITY, "m1"),
    el("c2", Kind.COMMUNITY, "m2"),
    el("dual", Kind.COMMUNITY, "m1", "m2"),
    el("f1", Kind.FIBRE, "c1"),
    el("b1", Kind.BUILDING, "f1", subs=100),
    el("b2", Kind.BUILDING, "f1", subs=100),
    el("b3", Kind.BUILDING, "c1", subs=200),
    el("b4", Kind.BUILDING, "c2", subs=400),
    el("bd", Kind.BUILDING, "dual", subs=200),
)


def test_dominators_respect_redundancy():
    assert CITY.idom["dual"] == "core"  # two metros: neither alone cuts it off
    assert set(CITY.cut_off("m1")) == {"m1", "c1", "f1", "b1", "b2", "b3"}
    assert CITY.dominates("c1", "b2") and not CITY.dominates("m1", "bd")
    assert CITY.dominators("b1") == ("f1", "c1", "m1", "core")
    assert CITY.lost_redundancy("m1") == ("dual",)


def test_subtree_sums_and_paths():
    assert CITY.subtree_subscribers["c1"] == 400
    assert CITY.subtree_subscribers["core"] == CITY.total_subscribers == 1000
    assert CITY.subtree_size["f1"] == 3
    assert CITY.community_of["b2"] == "c1" and CITY.community_of["m1"] is None
    assert CITY.path("b1") == ["core", "m1", "c1", "f1", "b1"]


@pytest.mark.parametrize(
    ("results", "state", "evidence"),
    [
        ([True], State.UP, False),
        ([False], State.SUSPECT, False),
        ([False, False], State.SUSPECT, False),
        ([False, False, False], State.DOWN, True),
        ([False, False, False, True], State.DOWN, True),  # one good cycle is not enough
        ([False, False, False, True, True], State.UP, False),
        ([False, False, True, False, False], State.SUSPECT, False),  # streak broken
    ],
)
def test_hysteresis(results, state, evidence):
    health = Health()
    for i, ok in enumerate(results):
        observe(health, ok, float(i * 60), 1.0 if ok else None, TH)
    assert (health.state, health.is_evidence) == (state, evidence)


def test_down_since_is_the_first_failed_cycle_of_the_streak():
    health = Health()
    for i, ok in enumerate([True, False, False, False]):
        observe(health, ok, float(i * 60), None, TH)
    assert health.down_since == 60.0


def test_flapping_holds_evidence_until_a_stable_window_passes():
    health = Health()
    t = 0.0
    for ok in [False] * 3 + [True] * 2 + [False] * 3:  # down, up, down: flapping
        observe(health, ok, t, None, TH)
        t += 60
    assert health.flapping
    for _ in range(2):
        observe(health, True, t, None, TH)
        t += 60
    assert health.state is State.UP and health.is_evidence  # held while flapping
    assert not expire_flap(health, t, TH)
    assert expire_flap(health, t + TH.flap_window_s, TH)
    assert not health.is_evidence


@pytest.mark.parametrize(
    ("k", "lam", "expected"),
    [
        (0, 1.0, 1.0),
        (3, 0.0, 0.0),
        (1, 0.5, 1 - math.exp(-0.5)),
        (3, 0.1, 1 - math.exp(-0.1) * (1 + 0.1 + 0.005)),
        (2, 5.0, 1.0),  # below the expectation: never a spike
    ],
)
def test_poisson_tail(k, lam, expected):
    assert poisson_tail(k, lam) == pytest.approx(expected, rel=1e-6)


def test_spike_needs_distinct_reporters_and_share():
    spikes = SpikeDetector(CITY, TH)
    # The same subscriber calling five times is one reporter.
    assert not any(spikes.add(float(i), "b1", ReportClass.DOWN, "s1") for i in range(5))
    assert spikes.add(10.0, "b1", ReportClass.DOWN, "s2") is False
    assert spikes.add(11.0, "b1", ReportClass.DOWN, "s3") is False  # 3 of 100: under 5 %
    assert spikes.add(12.0, "b1", ReportClass.DOWN, "s4") is False
    assert spikes.add(13.0, "b1", ReportClass.DOWN, "s5") is True
    assert ("b1", ReportClass.DOWN) in spikes.active
    assert spikes.expire(14.0 + TH.spike_window_s) != []  # the rate fell back
    assert not spikes.active


def test_spike_window_slides():
    spikes = SpikeDetector(CITY, TH)
    for i in range(5):  # five callers, each a window apart: never a burst
        assert not spikes.add(i * (TH.spike_window_s + 1), "b1", ReportClass.DOWN, f"s{i}")


def scope(subs: int, hit: tuple[str, ...] = ()) -> Scope:
    return Scope(True, 1, subs, ("x",), hit, hit)


@pytest.mark.parametrize(
    ("root", "sc", "expected"),
    [
        ("core", scope(0), Severity.S1),
        ("aaa", scope(0), Severity.S1),
        ("m1", scope(400, ("c1",)), Severity.S2),
        ("c2", scope(600, ("c2",)), Severity.S1),  # >= 50 % of all subscribers
        ("f1", scope(200, ("c1", "c2")), Severity.S2),
        ("c1", scope(400, ("c1",)), Severity.S3),
        ("b1", scope(100), Severity.S4),
    ],
)
def test_severity_from_root_and_scope(root, sc, expected):
    assert severity(CITY, root, sc, TH) is expected


@pytest.mark.parametrize(
    ("sev", "cause", "contract", "hours"),
    [
        (Severity.S1, None, True, 1),
        (Severity.S2, None, True, 4),
        (Severity.S3, None, True, 2),
        (Severity.S4, None, True, 2),
        (Severity.S1, "fibre", True, 6),
        (Severity.S3, "fibre", True, 6),
        (Severity.S4, "fibre", True, 2),
        (Severity.S2, "power", True, 4),
        (Severity.S2, None, False, None),
    ],
)
def test_restore_deadlines(sev, cause, contract, hours):
    due = restore_by(sev, 1000.0, cause, contract)
    assert due == (None if hours is None else 1000.0 + hours * 3600)


def test_on_site_deadline_is_half_an_hour_for_s1():
    assert on_site_by(Severity.S1, 0.0) == 1800.0
    assert on_site_by(Severity.S3, 0.0) == 3600.0


@pytest.mark.parametrize("ts", [1795000000.1239996, 1795000000.9999999, 0.0, 1795000000.5])
def test_iso_times_never_print_later_than_they_are(ts):
    from outaged.intake import parse_time
    from outaged.outages.model import iso

    printed = iso(ts)
    assert printed is not None and printed.endswith("Z")
    assert ts - 0.001 < parse_time(printed) <= ts  # filters like since=opened_at keep it


def test_a_reports_received_time_is_its_iso_time_parsed_back():
    """An API report without "at" gets `received(now)`, as it once got iso(now)."""
    import random

    from outaged.intake import parse_time, received
    from outaged.outages.model import iso

    rng = random.Random(7)
    times = [1795000000.1239996, 1795000000.9999999, 0.0, 1795000000.5]
    times += [rng.uniform(0, 4e9) for _ in range(2000)]
    for ts in times:
        assert received(ts) == parse_time(iso(ts) or ""), ts


def test_topological_order_refuses_a_cycle():
    from outaged.topology.graph import topological_order

    elements = {e.id: e for e in (el("a", Kind.CORE, "b"), el("b", Kind.CORE, "a"))}
    with pytest.raises(ValueError, match="cycle"):
        topological_order(elements)


def test_dominators_equal_networkx_on_a_random_multi_homed_dag():
    import random

    import networkx as nx

    from outaged.topology.graph import SUPER_ROOT

    rng = random.Random(5)
    elements = [el("core", Kind.CORE), el("egress", Kind.EGRESS)]
    for i in range(400):
        earlier = [e.id for e in elements]
        parents = rng.sample(earlier, 1 if rng.random() < 0.8 else min(3, len(earlier)))
        elements.append(el(f"n{i}", Kind.ACCESS, *parents, subs=rng.randint(0, 9)))
    index = topo(*elements)
    graph = nx.DiGraph()
    graph.add_node(SUPER_ROOT)
    graph.add_nodes_from(index.topology.elements)
    graph.add_edges_from(
        (p, e.id) for e in index.topology.elements.values() for p in e.parents or (SUPER_ROOT,)
    )
    reference = nx.immediate_dominators(graph, SUPER_ROOT)
    reference.pop(SUPER_ROOT, None)
    assert index.idom == reference
    for node in rng.sample(sorted(index.idom), 50):
        below = set(index.cut_off(node))
        assert index.subtree_subscribers[node] == sum(index.element(e).subscribers for e in below)
