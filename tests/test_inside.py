"""Differential: "is this caller inside an open outage" by lookups answers exactly
what the scan of every record answered.

Seeded storms (tests.test_incremental.storm) on a generated city, some with the
platform failing (it covers everyone), go through a `Ledger` while people act at
random (repair reported, verified, cancelled, acknowledged) so records sit in
every state: open in the engine, restored but not verified, ended. After every
step `Ledger.inside` is asked about every element of the city (and one the
topology does not have) and must equal the scan `_scan` below, which is the
implementation it replaced.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.gen_topology import generate
from outaged.classify.scope import covers
from outaged.errors import TransitionError
from outaged.outages.engine import Engine
from outaged.outages.lifecycle import Action
from outaged.records.actions import ActionRequest
from outaged.records.ledger import Ledger
from outaged.signals import ManualFault, Signal
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from tests.test_incremental import storm

ACTIONS = (
    ActionRequest(Action.ACK),
    ActionRequest(Action.RESTORE),
    ActionRequest(Action.VERIFY, {"force": "true", "reason": "seen up"}),
    ActionRequest(Action.CANCEL, {"reason": "test"}),
)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> GraphIndex:
    outdir = tmp_path_factory.mktemp("city")
    return GraphIndex.build(load_topology(generate(Path(outdir), 600, 5_000, seed=11)))


def _scan(ledger: Ledger, element: str) -> int | None:
    """The former `Ledger.inside`: every record's scope, one by one."""
    found: list[tuple[int, int]] = []
    for oid, record in ledger.records.items():
        outage = ledger.engine.outages.get(oid)
        if record.active and outage is not None and covers(ledger.index, outage.scope, element):
            found.append((outage.severity.rank, oid))
    return min(found)[1] if found else None


@pytest.mark.parametrize("seed", range(6))
def test_inside_by_lookup_matches_the_scan(city: GraphIndex, seed: int) -> None:
    rng = random.Random(seed)
    signals: list[Signal] = storm(city, seed)
    if seed % 2:  # the platform down for a while: everyone is inside
        start = signals[len(signals) // 3].at
        signals.append(ManualFault(start, "aaa-1", "login fails", "ops", False))
        signals.append(ManualFault(start + 600, "aaa-1", "login fails", "ops", True))
        signals.sort(key=lambda s: s.at)
    ledger = Ledger(Engine(city, min_interval=1.0))
    asked = [*sorted(city.topology.elements), "not-in-topology"]
    now: float | None = None
    steps = hits = aside = acted = 0
    for signal in [*signals, None]:
        at = signal.at if signal is not None else signals[-1].at + 3600
        if now is not None and at > now:
            ledger.decide(now)
            for oid in [o for o, r in ledger.records.items() if r.active]:
                if rng.random() < 0.003:
                    try:
                        ledger.act(oid, rng.choice(ACTIONS), "tester", now)
                        acted += 1
                    except TransitionError:
                        pass
            active = {o for o, r in ledger.records.items() if r.active}
            assert ledger._aside == {o for o in active if not ledger.engine.is_open(o)}
            aside += len(ledger._aside)
            if steps % 25 == 0:
                for element in asked:
                    want = _scan(ledger, element)
                    assert ledger.inside(element) == want, f"seed {seed} {element}"
                    hits += want is not None
            steps += 1
        if signal is not None:
            now = signal.at
            ledger.engine.ingest(signal)
    # callers were inside, records were set aside, and people acted
    assert hits > 0 and aside > 0 and acted > 0
