"""What an outage record reads from all the evidence under its root, in one value.

An outage's record takes from its root's evidence only sums: how many, the
first, the first call, whether any flaps, the few it lists, the calls it
remembers and whether anything but those still speaks. `Summary` holds them
for one evidence or a group, and `combine` adds groups, so the election can keep
one per subtree and a record is built from its root's summary instead of a walk
over every evidence element under it.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain

from outaged.correlate.election import Evidence

SHOWN = 100  # elements kept listed: at least what a record lists (model.EVIDENCE_SHOWN)
_REPORTED = ("reports", "auth")

HeldOnly = Callable[[str, list[str]], bool]  # (element, its report reasons) -> no spike backs them


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    first_at: float
    reported_at: float | None  # the first evidence that customers' calls make
    flapping: bool
    smallest: tuple[str, ...]  # the SHOWN smallest element ids
    held: tuple[tuple[str, str, float], ...]  # (element, reason, first_at) of calls, sorted
    live: bool  # something besides remembered calls still speaks


def of(e: Evidence, held_only: HeldOnly) -> Summary:
    reported = [r for r in e.reasons if r.startswith("reports")]
    calls = any(r.startswith(_REPORTED) for r in e.reasons)
    return Summary(
        count=1,
        first_at=e.first_at,
        reported_at=e.first_at if calls else None,
        flapping="flapping" in e.reasons,
        smallest=(e.element,),
        held=tuple(sorted((e.element, r, e.first_at) for r in reported)),
        live=len(reported) < len(e.reasons) or not held_only(e.element, reported),
    )


def combine(parts: Iterable[Summary]) -> Summary | None:
    group = list(parts)
    if not group:
        return None
    if len(group) == 1:
        return group[0]
    reported = [s.reported_at for s in group if s.reported_at is not None]
    held = [h for s in group for h in s.held]
    held.sort()
    return Summary(
        count=sum(s.count for s in group),
        first_at=min(s.first_at for s in group),
        reported_at=min(reported, default=None),
        flapping=any(s.flapping for s in group),
        smallest=_smallest([s.smallest for s in group]),
        held=tuple(held),
        live=any(s.live for s in group),
    )


def of_all(evidence: Iterable[Evidence], held_only: HeldOnly) -> Summary | None:
    """The summary of a flat group (what a walk over every evidence finds)."""
    return combine(of(e, held_only) for e in evidence)


def _smallest(lists: list[tuple[str, ...]]) -> tuple[str, ...]:
    """The SHOWN smallest of sorted lists (each of at most SHOWN). Only what can be
    among them is sorted: nothing above a bound with SHOWN elements at or under it
    (the last of a full list; the SHOWN-th smallest first element of the lists)."""
    bounds = [part[-1] for part in lists if len(part) >= SHOWN]
    if len(lists) >= SHOWN:
        bounds.append(heapq.nsmallest(SHOWN, (part[0] for part in lists))[-1])
    if bounds:
        bound = min(bounds)
        lists = [part[: bisect.bisect_right(part, bound)] for part in lists]
    return tuple(sorted(chain.from_iterable(lists))[:SHOWN])
