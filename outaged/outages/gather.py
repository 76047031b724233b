"""The evidence kept current between elections. Pure.

`Weigher.weigh` turns every claim of everything down into evidence at every
election. `Gatherer` keeps the claims and the evidence from the last election
and redoes only the elements the engine saw change (`touch`), those whose
spikes, remembered calls or set-aside state differ from what it saw last
time, and those that another claim below now sits under (or no longer does).
It hands the election the elements whose evidence changed, or whose health
changed (`shake`), so the election refolds only their lines of the tree.
While planned work is known every claim is weighed again, as `weigh` does
(its overruns move with time). The evidence equals `weigh` on the same claims
(tests/test_incremental.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from outaged.correlate.election import Evidence
from outaged.outages.evidence import Weigher
from outaged.signals import Maintenance
from outaged.topology.graph import GraphIndex

ClaimsAt = Callable[[str], list[tuple[str, float]]]


class Gatherer:
    def __init__(self, index: GraphIndex) -> None:
        self.index = index
        self._weigher = Weigher(index)
        self.evidence: dict[str, Evidence] = {}
        self._claims: dict[str, list[tuple[str, float]]] = {}
        self._keys: set[str] = set()  # elements with claims, or remembered (weigh's `found`)
        self._under: defaultdict[str, int] = defaultdict(int)  # keys strictly below a node
        self._touched: set[str] = set()
        self._shaken: set[str] = set()
        self._remembered: dict[str, tuple[str, float, int]] = {}
        self._open: frozenset[int] = frozenset()
        self._aside: frozenset[str] = frozenset()
        self._planned = False

    def touch(self, element: str) -> None:
        """Its claims may differ (probes, manual, uplinks)."""
        self._touched.add(element)

    def shake(self, element: str) -> None:
        """Its health changed: the election reads it (and those above) afresh."""
        self._shaken.add(element)

    def gather(
        self,
        claims_at: ClaimsAt,
        moved: set[str],
        remembered: Mapping[str, tuple[str, float, int]],
        open_ids: frozenset[int],
        aside: frozenset[str],
        maintenance: Sequence[Maintenance],
        now: float,
    ) -> tuple[dict[str, Evidence], dict[str, float], set[str]]:
        """The evidence, the overruns, and the elements the election must read again.
        `moved`: the elements whose report spikes began or ended since the last call."""
        touched, self._touched = self._touched, set()
        changed, self._shaken = self._shaken, set()
        changed |= moved  # a spike backs remembered calls (quiet or not)
        touched |= moved
        touched |= _differ(self._remembered, remembered)
        self._remembered = dict(remembered)
        if open_ids != self._open:  # remembered calls count only for open outages
            touched.update(remembered)
            self._open = open_ids
        if aside != self._aside:
            touched |= aside ^ self._aside
            self._aside = aside
        planned = bool(maintenance)
        full = planned or self._planned
        self._planned = planned
        if full:
            touched |= self._keys
        reweigh = set(touched)
        for element in touched:
            items = claims_at(element)
            key = bool(items) or element in remembered
            if items:
                self._claims[element] = items
            else:
                self._claims.pop(element, None)
            if key != (element in self._keys):
                self._key(element, key, reweigh)
        overruns: dict[str, float] = {}
        for element in reweigh:
            claimed = self._claims.get(element)
            new = None
            if claimed is not None:
                new = self._weigher.weigh_one(
                    element,
                    claimed,
                    self._under.get(element, 0) > 0,
                    element in remembered,
                    maintenance,
                    now,
                    overruns,
                )
            old = self.evidence.get(element)
            if new is None:
                if old is not None:
                    del self.evidence[element]
                    changed.add(element)
            elif new != old:
                self.evidence[element] = new
                changed.add(element)
        return self.evidence, overruns, changed

    def _key(self, element: str, on: bool, reweigh: set[str]) -> None:
        (self._keys.add if on else self._keys.discard)(element)
        under = self._under
        for dom in self.index.dominators(element):
            under[dom] += 1 if on else -1
            if under[dom] == (1 if on else 0):  # it starts or stops being above a claim
                reweigh.add(dom)
                if not on:
                    del under[dom]


def _differ(old: Mapping[str, object], new: Mapping[str, object]) -> set[str]:
    found = set(old.keys() ^ new.keys())
    found.update(k for k, v in new.items() if k in old and old[k] != v)
    return found
