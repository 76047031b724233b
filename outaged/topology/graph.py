"""Precomputed graph facts the correlator looks up instead of searching.

The dominator tree (from a virtual super-root above every parentless element)
answers "what is cut off if X fails": exactly the elements X dominates, so a
dual-homed element with a surviving uplink is never in it. Subtree sums make
scope questions (subscribers, communities) O(1).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import networkx as nx

from outaged.topology.model import Element, Kind, Topology

SUPER_ROOT = "\x00root"


@dataclass(frozen=True, slots=True)
class GraphIndex:
    topology: Topology
    graph: nx.DiGraph  # parent -> child, SUPER_ROOT -> every parentless element
    idom: dict[str, str]  # immediate dominator; SUPER_ROOT for the top
    dom_children: dict[str, list[str]]
    depth: dict[str, int]  # in the dominator tree, top elements are 1
    tin: dict[str, int]
    tout: dict[str, int]
    subtree_subscribers: dict[str, int]
    subtree_size: dict[str, int]
    community_of: dict[str, str | None]  # nearest community dominating (or being) it
    multi_homed: tuple[str, ...]  # elements with more than one parent
    total_subscribers: int

    @classmethod
    def build(cls, topology: Topology) -> GraphIndex:
        elements = topology.elements
        graph = nx.DiGraph()
        graph.add_node(SUPER_ROOT)
        graph.add_nodes_from(elements)
        for element in elements.values():
            if element.parents:
                graph.add_edges_from((p, element.id) for p in element.parents)
            else:
                graph.add_edge(SUPER_ROOT, element.id)
        idom: dict[str, str] = nx.immediate_dominators(graph, SUPER_ROOT)
        idom.pop(SUPER_ROOT, None)  # networkx versions differ on including the start
        dom_children: dict[str, list[str]] = {SUPER_ROOT: []}
        for node in elements:
            dom_children[node] = []
        for node, dom in idom.items():
            dom_children[dom].append(node)
        for kids in dom_children.values():
            kids.sort()

        depth: dict[str, int] = {}
        tin: dict[str, int] = {}
        tout: dict[str, int] = {}
        subs: dict[str, int] = {}
        size: dict[str, int] = {}
        community_of: dict[str, str | None] = {}
        clock = 0
        # Iterative DFS: (node, entering?) pairs; sums are folded on exit.
        stack: list[tuple[str, bool]] = [(c, True) for c in reversed(dom_children[SUPER_ROOT])]
        while stack:
            node, entering = stack.pop()
            if entering:
                dom = idom[node]
                depth[node] = 1 if dom == SUPER_ROOT else depth[dom] + 1
                element = elements[node]
                above = None if dom == SUPER_ROOT else community_of[dom]
                community_of[node] = node if element.kind is Kind.COMMUNITY else above
                tin[node] = clock
                clock += 1
                stack.append((node, False))
                stack.extend((c, True) for c in reversed(dom_children[node]))
            else:
                tout[node] = clock
                kids = dom_children[node]
                subs[node] = elements[node].subscribers + sum(subs[c] for c in kids)
                size[node] = 1 + sum(size[c] for c in kids)
        multi = tuple(sorted(e.id for e in elements.values() if len(e.parents) > 1))
        total = sum(e.subscribers for e in elements.values())
        return cls(
            topology,
            graph,
            idom,
            dom_children,
            depth,
            tin,
            tout,
            subs,
            size,
            community_of,
            multi,
            total,
        )

    def element(self, element_id: str) -> Element:
        return self.topology.elements[element_id]

    def dominates(self, upper: str, lower: str) -> bool:
        """True when `lower` is cut off whenever `upper` fails (or is `upper`)."""
        return self.tin[upper] <= self.tin[lower] and self.tout[lower] <= self.tout[upper]

    def dominators(self, element_id: str) -> Iterator[str]:
        """Strict dominators of an element, nearest first, super-root excluded."""
        node = self.idom[element_id]
        while node != SUPER_ROOT:
            yield node
            node = self.idom[node]

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

    def lost_redundancy(self, element_id: str) -> list[str]:
        """Multi-homed elements outside the cut-off set that lose an uplink to it."""
        return [
            m
            for m in self.multi_homed
            if not self.dominates(element_id, m)
            and any(self.dominates(element_id, p) for p in self.topology.elements[m].parents)
        ]
