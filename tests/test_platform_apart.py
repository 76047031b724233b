"""A 691 spike at the AAA/billing platform is no failing branch of the core:
with one metro down beside it, two outages, never one inferred at the core
(SPEC §2: 691 points at the platform, not at the access network). The full
election and the incremental one agree; a core probed down still explains it.

On the shipped example topology: core-1 dominates aaa-1 (platform), three
metros and three dual-homed communities; infer_share 0.5 infers the silent
core from four of those seven branches.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from outaged.correlate.election import Evidence, Root, elect
from outaged.correlate.incremental import Elector
from outaged.correlate.summary import Summary, of
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology

EXAMPLE = Path(__file__).resolve().parent.parent / "topology.yaml"

AUTH = Evidence("aaa-1", 10.0, False, False, ("reports:auth",))
METRO_DOWN = Evidence("metro-s", 12.0, True, False, ("down",))
METRO_N_DOWN = Evidence("metro-n", 13.0, True, False, ("down",))
METRO_E_DOWN = Evidence("metro-e", 13.5, True, False, ("down",))
COMM_DOWN = Evidence("comm-jx", 13.7, True, False, ("down",))
CORE_DOWN = Evidence("core-1", 14.0, True, False, ("down",))


@pytest.fixture(scope="module")
def index() -> GraphIndex:
    return GraphIndex.build(load_topology(EXAMPLE))


def leaf(e: Evidence) -> Summary:
    return of(e, lambda element, reasons: False)


def both(index: GraphIndex, found: list[Evidence]) -> list[Root]:
    """The full election's roots, checked equal to the incremental one's."""
    evidence = {e.element: e for e in found}
    full = elect(index, evidence, {}, index.topology.thresholds)
    kept = Elector(index, index.topology.thresholds).elect(evidence, {}, evidence, leaf)
    assert kept == full
    return full


def elements(root: Root) -> list[str]:
    return [root.element, *(e for sub in root.below for e in elements(sub))]


def test_a_platform_spike_is_no_fourth_branch_of_the_core(index: GraphIndex) -> None:
    assert len(index.dom_children["core-1"]) == 7
    roots = both(index, [AUTH, METRO_DOWN, METRO_N_DOWN, METRO_E_DOWN])
    assert [r.element for r in roots] == ["aaa-1", "metro-n", "metro-s", "metro-e"], roots


def test_four_branches_down_infer_the_core_and_leave_the_platform_apart(
    index: GraphIndex,
) -> None:
    roots = both(index, [AUTH, METRO_DOWN, METRO_N_DOWN, METRO_E_DOWN, COMM_DOWN])
    assert [r.element for r in roots] == ["core-1", "aaa-1"], roots
    assert "aaa-1" not in elements(roots[0]) and len(roots[0].below) == 4


def test_the_core_probed_down_explains_the_platform_too(index: GraphIndex) -> None:
    roots = both(index, [AUTH, METRO_DOWN, CORE_DOWN])
    assert [r.element for r in roots] == ["core-1"], roots
    assert AUTH in roots[0].absorbed
