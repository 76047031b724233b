"""What a root cause cuts off: elements, subscribers, communities.

A root is *whole* when everything it dominates is out: it failed itself (or was
inferred as a passive or silent element) and nothing below it still answers.
Otherwise it is *partial*: the root element plus the scopes of the sub-roots it
explains (e.g. some buildings of a community).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import cast

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


@dataclass(frozen=True, slots=True)
class _Parts:
    """A root's scope parts (its own, then its sub-roots', then those joined), summed."""

    parts: tuple[str, ...]
    all_whole: bool  # every part is out as a whole
    elements: int
    subscribers: int
    whole_communities: frozenset[str]  # communities wholly out
    share: dict[str, int]  # community -> its subscribers inside the parts


class ScopeCalculator:
    def __init__(self, index: GraphIndex, th: Thresholds) -> None:
        self.index = index
        self.th = th
        self._communities_cache: dict[str, tuple[str, ...]] = {}
        self._all_communities = tuple(
            sorted(e.id for e in index.topology.elements.values() if e.kind is Kind.COMMUNITY)
        )

    def scope(self, root: Root, healthy_below: dict[str, int] | defaultdict[str, int]) -> Scope:
        found = self._collect(root, healthy_below)
        index = self.index
        subscribers = found.subscribers
        whole_communities = set(found.whole_communities)
        share = found.share
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
            or found.all_whole
            or (not root.joined and subscribers >= index.subtree_subscribers[root.element] > 0),
            elements=found.elements,
            subscribers=subscribers,
            parts=found.parts,
            communities_hit=tuple(sorted(whole_communities | large)),
            communities_touched=tuple(sorted(touched)),
        )

    def _collect(self, root: Root, healthy_below: dict[str, int] | defaultdict[str, int]) -> _Parts:
        """The parts of a root's scope, summed; kept with the root (`Root.memo`): the
        incremental election hands back the same root only while nothing under it,
        its health included, changed."""
        known = root.memo.get("scope")
        if known is not None:
            return cast(_Parts, known)
        index = self.index
        part = root.element
        whole = self._is_whole(root, healthy_below)
        community = index.community_of[part]
        if whole:
            elements, count = index.subtree_size[part], index.subtree_subscribers[part]
        else:
            elements, count = 1, index.element(part).subscribers
        hit: set[str] = set()
        if whole and community is None:
            hit.update(self._communities_below(part))
        share: dict[str, int] = {}
        if community is not None:
            share[community] = count
            if whole and community == part:
                hit.add(community)
        parts = [part]
        all_whole = whole
        for sub in (*(() if whole else root.below), *root.joined):
            found = self._collect(sub, healthy_below)
            parts += found.parts
            elements += found.elements
            count += found.subscribers
            hit |= found.whole_communities
            for c, n in found.share.items():
                share[c] = share.get(c, 0) + n
            all_whole = all_whole and found.all_whole
        made = _Parts(tuple(parts), all_whole, elements, count, frozenset(hit), share)
        root.memo["scope"] = made
        return made

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
