"""The element graph as written: parents known, no cycles, every element reached
from a city root; area and contract inherited from the first parent."""

from __future__ import annotations

from collections import Counter

from outaged.topology.fields import Reader, listing
from outaged.topology.model import CITY_KINDS, Element


class Resolver(Reader):
    def resolve(self, mapped: Counter[str]) -> dict[str, Element]:
        """Check parents, cycles and roots; inherit area and contract; build elements."""
        children, pending = self.link()
        order = [eid for eid, n in pending.items() if n == 0]
        for eid in order:  # Kahn's sort, growing while walked: parents before children
            for kid in children[eid]:
                pending[kid] -= 1
                if not pending[kid]:
                    order.append(kid)
        cycles = []
        if len(order) < len(pending):
            cycles = self.report_cycles({eid for eid, n in pending.items() if n})
        reached = self.inherit(order)
        if len(reached) < len(self.drafts):
            self.report_cut_off(children, [e for e in order if e not in reached] + cycles, reached)
        return self.elements(mapped)

    def link(self) -> tuple[dict[str, list[str]], dict[str, int]]:
        """Each element's children and number of known parents; bad references reported."""
        children: dict[str, list[str]] = {eid: [] for eid in self.drafts}
        pending = dict.fromkeys(self.drafts, 0)
        for eid, d in self.drafts.items():
            if d.area is not None and d.area not in self.areas:
                self.flag(d, "area", f"unknown area {d.area!r}")
            for i, p in enumerate(d.parents):
                kids = children.get(p)
                if kids is None:
                    self.flag(d, "parents", f"unknown parent {p!r}")
                elif i and p in d.parents[:i]:
                    self.flag(d, "parents", f"parent {p!r} listed twice")
                else:
                    kids.append(eid)
                    pending[eid] += 1
        return children, pending

    def report_cycles(self, stuck: set[str]) -> list[str]:
        """Walk up from each stuck element (each has a stuck parent) to find the cycles."""
        done: set[str] = set()
        members: list[str] = []
        for start in sorted(stuck, key=lambda e: self.drafts[e].line):
            path: dict[str, None] = {}
            eid = start
            while eid not in done and eid not in path:
                path[eid] = None
                eid = next(p for p in self.drafts[eid].parents if p in stuck)
            if eid in path:
                cycle = [*list(path)[list(path).index(eid) :], eid]
                members += cycle[:-1]
                message = f"cycle: {' -> '.join(reversed(cycle))} (each a parent of the next)"
                self.flag(self.drafts[eid], "parents", message)
            done.update(path)
        return members

    def inherit(self, order: list[str]) -> set[str]:
        """Parents first: check roots, find what reaches one, inherit area and contract."""
        reached: set[str] = set()
        for eid in order:
            d = self.drafts[eid]
            if not d.parents:
                if d.contract is None:
                    d.contract = True
                if not d.sound:  # e.g. a misspelt "parents": taken as a root, quietly
                    reached.add(eid)
                    continue
                if d.kind in CITY_KINDS:
                    reached.add(eid)
                else:
                    kinds = ", ".join(sorted(CITY_KINDS))
                    self.flag(d, "parents", f"a {d.kind} element needs parents; roots are {kinds}")
                if d.area is None:
                    self.flag(d, "area", "missing (a root has no parent to inherit it from)")
                continue
            first = self.drafts.get(d.parents[0])  # None: an unknown parent, reported
            if first is not None:
                if d.area is None:
                    d.area = first.area
                if d.contract is None:
                    d.contract = first.contract
            if not reached.isdisjoint(d.parents):
                reached.add(eid)
        return reached

    def report_cut_off(
        self, children: dict[str, list[str]], heads: list[str], reached: set[str]
    ) -> None:
        """Every element cut off from the roots lies below a problem already reported
        (no parents, unknown parents, a cycle): name each group once, at its head."""
        for head in heads:
            if head in reached:
                continue
            group = [head]
            reached.add(head)
            for eid in group:
                for kid in children[eid]:
                    if kid not in reached:
                        reached.add(kid)
                        group.append(kid)
            if len(group) > 1:
                below = f"{len(group) - 1} element(s) below it ({listing(group[1:])})"
                message = f"{head!r} and {below} are not reachable from any root"
                self.flag(self.drafts[head], "parents", message)

    def elements(self, mapped: Counter[str]) -> dict[str, Element]:
        elements: dict[str, Element] = {}
        for d in self.drafts.values():
            subscribers = mapped.get(d.id, 0)
            if d.subscribers is not None:
                if d.subscribers < subscribers:
                    message = f"says {d.subscribers}, but the subscribers CSV maps {subscribers}"
                    self.flag(d, "subscribers", message)
                subscribers = d.subscribers
            if d.kind is not None and d.area is not None and d.contract is not None:
                elements[d.id] = Element(
                    d.id, d.kind, d.parents, d.area, subscribers, d.address, d.contract,
                    d.name, d.snmp, d.uplinks, d.line, d.name_en,
                )  # fmt: skip
        return elements
