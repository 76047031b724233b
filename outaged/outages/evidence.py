"""From claims to evidence: what the election weighs. Pure.

The engine gathers, per element, what speaks against it now (its claims: probes
down or flapping, a person's word, every uplink down, a burst of calls, the
calls an open outage remembers). `Weigher.weigh` turns them into `Evidence`:
a burst counted at an element above other evidence is no evidence there (it is
the same calls again, unless an open outage remembers them), and a claim inside
planned work is no fault until the work overruns.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence

from outaged.correlate.election import Evidence
from outaged.signals import Maintenance
from outaged.topology.graph import GraphIndex

HARD_REASONS = frozenset({"down", "flapping", "manual", "uplinks"})

Claims = dict[str, list[tuple[str, float]]]  # element -> (reason, since), in gathering order
_Key = tuple[bool, bool, tuple[tuple[str, float], ...]]


class Weigher:
    def __init__(self, index: GraphIndex) -> None:
        self.index = index
        # element -> (what its evidence was built from, the evidence): storms repeat it
        self._cache: dict[str, tuple[_Key, Evidence]] = {}

    def weigh(
        self,
        found: Claims,
        remembered: Container[str],
        maintenance: Sequence[Maintenance],
        now: float,
    ) -> tuple[dict[str, Evidence], dict[str, float]]:
        """The evidence, and the elements whose planned work overran (since when)."""
        # A burst counted at an element is also counted at everything above it:
        # above other evidence it explains nothing new, so it is not evidence there.
        above: set[str] = set()
        for element in found:
            for dom in self.index.dominators(element):
                if dom in above:
                    break
                above.add(dom)

        evidence: dict[str, Evidence] = {}
        overruns: dict[str, float] = {}
        planned = bool(maintenance)
        cache = self._cache
        for element, items in found.items():
            key = (element in above, element in remembered, tuple(items))
            cached = cache.get(element)
            if cached is not None and cached[0] == key and not planned:
                evidence[element] = cached[1]  # in a storm, nearly always
                continue
            weighed = self.weigh_one(
                element, items, element in above, element in remembered, maintenance, now, overruns
            )
            if weighed is not None:
                evidence[element] = weighed
                if not planned:
                    cache[element] = (key, weighed)
        return evidence, overruns

    def weigh_one(
        self,
        element: str,
        items: Iterable[tuple[str, float]],
        above: bool,
        held_here: bool,
        maintenance: Sequence[Maintenance],
        now: float,
        overruns: dict[str, float],
    ) -> Evidence | None:
        """One element's evidence from its claims (`above`: other claims lie under it;
        `held_here`: an open outage remembers calls there); records an overrun."""
        kept = []
        for reason, first_at in items:
            # ... except what an open outage remembers: what opened it stays
            if above and reason.startswith("reports") and not held_here:
                continue
            window = self._window_over(maintenance, element, first_at) if maintenance else None
            if window is None or reason == "manual":
                kept.append((reason, first_at))
            elif window.end <= now:  # planned work overran: a fault from its end
                overruns[element] = window.end
                kept.append((reason, max(first_at, window.end)))
        if not kept:
            return None
        reasons = tuple(sorted({r for r, _ in kept}))
        return Evidence(
            element=element,
            first_at=min(t for _, t in kept),
            hard=any(r in HARD_REASONS for r in reasons),
            degraded=all(r == "reports:degraded" for r in reasons),
            reasons=reasons,
        )

    def _window_over(
        self, maintenance: Sequence[Maintenance], element: str, at: float
    ) -> Maintenance | None:
        for window in maintenance:
            if window.start <= at < window.end and self.index.dominates(window.element, element):
                return window
        return None
