"""The election kept current: what `elect` finds, recomputed only where it changed.

`elect` folds all the evidence up the dominator tree at every election. Here the
fold is kept per node: the roots of its subtree (as if nothing above absorbs
it) and all the evidence in it (for a root above that is out as a whole). An
element whose evidence or health changed makes its own node and those above it
stale; the next election refolds only stale nodes and reuses every other
subtree's roots as they were, the very objects, so an outage whose subtree did
not change sees the same root again (the engine then does not rebuild it).
Each subtree's evidence is also kept summed up (outaged.correlate.summary), so a
record is built from its root's summary, not from a walk over all of it.
The result equals `elect` on the same evidence (tests/test_incremental.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from itertools import chain
from typing import cast

from outaged.correlate.election import Evidence, Root, join_cut_off, may_infer, split_apart
from outaged.correlate.summary import Summary, combine
from outaged.topology.graph import SUPER_ROOT, GraphIndex
from outaged.topology.model import Thresholds


class Elector:
    def __init__(self, index: GraphIndex, th: Thresholds) -> None:
        self.index = index
        self.th = th
        self._present: set[str] = set()  # elements with evidence at the last election
        self._count: defaultdict[str, int] = defaultdict(int)  # evidence in the subtree
        self._kids: defaultdict[str, set[str]] = defaultdict(set)  # children with evidence below
        self._ordered: dict[str, list[str]] = {}  # those children in tree order (`tin`)
        self._roots: dict[str, list[Root]] = {}  # node -> its subtree's roots
        self._all: dict[str, tuple[tuple[Evidence, ...], Summary | None]] = {}  # its evidence
        self._absorbed: dict[str, tuple[tuple[Evidence, ...], Summary | None]] = {}
        self._leaves: dict[str, tuple[Evidence, Summary]] = {}
        self._leaf: Callable[[Evidence], Summary] = _no_leaf
        self._stale_roots: set[str] = set()
        self._stale_all: set[str] = set()
        self._last: tuple[list[Root], list[Root]] = ([], [])  # (roots before joining, after)
        self._joins: dict[tuple[int, int], tuple[Root, Root, Root]] = {}

    def elect(
        self,
        evidence: Mapping[str, Evidence],
        healthy_below: Mapping[str, int],
        changed: Iterable[str],
        leaf: Callable[[Evidence], Summary],
    ) -> list[Root]:
        """The roots for `evidence`; `changed`: every element whose evidence (or what
        it reads as) or whose health changed since the last call; `leaf`: one
        evidence's summary (it may read what `changed` names)."""
        index = self.index
        self._leaf = leaf
        counted = self._count
        for element in changed:
            self._leaves.pop(element, None)
            above = index.dominators(element)
            has = element in evidence
            if not has and element not in counted:
                # only its health moved: it is read by the nodes above that hold evidence
                # (the others are folded afresh when evidence comes under them); what is
                # under a node counts at the node above it too, so the top tells first
                if not above or above[-1] not in counted:
                    continue
                line: tuple[str, ...] = tuple(filter(counted.__contains__, above))
            else:
                line = (element, *above)
            self._stale_roots.update(line)
            self._stale_all.update(line)
            if has == (element in self._present):
                continue
            step = 1 if has else -1
            (self._present.add if has else self._present.discard)(element)
            for node in line:
                self._count[node] += step
                if self._count[node] == (1 if has else 0):  # it starts or stops counting
                    parent = index.idom[node]
                    (self._kids[parent].add if has else self._kids[parent].discard)(node)
                    self._ordered.pop(parent, None)
                    if not has:
                        del self._count[node]
                        self._roots.pop(node, None)
                        self._all.pop(node, None)
                        self._absorbed.pop(node, None)
        roots = self._below(SUPER_ROOT, evidence, healthy_below)
        before, after = self._last
        if len(roots) == len(before) and all(a is b for a, b in zip(roots, before, strict=True)):
            return list(after)
        joins, self._joins = self._joins, {}

        def joined(host: Root, root: Root) -> Root:
            known = joins.get((id(host), id(root)))
            made = (
                known[2]
                if known is not None and known[0] is host and known[1] is root
                else replace(host, joined=(*host.joined, root))
            )
            self._joins[(id(host), id(root))] = (host, root, made)
            return made

        result = join_cut_off(index, list(roots), joined)
        self._last = (roots, result)
        return list(result)

    def _fold(
        self, node: str, evidence: Mapping[str, Evidence], healthy_below: Mapping[str, int]
    ) -> list[Root]:
        known = self._roots.get(node)
        if known is not None and node not in self._stale_roots:
            return known
        own = evidence.get(node)
        kids = self._kids_of(node)
        if own is not None and own.hard and healthy_below.get(node, 0) == 0:
            # out as a whole: everything under it is explained, absorbed as it is
            alls = [self._everything(k, evidence) for k in kids]
            absorbed = tuple(chain.from_iterable(a for a, _ in alls))
            self._absorbed[node] = (absorbed, combine(s for _, s in alls if s is not None))
            found = [Root(node, own, (), absorbed)]
        else:
            per_kid = self._per_kid(kids, evidence, healthy_below)
            below = [root for roots in per_kid for root in roots]
            inside, apart, branched = split_apart(self.index, per_kid, below)
            if own is not None or may_infer(
                self.index, node, branched, len(inside), healthy_below, self.th
            ):
                found = [Root(node, own, tuple(inside)), *apart]
            else:
                found = below
        self._roots[node] = found
        self._stale_roots.discard(node)
        return found

    def _kids_of(self, node: str) -> list[str]:
        known = self._ordered.get(node)
        if known is None:
            known = self._ordered[node] = sorted(
                self._kids.get(node, ()), key=self.index.tin.__getitem__
            )
        return known

    def _below(
        self, node: str, evidence: Mapping[str, Evidence], healthy_below: Mapping[str, int]
    ) -> list[Root]:
        """The roots of the node's children, in tree order (unchanged ones as they were)."""
        found: list[Root] = []
        for roots in self._per_kid(self._kids_of(node), evidence, healthy_below):
            found += roots
        return found

    def _per_kid(
        self, kids: list[str], evidence: Mapping[str, Evidence], healthy_below: Mapping[str, int]
    ) -> list[list[Root]]:
        """Each child's roots (unchanged ones as they were)."""
        known, stale = self._roots, self._stale_roots
        found: list[list[Root]] = []
        for kid in kids:
            roots = known.get(kid)
            if roots is None or kid in stale:
                roots = self._fold(kid, evidence, healthy_below)
            found.append(roots)
        return found

    def _everything(
        self, node: str, evidence: Mapping[str, Evidence]
    ) -> tuple[tuple[Evidence, ...], Summary | None]:
        known = self._all.get(node)
        if known is not None and node not in self._stale_all:
            return known
        own = evidence.get(node)
        kids = self._kids_of(node)
        alls = [self._everything(k, evidence) for k in kids]
        below = chain.from_iterable(a for a, _ in alls)
        sums = [s for _, s in alls if s is not None]
        if own is not None:
            sums.insert(0, self._of(own))
        found = ((own, *below) if own is not None else tuple(below)), combine(sums)
        self._all[node] = found
        self._stale_all.discard(node)
        return found

    def _of(self, e: Evidence) -> Summary:
        known = self._leaves.get(e.element)
        if known is not None and known[0] is e:
            return known[1]
        made = self._leaf(e)
        self._leaves[e.element] = (e, made)
        return made

    def summary(self, root: Root) -> Summary | None:
        """All the evidence under a root of the last election (or one made of
        them, as the engine does for what an outage still answers for), summed."""
        memo = root.memo
        if "summary" in memo:  # the same root as when it was summed: nothing under it moved
            return cast(Summary | None, memo["summary"])
        parts = [self._of(root.own)] if root.own is not None else []
        if root.absorbed:
            held = self._absorbed.get(root.element)
            if held is not None and held[0] is root.absorbed:
                if held[1] is not None:
                    parts.append(held[1])
            else:
                parts += [self._of(e) for e in root.absorbed]
        for sub in (*root.below, *root.joined):
            found = self.summary(sub)
            if found is not None:
                parts.append(found)
        made = memo["summary"] = combine(parts)
        return made


def _no_leaf(e: Evidence) -> Summary:
    raise RuntimeError("summary asked before an election")
