"""Which outage record each elected root belongs to: the match to open outages.

Pure. `OpenIndex` keeps the open outages by the elements they cover (their
root and scope parts) and by where their root sits in the dominator tree, so
the questions an election asks of every root are lookups, not searches:

- which open outages lie at or under this root (the same fault, or it grew);
- which open outage hosts this root (it is under the root or a scope part of
  one: what is still out of an outage whose root came back).

`match` answers them for one election and returns what to do, in root order
(shallowest first); the engine applies it to its records.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from outaged.correlate.election import Root
from outaged.outages.model import Outage
from outaged.topology.graph import GraphIndex
from outaged.topology.model import Kind


class OpenIndex:
    """Open outages by the elements they cover; kept current by every write."""

    def __init__(self, index: GraphIndex) -> None:
        self.index = index
        self._by_part: defaultdict[str, set[int]] = defaultdict(set)
        self._roots: list[tuple[int, int]] = []  # (tin of the root, outage id), sorted
        self._covered: dict[int, tuple[str, tuple[str, ...]]] = {}  # id -> (root, parts)
        self._platform: set[int] = set()  # rooted at a platform: they cover everyone

    def put(self, outage: Outage, is_open: bool) -> None:
        """Index the outage's current record (or drop it when it is not open)."""
        known = self._covered.get(outage.id)
        wanted = (outage.root, outage.scope.parts) if is_open else None
        if known == wanted:
            return
        if known is not None and wanted is not None and known[0] == wanted[0]:
            self._move_parts(outage.id, {known[0], *known[1]}, {wanted[0], *wanted[1]})
            self._covered[outage.id] = wanted
            return
        if known is not None:
            self.drop(outage.id)
        if wanted is not None:
            root, parts = wanted
            self._covered[outage.id] = wanted
            for part in {root, *parts}:
                self._by_part[part].add(outage.id)
            bisect.insort(self._roots, (self.index.tin[root], outage.id))
            if self.index.topology.elements[root].kind is Kind.PLATFORM:
                self._platform.add(outage.id)

    def _move_parts(self, outage_id: int, old: set[str], new: set[str]) -> None:
        """The same root, other parts (the scope grew or shrank): only the difference."""
        by_part = self._by_part
        for part in old - new:
            ids = by_part[part]
            ids.discard(outage_id)
            if not ids:
                del by_part[part]
        for part in new - old:
            by_part[part].add(outage_id)

    def drop(self, outage_id: int) -> None:
        known = self._covered.pop(outage_id, None)
        if known is None:
            return
        root, parts = known
        self._platform.discard(outage_id)
        for part in {root, *parts}:
            ids = self._by_part[part]
            ids.discard(outage_id)
            if not ids:
                del self._by_part[part]
        entry = (self.index.tin[root], outage_id)
        del self._roots[bisect.bisect_left(self._roots, entry)]

    def rooted_under(self, elements: Iterable[str]) -> set[int]:
        """Open outages whose root is one of `elements` or cut off by one."""
        found: set[int] = set()
        tin, tout, roots = self.index.tin, self.index.tout, self._roots
        for element in elements:
            start = bisect.bisect_left(roots, (tin[element], -1))
            end = bisect.bisect_left(roots, (tout[element], -1))
            found.update(oid for _, oid in roots[start:end])
        return found

    def hosting(self, element: str) -> set[int]:
        """Open outages with the element, or one that cuts it off, as root or scope part."""
        by_part = self._by_part
        found = set(by_part.get(element, ()))
        for dom in self.index.dominators(element):
            ids = by_part.get(dom)
            if ids:
                found |= ids
        return found

    def may_cover(self, element: str) -> set[int]:
        """Open outages whose scope may hold the element (`covers` decides): those
        hosting it, and those rooted at a platform. A superset, found by lookups."""
        if element not in self.index.chain:  # not in the topology: only a root names it
            return self._by_part.get(element, set()) | self._platform
        return self.hosting(element) | self._platform


@dataclass(frozen=True, slots=True)
class Merge:
    outage: Outage
    into: int


@dataclass(frozen=True, slots=True)
class Relapse:
    outage: Outage
    root: Root


@dataclass(frozen=True, slots=True)
class Hold:
    root: Root


@dataclass(frozen=True, slots=True)
class Open:
    root: Root


Step = Merge | Relapse | Hold | Open


@dataclass(slots=True)
class Match:
    steps: list[Step] = field(default_factory=list)  # in root order
    keepers: dict[int, Root] = field(default_factory=dict)  # open outage -> its root now
    merged: set[int] = field(default_factory=set)
    residuals: defaultdict[int, list[Root]] = field(
        default_factory=lambda: defaultdict(list)
    )  # open outage -> what is still out of it


def match(
    index: GraphIndex,
    roots: Sequence[Root],
    live: Sequence[Outage],
    recent: Sequence[Outage],
    open_index: OpenIndex,
    held: Callable[[Root], bool],
) -> Match:
    """Map the election's roots onto the open outages `live` (as `open_index` holds
    them) and the recently restored `recent` (newest first)."""
    found = Match()
    keepers, merged, residuals = found.keepers, found.merged, found.residuals
    live_by_id = {o.id: o for o in live}
    relapsed: set[int] = set()
    depth = index.depth
    for root in sorted(roots, key=lambda r: (depth[r.element], r.element)):
        taken = keepers.keys() | merged | residuals.keys()
        under = open_index.rooted_under(root.elements())
        above = sorted(oid for oid in under if oid in live_by_id and oid not in taken)
        if above:  # the same fault, or it grew: keep the oldest record
            keeper, *others = above
            keepers[keeper] = root
            for other in others:
                merged.add(other)
                found.steps.append(Merge(live_by_id[other], keeper))
            continue
        # What is still out under an outage whose root came back, or of what was
        # joined to it (recovery is seen element by element across a probe
        # cycle), stays in that outage: the deepest such outage, the oldest of equals.
        hosts = [
            live_by_id[oid]
            for oid in open_index.hosting(root.element)
            if oid in live_by_id and oid not in merged
        ]
        if hosts:
            host = max(hosts, key=lambda o: (depth[o.root], -o.id))
            residuals[host.id].append(root)
            continue
        back = next((o for o in recent if o.id not in relapsed and related(index, o, root)), None)
        if back is not None:
            relapsed.add(back.id)
            found.steps.append(Relapse(back, root))
        elif held(root):
            found.steps.append(Hold(root))
        else:
            found.steps.append(Open(root))
    return found


def related(index: GraphIndex, outage: Outage, root: Root) -> bool:
    """The root is at, above or under the outage's root (or joined one that is)."""
    dominates = index.dominates
    return any(
        outage.root == element or dominates(element, outage.root) or dominates(outage.root, element)
        for element in root.elements()
    )
