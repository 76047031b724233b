"""The engine as it was before incremental matching: the test and bench oracle.

`ReferenceEngine` is the production `Engine` with the searches that the
incremental code replaced put back verbatim: the match of every root against
every open outage (every root x every scope part x `GraphIndex.dominates`);
when an element comes back, the scan of every report window and every
remembered report for those under or above it; and at every election the
claims gathered from everything down, weighed (`Weigher.weigh`) and elected
(`elect`) in full, every open outage's record rebuilt from its whole
evidence, and what they remember gathered again from all of them.
Differential tests and `bench.bench_recovery` run it side by side with
`Engine` and compare every decision. Not used by the daemon.
"""

from __future__ import annotations

from collections import defaultdict

from outaged.correlate.election import Root, elect
from outaged.correlate.spikes import ReportClass, Spike, SpikeDetector
from outaged.correlate.summary import Summary, of_all
from outaged.outages.engine import Engine
from outaged.outages.evidence import Weigher
from outaged.outages.matching import Match
from outaged.outages.model import Decision, Event, Outage
from outaged.topology.graph import GraphIndex


class ReferenceSpikes(SpikeDetector):
    def clear_below(self, element: str, at: float) -> list[Spike]:
        chain = set(self.index.dominators(element))
        dominates = self.index.dominates
        self._recovered[element] = max(at, self._recovered.get(element, at))
        ended = [
            s
            for s in self.active.values()
            if s.first_at <= at and (s.element in chain or dominates(element, s.element))
        ]
        for spike in ended:
            self._end(spike)
        for (target, cls), window in self.windows.items():
            if cls is ReportClass.AUTH or not (target in chain or dominates(element, target)):
                continue
            for call in [c for c in window.events if c.at <= at and dominates(element, c.element)]:
                self._retire(call)
        return ended


class ReferenceEngine(Engine):
    def __init__(self, index: GraphIndex, *, first_id: int = 1, min_interval: float = 0.0) -> None:
        super().__init__(index, first_id=first_id, min_interval=min_interval)
        self.spikes = ReferenceSpikes(index, self.th)
        self._weigh = Weigher(index)

    def _elect(self, now: float) -> tuple[list[Root], dict[str, float]]:
        self.spikes.moved.clear()
        found: dict[str, list[tuple[str, float]]] = defaultdict(list)
        aside = self._releases.is_aside
        for element in self._probe_evidence:
            health = self.health[element]
            if health.is_evidence and not aside(element):
                start = health.down_since if health.down_since is not None else now
                found[element].append(("flapping" if health.flapping else "down", start))
        for element, fault in self.manual.items():
            if not aside(element):
                found[element].append(("manual", fault.at))
        for element, states in self.uplinks.items():
            if aside(element):
                continue
            watched = self.index.element(element).uplinks
            downs = [states[i][1] for i in watched if i in states and not states[i][0]]
            if len(downs) == len(watched):
                found[element].append(("uplinks", max(downs)))
        for spike in self.spikes.active.values():
            tag = "auth" if spike.cls is ReportClass.AUTH else f"reports:{spike.cls.value}"
            found[spike.element].append((tag, spike.first_at))
        for element, (tag, first_at, oid) in self._remembered.items():
            items = found[element]
            if oid in self._open_ids and all(r != tag for r, _ in items):
                items.append((tag, first_at))
        evidence, overruns = self._weigh.weigh(found, self._remembered, self.maintenance, now)
        return elect(self.index, evidence, self._healthy_below, self.th), overruns

    def _summary(self, root: Root) -> Summary | None:
        return of_all(root.evidence(), self._is_held_only)  # a walk over all of it

    def _unchanged(self, outage: Outage, basis: tuple[object, ...]) -> bool:
        return False  # every record rebuilt at every election

    def _remember_reports(self) -> None:
        remembered: dict[str, tuple[str, float, int]] = {}
        for oid in sorted(self._open_ids):
            for element, tag, first_at in self.outages[oid].held:
                remembered.setdefault(element, (tag, first_at, oid))
        self._remembered = remembered

    def _forget_below(self, element: str, at: float) -> None:
        chain = set(self.index.dominators(element))
        dominates = self.index.dominates
        gone = [
            e
            for e, (_, first_at, _) in self._remembered.items()
            if first_at <= at and (e in chain or dominates(element, e))
        ]
        for e in gone:
            del self._remembered[e]
        if gone:
            self._dirty = True

    def _matched(
        self,
        roots: list[Root],
        live: list[Outage],
        recent: list[Outage],
        overruns: dict[str, float],
        now: float,
    ) -> tuple[list[Decision], Match, dict[str, float]]:
        decisions: list[Decision] = []
        keepers: dict[int, Root] = {}  # outage -> the root at or above its root
        merged: set[int] = set()
        residuals: defaultdict[int, list[Root]] = defaultdict(list)
        holds: dict[str, float] = {}
        index = self.index
        depth = index.depth
        for root in sorted(roots, key=lambda r: (depth[r.element], r.element)):
            taken = keepers.keys() | merged | residuals.keys()
            above = [o for o in live if o.id not in taken and self._covers(root, o)]
            if above:
                keeper, *others = sorted(above, key=lambda o: o.id)
                keepers[keeper.id] = root
                for other in others:
                    merged.add(other.id)
                    decisions.append(self._merge(other, keeper.id, now))
                continue
            host = max(
                (
                    o
                    for o in live
                    if o.id not in merged
                    and any(index.dominates(p, root.element) for p in (o.root, *o.scope.parts))
                ),
                key=lambda o: depth[o.root],
                default=None,
            )
            if host is not None:
                residuals[host.id].append(root)
                continue
            relapsed = next(
                (o for o in recent if o.id not in taken and self._related(o, root)), None
            )
            if relapsed is not None:
                keepers[relapsed.id] = root
                decisions += self._update(relapsed, root, overruns, now, relapse=True)
            elif self._held(root, now):
                holds[root.element] = self._holds.get(root.element, now)
            else:
                outage = self._open(root, overruns, now)
                keepers[outage.id] = root
                decisions.append(Decision(now, Event.OPENED, outage, outage.reason, outage.why))
        return decisions, Match([], keepers, merged, residuals), holds

    def _covers(self, root: Root, outage: Outage) -> bool:
        dominates = self.index.dominates
        return any(
            outage.root == element or dominates(element, outage.root) for element in root.elements()
        )

    def _related(self, outage: Outage, root: Root) -> bool:
        dominates = self.index.dominates
        return any(
            outage.root == element
            or dominates(element, outage.root)
            or dominates(outage.root, element)
            for element in root.elements()
        )
