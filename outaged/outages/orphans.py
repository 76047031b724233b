"""Outages that name elements the topology no longer has (it changed under them).

Pure. The engine keeps such an outage out of correlation when its root is gone
(nothing can be judged against an element that does not exist), while the record
stays open and workable. One that lost only parts (or other named elements) is
still the outage of its root: it is adopted with those elements dropped (`pruned`)
and its scope is recomputed on the new topology. `outaged check` uses the same
test to warn before a new topology is deployed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from outaged.outages.model import Outage

REMOVED = "topology_removed"  # the timeline entry kind that records it


@dataclass(frozen=True, slots=True)
class Orphan:
    """An outage and the elements it names that are gone from the topology."""

    outage: int
    root: str
    missing: tuple[str, ...]
    watched: bool  # its root still exists: the engine still judges it


def missing_elements(outage: Outage, elements: Collection[str]) -> tuple[str, ...]:
    """Every element the outage names (root first) that is not in `elements`."""
    scope = outage.scope
    named = (
        outage.root,
        *scope.parts,
        *outage.evidence,
        *scope.communities_touched,
        *outage.lost_redundancy,
        *((outage.possible_cause,) if outage.possible_cause else ()),
    )
    return tuple(dict.fromkeys(e for e in named if e not in elements))


def correlatable(outage: Outage, elements: Collection[str]) -> bool:
    """The engine can weigh evidence against it: its root exists."""
    return outage.root in elements


def pruned(outage: Outage, elements: Collection[str]) -> Outage:
    """The outage without the parts, evidence and remembered reports that left the
    topology (its root stays: see `correlatable`); the next election recomputes
    its scope on the new topology."""
    scope = outage.scope
    parts = tuple(p for p in scope.parts if p in elements) or (outage.root,)
    if parts == scope.parts and all(e in elements for e, _, _ in outage.held):
        return outage
    return dataclasses.replace(
        outage,
        scope=dataclasses.replace(scope, parts=parts),
        evidence=tuple(e for e in outage.evidence if e in elements),
        held=tuple(h for h in outage.held if h[0] in elements),
    )


def orphans(outages: Iterable[Outage], elements: Collection[str]) -> list[Orphan]:
    """The outages that a topology with only `elements` would leave naming ghosts."""
    found = []
    for outage in outages:
        missing = missing_elements(outage, elements)
        if missing:
            found.append(Orphan(outage.id, outage.root, missing, correlatable(outage, elements)))
    return found
