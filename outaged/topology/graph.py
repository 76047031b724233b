"""Precomputed graph facts the correlator looks up instead of searching.

The dominator tree (from a virtual super-root above every parentless element)
answers "what is cut off if X fails": exactly the elements X dominates, so a
dual-homed element with a surviving uplink is never in it. Subtree sums make
scope questions (subscribers, communities) O(1).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields

from outaged.topology.model import Element, Kind, Topology

SUPER_ROOT = "\x00root"


def topological_order(elements: Mapping[str, Element]) -> list[str]:
    """Parents before children: networkx's topological sort of the element graph
    below SUPER_ROOT (above every parentless element). The graph is built for
    this and dropped: the index keeps only what it derives, since a graph of
    every element would hold ~50 MB on 10^5 elements. networkx is imported here,
    when a topology is built from its file: its code stays resident (~11 MB),
    and a daemon started from the topology checkpoint (outaged.topology.
    checkpoint) or one that never builds an index need not hold it."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_node(SUPER_ROOT)
    graph.add_nodes_from(elements)
    graph.add_edges_from((p, e.id) for e in elements.values() for p in (e.parents or (SUPER_ROOT,)))
    try:
        return [n for n in nx.topological_sort(graph) if n != SUPER_ROOT]
    except nx.NetworkXUnfeasible:  # the loader refuses cycles first
        raise ValueError("the topology has a parent cycle") from None


@dataclass(frozen=True, slots=True)
class GraphIndex:
    topology: Topology
    idom: dict[str, str]  # immediate dominator; SUPER_ROOT for the top
    dom_children: dict[str, list[str]]
    depth: dict[str, int]  # in the dominator tree, top elements are 1
    tin: dict[str, int]
    tout: dict[str, int]
    subtree_subscribers: dict[str, int]
    subtree_size: dict[str, int]
    community_of: dict[str, str | None]  # nearest community dominating (or being) it
    chain: dict[str, tuple[str, ...]]  # strict dominators, nearest first (hot-path lookups)
    multi_homed: tuple[str, ...]  # elements with more than one parent
    total_subscribers: int
    # element -> its lost redundancy, asked again at every election for each outage root
    _lost: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)

    def __getstate__(self) -> list[object]:
        """Pickled (outaged.topology.checkpoint) without the lost-redundancy memo, which
        the running daemon fills meanwhile: all else is never changed after `build`."""
        return [{} if f.name == "_lost" else getattr(self, f.name) for f in fields(self)]

    @classmethod
    def build(cls, topology: Topology) -> GraphIndex:
        elements = topology.elements
        order = topological_order(elements)

        # On a DAG taken in topological order, an element's immediate dominator
        # is the nearest common dominator of its parents (exact, and much
        # faster than the general algorithm when nearly everything has one parent).
        idom: dict[str, str] = {}
        depth: dict[str, int] = {SUPER_ROOT: 0}
        for node in order:
            parents = elements[node].parents or (SUPER_ROOT,)
            dom = parents[0]
            for other in parents[1:]:
                while dom != other:
                    if depth[dom] >= depth[other]:
                        dom = idom[dom]
                    else:
                        other = idom[other]
            idom[node] = dom
            depth[node] = depth[dom] + 1
        del depth[SUPER_ROOT]

        subs = {n: elements[n].subscribers for n in order}
        size = dict.fromkeys(order, 1)
        for node in reversed(order):  # children before their dominators
            dom = idom[node]
            if dom != SUPER_ROOT:
                subs[dom] += subs[node]
                size[dom] += size[node]

        # Pre-order numbering without a walk: a child's slot follows its
        # dominator's and the subtrees of the siblings numbered before it.
        dom_children: dict[str, list[str]] = {SUPER_ROOT: []}
        tin: dict[str, int] = {}
        slot: dict[str, int] = {SUPER_ROOT: 0}
        community_of: dict[str, str | None] = {SUPER_ROOT: None}
        for node in order:
            dom = idom[node]
            dom_children[node] = []
            dom_children[dom].append(node)
            tin[node] = slot[dom]
            slot[dom] += size[node]
            slot[node] = tin[node] + 1
            is_community = elements[node].kind is Kind.COMMUNITY
            community_of[node] = node if is_community else community_of[dom]
        del community_of[SUPER_ROOT]
        chain: dict[str, tuple[str, ...]] = {}
        for node in order:
            dom = idom[node]
            chain[node] = () if dom == SUPER_ROOT else (dom, *chain[dom])
        tout = {n: tin[n] + size[n] for n in order}
        multi = tuple(sorted(e.id for e in elements.values() if len(e.parents) > 1))
        total = sum(e.subscribers for e in elements.values())
        return cls(
            topology,
            idom,
            dom_children,
            depth,
            tin,
            tout,
            subs,
            size,
            community_of,
            chain,
            multi,
            total,
        )

    def element(self, element_id: str) -> Element:
        return self.topology.elements[element_id]

    def dominates(self, upper: str, lower: str) -> bool:
        """True when `lower` is cut off whenever `upper` fails (or is `upper`)."""
        return self.tin[upper] <= self.tin[lower] and self.tout[lower] <= self.tout[upper]

    def in_line(self, element_id: str, other: str) -> bool:
        """`other` dominates the element, or is cut off by it (or is it)."""
        return other in self.chain[element_id] or self.dominates(element_id, other)

    def dominators(self, element_id: str) -> tuple[str, ...]:
        """Strict dominators of an element, nearest first, super-root excluded."""
        return self.chain[element_id]

    def cut_off(self, element_id: str) -> Iterator[str]:
        """Every element that loses all paths to the core when this one fails."""
        stack = [element_id]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(self.dom_children[node])

    def path(self, element_id: str) -> list[str]:
        """Logical location: a path from a top element down to this one."""
        path = [element_id]
        node = self.topology.elements[element_id]
        while node.parents:
            node = self.topology.elements[node.parents[0]]
            path.append(node.id)
        path.reverse()
        return path

    def lost_redundancy(self, element_id: str) -> tuple[str, ...]:
        """Multi-homed elements outside the cut-off set that lose an uplink to it."""
        found = self._lost.get(element_id)
        if found is None:
            found = self._lost[element_id] = tuple(
                m
                for m in self.multi_homed
                if not self.dominates(element_id, m)
                and any(self.dominates(element_id, p) for p in self.topology.elements[m].parents)
            )
        return found
