"""Outages that name elements the topology no longer has (it changed under them).

Pure. The engine keeps such an outage out of correlation when its root or one
of its parts is gone (nothing can be judged against elements that do not
exist), while the record stays open and workable; `outaged check` uses the same
test to warn before a new topology is deployed.
"""

from __future__ import annotations

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
    watched: bool  # its root and parts still exist: the engine still judges it


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
    """The engine can weigh evidence against it: its root and parts exist."""
    return outage.root in elements and all(p in elements for p in outage.scope.parts)


def orphans(outages: Iterable[Outage], elements: Collection[str]) -> list[Orphan]:
    """The outages that a topology with only `elements` would leave naming ghosts."""
    found = []
    for outage in outages:
        missing = missing_elements(outage, elements)
        if missing:
            found.append(Orphan(outage.id, outage.root, missing, correlatable(outage, elements)))
    return found
