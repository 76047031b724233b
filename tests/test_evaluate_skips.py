"""Differential: `Engine.evaluate` skipping the passes that cannot be due decides
exactly what running every pass at every call decided.

`evaluate` runs once per signal time, so it skips its clock-driven pass
(spikes re-judged and swept, flaps settling, planned work starting and ending,
holds giving up) until the earliest of those can be due. `EveryPass` is the same
engine with that pass run at every call. Randomized storms (seeded) with
flapping, maintenance windows declared and called off, reboots, manual faults,
outages a person ends and reopens, and calls arriving; both engines get the same
signals and the same calls, at every signal time and at every `next_wakeup`
between them (as replay drives it), and every step's decisions, suspicions and
next wake-up must be equal.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.gen_topology import generate
from outaged.outages.engine import Engine
from outaged.outages.model import Decision, Event
from outaged.signals import Maintenance, ProbeResult, Reboot, Signal
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from tests.test_incremental import CYCLE, T0, storm


class EveryPass(Engine):
    def _clocks_due(self, now: float) -> bool:
        return True


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> GraphIndex:
    outdir = tmp_path_factory.mktemp("city")
    return GraphIndex.build(load_topology(generate(Path(outdir), 500, 5_000, seed=11)))


def _flapping(index: GraphIndex, signals: list[Signal], rng: random.Random) -> list[Signal]:
    """A few probed elements go down and up again every few cycles for a while (so
    they flap), then stay up; healthy cycles follow the storm until well after
    their flapping settled (a flap window after the last change)."""
    probed = sorted(e.id for e in index.topology.elements.values() if e.address)
    flappers = {e: rng.randint(0, 4) for e in rng.sample(probed, 6)}
    after = int((signals[-1].at - T0) // CYCLE) + 1
    for cycle in range(after, after + int(index.topology.thresholds.flap_window_s // CYCLE)):
        signals += [
            ProbeResult(T0 + cycle * CYCLE + rng.uniform(0, CYCLE), e, True, 1.0) for e in probed
        ]

    def probe(signal: Signal) -> Signal:
        if not isinstance(signal, ProbeResult) or signal.element not in flappers:
            return signal
        cycle = int((signal.at - T0) // CYCLE) - flappers[signal.element]
        ok = not (0 <= cycle < 14 and cycle % 5 < 3)
        return ProbeResult(signal.at, signal.element, ok, 1.0 if ok else None)

    return [probe(s) for s in signals]


def _planned(index: GraphIndex, rng: random.Random) -> list[Signal]:
    """Maintenance windows (some called off) and reboots, over the storm's cycles."""
    elements = sorted(e.id for e in index.topology.elements.values() if e.kind != "platform")
    found: list[Signal] = []
    for _ in range(rng.randint(2, 5)):
        element = rng.choice(elements)
        declared = T0 + rng.uniform(0, 10 * CYCLE)
        start = declared + rng.uniform(-CYCLE, 4 * CYCLE)
        window = Maintenance(declared, element, start, start + rng.uniform(30, 6 * CYCLE))
        found.append(window)
        if rng.random() < 0.3:
            called_off = declared + rng.uniform(1, 5 * CYCLE)
            found.append(Maintenance(called_off, element, window.start, window.end, cancelled=True))
    for _ in range(rng.randint(1, 4)):
        found.append(Reboot(T0 + rng.uniform(0, 20 * CYCLE), rng.choice(elements), 30.0))
    return found


@pytest.mark.parametrize("seed", range(4))
def test_skipping_passes_changes_no_decision(city: GraphIndex, seed: int) -> None:
    rng = random.Random(1000 + seed)
    interval = (0.0, 1.0, 5.0)[seed % 3]
    fast, full = Engine(city, min_interval=interval), EveryPass(city, min_interval=interval)
    signals = _flapping(city, storm(city, seed), rng)
    signals = sorted([*signals, *_planned(city, rng)], key=lambda s: s.at)
    decided = skipped = 0
    released: list[int] = []
    flapped: set[str] = set()

    def step(now: float) -> None:
        nonlocal decided, skipped
        skipped += not fast._clocks_due(now)
        got, want = fast.evaluate(now), full.evaluate(now)
        assert got == want, f"seed {seed}: step at {now - T0:.3f} s differs"
        assert fast.drain_suspicions() == full.drain_suspicions()
        assert fast.next_wakeup() == full.next_wakeup()
        decided += len(got)
        flapped.update(fast._flapping)
        _people(got, now)

    def _people(got: list[Decision], now: float) -> None:
        """Now and then a person ends an outage just opened, and reopens one."""
        for d in got:
            if d.event is Event.OPENED and rng.random() < 0.15:
                assert fast.release(d.outage.id, now) == full.release(d.outage.id, now)
                released.append(d.outage.id)
        if released and rng.random() < 0.02:
            oid = released.pop(0)
            fast.resume(oid)
            full.resume(oid)

    now: float | None = None
    for signal in [*signals, None]:
        at = signal.at if signal is not None else signals[-1].at + 3600
        while now is not None and (wake := full.next_wakeup()) is not None and now < wake < at:
            step(now)  # the signals of `now` are in: decide, then sleep until the wake-up
            now = wake
        if now is not None and at > now:
            step(now)
        if signal is not None:
            now = signal.at
            fast.ingest(signal)
            full.ingest(signal)
    assert decided > 0 and skipped > 1000  # the storm made decisions, the engine skipped
    assert flapped  # and some flapping settled
    assert [o.id for o in fast.open_outages()] == [o.id for o in full.open_outages()]
