"""`join_cut_off` finds the host of a multi-homed root by a lookup along its
uplinks' dominator chains; it must join exactly as the scan of every root did.
The roots are those the engine elects during randomized storms on a generated
city with dual-homed communities (tests/test_incremental.py's storms), and
during storms where both metros of dual-homed communities fail."""

from __future__ import annotations

import random
from typing import Any

from outaged.correlate.election import Root, join_cut_off
from outaged.correlate.incremental import Elector
from outaged.outages.engine import Engine
from outaged.signals import ProbeResult, Signal
from outaged.topology.graph import GraphIndex
from tests.test_incremental import CYCLE, T0, city, storm

__all__ = ["city"]  # the module-scoped city of tests/test_incremental.py


def scanned(index: GraphIndex, roots: list[Root]) -> list[Root]:
    """The join as it was: every root tried as the host of every uplink."""

    def covers(root: Root, element: str) -> bool:
        return index.dominates(root.element, element) or any(
            covers(j, element) for j in root.joined
        )

    pending = True
    while pending:
        pending = False
        for root in roots:
            parents = index.element(root.element).parents
            if len(parents) < 2:
                continue
            hosts = [
                next((h for h in roots if h is not root and covers(h, p)), None) for p in parents
            ]
            host = hosts[0]
            if host is not None and all(h is not None for h in hosts):
                roots = [r for r in roots if r is not root]
                i = roots.index(host)
                roots[i] = Root(
                    host.element, host.own, host.below, host.absorbed, (*host.joined, root)
                )
                pending = True
                break
    return roots


def both_uplinks(index: GraphIndex, seed: int) -> list[Signal]:
    """Dual-homed communities with every uplink down (and what those cut off),
    for six cycles, then back element by element."""
    rng = random.Random(seed)
    elements = index.topology.elements.values()
    dual = sorted(e.id for e in elements if e.kind == "community" and len(e.parents) > 1)
    dead: set[str] = set()
    for community in rng.sample(dual, rng.randint(1, 3)):
        for parent in index.element(community).parents:
            dead.update(index.cut_off(parent))
        dead.update(index.cut_off(community))
    probed = [e.id for e in elements if e.address]
    offset = {e: rng.uniform(0, CYCLE) for e in probed}
    found: list[Signal] = [
        ProbeResult(at, e, ok, 1.0 if ok else None)
        for cycle in range(12)
        for e in probed
        for at, ok in [(T0 + cycle * CYCLE + offset[e], not (2 <= cycle < 8 and e in dead))]
    ]
    return sorted(found, key=lambda s: s.at)


def test_the_lookup_joins_as_the_scan(city: GraphIndex) -> None:
    seen: list[list[Root]] = []
    elect = Elector.elect

    class Recording(Elector):
        def elect(self, *args: Any, **kwargs: Any) -> list[Root]:
            found = elect(self, *args, **kwargs)
            seen.append(list(self._last[0]))  # the roots before joining
            return found

    for seed in range(8):
        engine = Engine(city, min_interval=5.0)
        engine._elector = Recording(city, city.topology.thresholds)
        now = None
        signals = (
            storm(city, seed) if seed % 2 else sorted(both_uplinks(city, seed), key=lambda s: s.at)
        )
        for signal in signals:
            if now is not None and signal.at > now:
                engine.evaluate(now)
            now = signal.at
            engine.ingest(signal)
    joins = 0
    for roots in seen:
        want = scanned(city, list(roots))
        assert join_cut_off(city, list(roots)) == want
        joins += len(roots) - len(want)
    assert joins > 0  # the storms did cut dual-homed roots off
