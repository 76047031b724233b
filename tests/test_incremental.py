"""Differential: the incremental engine decides exactly what the full search decided.

Randomized storms and recoveries (seeded, so a failure names its seed) on
generated cities (bench/gen_topology.py: dual-homed communities, power feeds,
fibres, access switches): random metros, communities and buildings fail,
flap, are reported by their subscribers, and come back element by element at
random moments of a probe cycle. The same signal stream goes through `Engine`
and `tests.reference_engine.ReferenceEngine` (the full search for the record
each root belongs to), and every step's decisions must be equal.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.gen_topology import generate
from outaged.correlate.spikes import ReportClass, SpikeDetector
from outaged.outages.engine import Engine
from outaged.signals import Category, ManualFault, ProbeResult, Report, Signal
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from tests.reference_engine import ReferenceEngine, ReferenceSpikes

T0 = 1_795_000_000.0
CYCLE = 60.0


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> GraphIndex:
    outdir = tmp_path_factory.mktemp("city")
    return GraphIndex.build(load_topology(generate(Path(outdir), 1_500, 20_000, seed=7)))


def storm(index: GraphIndex, seed: int) -> list[Signal]:
    """Several overlapping faults, each failing for a few cycles and coming back."""
    rng = random.Random(seed)
    elements = index.topology.elements
    probed = [e.id for e in elements.values() if e.address]
    offset = {e: rng.uniform(0, CYCLE) for e in probed}
    candidates = sorted(e.id for e in elements.values() if e.kind in ("metro", "community"))
    candidates += rng.sample(sorted(e.id for e in elements.values() if e.kind == "building"), 20)
    cycles = 24
    faults = []  # (element, first cycle down, first cycle back, flapping)
    for _ in range(rng.randint(2, 6)):
        start = rng.randint(2, 7)
        element = rng.choice(candidates)
        back = start + rng.randint(3, 6)
        faults.append((element, start, back, rng.random() < 0.2))
        below = list(index.cut_off(element))[1:]
        if below and rng.random() < 0.6:  # smaller faults first, then it grows (merges)
            for part in rng.sample(below, min(len(below), 2)):
                faults.append((part, start - 2, back + rng.randint(0, 2), False))
        if rng.random() < 0.5:  # back within the relapse window
            faults.append((element, back + 3, back + rng.randint(7, 9), False))
    subs_at: dict[str, list[str]] = {}
    for sub, element in index.topology.subscribers.items():
        subs_at.setdefault(element, []).append(sub)
    signals: list[Signal] = []
    was_down: set[str] = set()
    for cycle in range(cycles):
        begin = T0 + cycle * CYCLE
        down: set[str] = set()
        for element, first, back, flapping in faults:
            if first <= cycle < back and not (flapping and cycle % 2):
                down.update(index.cut_off(element))
        for element in probed:
            at = begin + offset[element] + rng.uniform(-2, 2)
            ok = element not in down
            signals.append(ProbeResult(at, element, ok, 1.0 if ok else None))
        for element in sorted(down):
            callers = subs_at.get(element, [])
            for sub in rng.sample(callers, min(len(callers), rng.randint(0, 3))):
                signals.append(Report(begin + rng.uniform(0, CYCLE), element, Category.DOWN, sub))
        for element in sorted(was_down - down):  # calls still arriving after it came back
            callers = subs_at.get(element, [])
            if callers and rng.random() < 0.3:
                signals.append(
                    Report(begin + rng.uniform(0, 20), element, Category.DOWN, callers[0])
                )
        was_down = down
        if rng.random() < 0.1:
            target = rng.choice(candidates)
            cleared = rng.random() < 0.5
            signals.append(
                ManualFault(begin + rng.uniform(0, CYCLE), target, "seen", "ops", cleared)
            )
    signals.sort(key=lambda s: s.at)
    return signals


@pytest.mark.parametrize("seed", range(12))
def test_every_decision_matches_the_full_search(city: GraphIndex, seed: int) -> None:
    interval = (0.0, 1.0, 5.0)[seed % 3]
    new = Engine(city, min_interval=interval)
    old = ReferenceEngine(city, min_interval=interval)
    signals = storm(city, seed)
    now: float | None = None
    steps = decided = 0
    for signal in [*signals, None]:
        at = signal.at if signal is not None else signals[-1].at + 3600
        if now is not None and at > now:
            got, want = new.evaluate(now), old.evaluate(now)
            assert got == want, f"seed {seed}: step at {now - T0:.1f} s differs"
            steps += 1
            decided += len(got)
        if signal is not None:
            now = signal.at
            new.ingest(signal)
            old.ingest(signal)
    assert decided > 0 and steps > 100  # the storm did make the engines decide
    assert [o.id for o in new.open_outages()] == [o.id for o in old.open_outages()]


def _spike_state(spikes: SpikeDetector) -> object:
    return (
        list(spikes.active.items()),
        [(k, dict(w.free), [c.owner_depth for c in w.events]) for k, w in spikes.windows.items()],
        spikes.baselines.city_per_sub_s(ReportClass.DOWN, T0 + 86_400),
    )


@pytest.mark.parametrize("seed", range(6))
def test_recovery_retires_the_same_calls_as_the_full_scan(city: GraphIndex, seed: int) -> None:
    """Heavy calling from under faults, then elements coming back one by one: the
    lookup of the windows at, above and under each ends and retires exactly what
    the scan of every window did (spikes, counts, claims, the learned baseline)."""
    rng = random.Random(seed)
    new, old = (
        SpikeDetector(city, city.topology.thresholds),
        ReferenceSpikes(city, city.topology.thresholds),
    )
    elements = city.topology.elements
    faults = rng.sample(
        sorted(e.id for e in elements.values() if e.kind in ("metro", "community")), 4
    )
    under = sorted({e for f in faults for e in city.cut_off(f)})
    subs_at: dict[str, list[str]] = {}
    for sub, element in city.topology.subscribers.items():
        subs_at.setdefault(element, []).append(sub)
    at = T0
    callers = [(e, s) for e in under for s in subs_at.get(e, [])]
    for element, sub in rng.sample(callers, min(len(callers), 1_500)):
        at += rng.uniform(0, 0.5)
        assert new.add(at, element, ReportClass.DOWN, sub) == old.add(
            at, element, ReportClass.DOWN, sub
        )
    assert new.active  # the calling did make spikes
    for element in rng.sample(under, min(len(under), 200)):
        at += rng.uniform(0, 2)
        new.clear_below(element, at)
        old.clear_below(element, at)
        assert _spike_state(new) == _spike_state(old), f"seed {seed}: after {element} came back"
