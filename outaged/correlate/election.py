"""Root-cause election: the fewest, deepest elements that explain the evidence.

Evidence is walked up the dominator tree. An element becomes a root when it
has evidence of its own (absorbing everything below it), or when it is the
only explanation left for evidence in two or more of its branches and may be
inferred: a passive element (fibre, splitter, power) or a silent parent with
nothing below it still answering, or a community (several of its buildings
failing together make one partial outage there). Everything else passes its
roots upwards unchanged, so unrelated faults stay separate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from outaged.topology.graph import SUPER_ROOT, GraphIndex
from outaged.topology.model import Kind, Thresholds


@dataclass(frozen=True, slots=True)
class Evidence:
    element: str
    first_at: float
    hard: bool  # the element itself was seen failing (probe, uplinks, manual)
    degraded: bool  # only slow / intermittent reports speak against it
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Root:
    element: str
    own: Evidence | None  # None when inferred from its branches
    below: tuple[Root, ...]  # sub-roots it explains
    absorbed: tuple[Evidence, ...] = ()  # evidence under a root that is out as a whole
    joined: tuple[Root, ...] = ()  # multi-homed roots cut off only because this one failed too
    residual: bool = False  # an outage's root that recovered, kept for what is still out below
    # What is worked out from it (its summary, its scope's parts), kept with it: a Root
    # never changes, and the incremental election hands back the very same object
    # while nothing under it changed, so a record rebuilt over it reads these again.
    memo: dict[str, object] = field(default_factory=dict, init=False, compare=False, repr=False)

    def evidence(self) -> Iterator[Evidence]:
        if self.own is not None:
            yield self.own
        yield from self.absorbed
        for root in (*self.below, *self.joined):
            yield from root.evidence()

    def elements(self) -> Iterator[str]:
        """This root and the roots joined to it."""
        yield self.element
        for root in self.joined:
            yield from root.elements()

    @property
    def first_at(self) -> float:
        return min(e.first_at for e in self.evidence())

    @property
    def degraded(self) -> bool:
        return all(e.degraded for e in self.evidence())

    @property
    def hard(self) -> bool:
        return any(e.hard for e in self.evidence())


def elect(
    index: GraphIndex,
    evidence: Mapping[str, Evidence],
    healthy_below: Mapping[str, int],
    th: Thresholds,
) -> list[Root]:
    idom = index.idom
    depth = index.depth
    # Under a root that failed itself with nothing below still answering, the
    # rest is explained whatever it is: set it aside instead of walking it
    # (in a storm that is nearly all the evidence).
    absorbed: defaultdict[str, list[Evidence]] = defaultdict(list)
    walk: list[str] = []
    for element, found in evidence.items():
        top = None
        for dom in index.dominators(element):
            above = evidence.get(dom)
            if above is not None and above.hard and healthy_below.get(dom, 0) == 0:
                top = dom
        if top is None:
            walk.append(element)
        else:
            absorbed[top].append(found)

    branches: defaultdict[str, list[str]] = defaultdict(list)
    touched: set[str] = set()
    for element in walk:
        node = element
        while node not in touched:
            touched.add(node)
            parent = idom[node]
            branches[parent].append(node)
            if parent == SUPER_ROOT:
                break
            node = parent

    # Branches in the dominator tree's order (`tin`), not in the order the evidence
    # came: the roots and their parts read the same whatever the gathering order.
    tin = index.tin
    results: dict[str, list[Root]] = {}
    for node in sorted(touched, key=depth.__getitem__, reverse=True):
        kids = sorted(branches.get(node, ()), key=tin.__getitem__)
        per_kid = [results.pop(kid) for kid in kids]
        below = [root for roots in per_kid for root in roots]
        inside, apart, branched = split_apart(index, per_kid, below)
        own = evidence.get(node)
        if own is not None or may_infer(index, node, branched, len(inside), healthy_below, th):
            results[node] = [Root(node, own, tuple(inside), tuple(absorbed.get(node, ()))), *apart]
        else:
            results[node] = below
    tops = sorted(branches.get(SUPER_ROOT, ()), key=tin.__getitem__)
    return join_cut_off(index, [root for top in tops for root in results[top]])


def join_cut_off(
    index: GraphIndex, roots: list[Root], joined: Callable[[Root, Root], Root] | None = None
) -> list[Root]:
    """A multi-homed root whose every uplink lies in what other roots cut off is
    their symptom (both metros of a dual-homed community down), not a fault of
    its own: it joins the root that holds its first uplink. `joined(host, root)`
    makes the host with the root joined (a memo may hand back last election's)."""
    join = joined or _join
    chain = index.chain
    pending = True
    while pending:
        pending = False
        multi = [r for r in roots if len(index.element(r.element).parents) > 1]
        if not multi:
            break
        # the roots (positions) holding an element on an uplink's dominator chain
        # (the root's own element or one joined to it): the first to cover an
        # uplink is the first found along its chain
        wanted = {
            e for r in multi for p in index.element(r.element).parents for e in (p, *chain[p])
        }
        at: dict[str, list[int]] = {}
        for position, other in enumerate(roots):
            for element in other.elements() if other.joined else (other.element,):
                if element in wanted:
                    at.setdefault(element, []).append(position)
        for root in multi:
            hosts: list[Root | None] = []
            for parent in index.element(root.element).parents:
                line = (parent, *chain[parent])
                found = [i for e in line for i in at.get(e, ()) if roots[i] is not root]
                hosts.append(roots[min(found)] if found else None)
            host = hosts[0]
            if host is not None and all(h is not None for h in hosts):
                roots = [r for r in roots if r is not root]
                roots[roots.index(host)] = join(host, root)
                pending = True
                break
    return roots


def _join(host: Root, root: Root) -> Root:
    return replace(host, joined=(*host.joined, root))


def stands_apart(index: GraphIndex, element: str) -> bool:
    """A root at a platform (AAA/billing) is no branch of the network above it: its
    fault (691 calls from all over the city) says nothing of the path to it, so no
    root above is inferred from it, nor explains it unless that one is out as a
    whole (SPEC §2: 691 points at the platform, not at the access network)."""
    return index.element(element).kind is Kind.PLATFORM


def split_apart(
    index: GraphIndex, per_kid: list[list[Root]], below: list[Root]
) -> tuple[list[Root], list[Root], int]:
    """Of the roots under a node's children (each child's in `per_kid`, all of them
    `below`): those a root inferred at the node may explain, those that stand
    apart, and how many children are branches (hold a root that does not)."""
    if not any(stands_apart(index, root.element) for root in below):  # nearly always
        return below, [], len(per_kid)
    inside: list[Root] = []
    apart: list[Root] = []
    branched = 0
    for roots in per_kid:
        mine = [r for r in roots if not stands_apart(index, r.element)]
        branched += bool(mine)
        inside += mine
        apart += [r for r in roots if stands_apart(index, r.element)]
    return inside, apart, branched


def may_infer(
    index: GraphIndex,
    node: str,
    n_branches: int,
    n_roots: int,
    healthy_below: Mapping[str, int],
    th: Thresholds,
) -> bool:
    element = index.element(node)
    if element.kind is Kind.COMMUNITY:  # buildings failing together, even behind one fibre
        return n_roots >= 2
    if n_branches < 2 or healthy_below.get(node, 0) > 0:
        return False
    if element.passive:
        return True
    return n_branches >= th.infer_share * len(index.dom_children[node])
