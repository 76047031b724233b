"""What a root cause cuts off: elements, subscribers, communities.

A root is *whole* when everything it dominates is out: it failed itself (or was
inferred as a passive or silent element) and nothing below it still answers.
Otherwise it is *partial*: the root element plus the scopes of the sub-roots it
explains (e.g. some buildings of a community).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from outaged.correlate.election import Root
from outaged.topology.graph import GraphIndex
from outaged.topology.model import Kind, Thresholds

# Below a community a report spike speaks for the whole element (a dead building).
_WHOLE_ON_REPORTS = frozenset({Kind.BUILDING, Kind.ACCESS})


@dataclass(frozen=True, slots=True)
class Scope:
    whole: bool
    elements: int
    subscribers: int
    parts: tuple[str, ...]  # top affected elements: the root, or the listed buildings
    communities_hit: tuple[str, ...]  # wholly out or out as a large area
    communities_touched: tuple[str, ...]  # any subscriber affected (service centres)


def covers(index: GraphIndex, scope: Scope, element: str) -> bool:
    """Whether the element is inside the scope (is a caller there affected?).

    Parts the topology no longer has (it changed under a stored outage) cover nothing."""
    elements = index.topology.elements
    root, *rest = scope.parts
    if element not in elements:
        return element == root
    if root in elements and elements[root].kind is Kind.PLATFORM:
        return True  # nobody can log in
    if scope.whole:
        return any(p in elements and index.dominates(p, element) for p in scope.parts)
    return element == root or any(p in elements and index.dominates(p, element) for p in rest)


class ScopeCalculator:
    def __init__(self, index: GraphIndex, th: Thresholds) -> None:
        self.index = index
        self.th = th
        self._communities_cache: dict[str, tuple[str, ...]] = {}
        self._all_communities = tuple(
            sorted(e.id for e in index.topology.elements.values() if e.kind is Kind.COMMUNITY)
        )

    def scope(self, root: Root, healthy_below: dict[str, int] | defaultdict[str, int]) -> Scope:
        parts: list[tuple[str, bool]] = []
        self._collect(root, healthy_below, parts)
        index = self.index
        elements = subscribers = 0
        whole_communities: set[str] = set()
        share: defaultdict[str, int] = defaultdict(int)
        for part, whole in parts:
            community = index.community_of[part]
            if whole:
                elements += index.subtree_size[part]
                count = index.subtree_subscribers[part]
                if community is None:
                    whole_communities.update(self._communities_below(part))
            else:
                elements += 1
                count = index.element(part).subscribers
            subscribers += count
            if community is not None:
                share[community] += count
                if whole and community == part:
                    whole_communities.add(community)
        large = {
            c
            for c, n in share.items()
            if n >= self.th.large_area_share * index.subtree_subscribers[c] and n > 0
        }
        touched = whole_communities | {c for c, n in share.items() if n > 0}
        platform = index.element(root.element).kind is Kind.PLATFORM
        if platform:  # nobody can log in, wherever they are
            subscribers = index.total_subscribers
            touched = whole_communities = set(self._all_communities)
        return Scope(
            # listed parts that add up to everything under the root are the whole of it
            whole=platform
            or all(whole for _, whole in parts)
            or (not root.joined and subscribers >= index.subtree_subscribers[root.element] > 0),
            elements=elements,
            subscribers=subscribers,
            parts=tuple(p for p, _ in parts),
            communities_hit=tuple(sorted(whole_communities | large)),
            communities_touched=tuple(sorted(touched)),
        )

    def _collect(
        self,
        root: Root,
        healthy_below: dict[str, int] | defaultdict[str, int],
        parts: list[tuple[str, bool]],
    ) -> None:
        if self._is_whole(root, healthy_below):
            parts.append((root.element, True))
        else:
            parts.append((root.element, False))
            for sub in root.below:
                self._collect(sub, healthy_below, parts)
        for joined in root.joined:
            self._collect(joined, healthy_below, parts)

    def _is_whole(self, root: Root, healthy_below: dict[str, int] | defaultdict[str, int]) -> bool:
        if root.residual:
            return False
        if root.own is not None and not root.own.hard and not root.below:
            return True  # customers calling from all over it, whatever its probes answer
        if healthy_below.get(root.element, 0) > 0:
            return False
        element = self.index.element(root.element)
        if root.own is None:  # inferred
            return element.kind is not Kind.COMMUNITY
        if root.own.hard or not root.below:
            return True
        return element.kind in _WHOLE_ON_REPORTS

    def _communities_below(self, element: str) -> tuple[str, ...]:
        cached = self._communities_cache.get(element)
        if cached is None:
            found: list[str] = []
            stack = [element]
            while stack:
                node = stack.pop()
                if self.index.element(node).kind is Kind.COMMUNITY:
                    found.append(node)
                else:  # nothing below a community is another community
                    stack.extend(self.index.dom_children[node])
            cached = self._communities_cache[element] = tuple(sorted(found))
        return cached
