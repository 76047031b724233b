"""Storm and recovery on a city network: CPU per probe cycle, worst step, GC pauses.

    .venv/bin/python -m bench.bench_recovery [--dir DIR] [--elements 100000]
        [--metros 1,2,4] [--share 0.1 ...] [--no-anchor]

For each number of metros (and each `--share`: that share of all elements,
whole metros first, then communities at random): every probed element is
probed once per 60 s cycle (jittered offset); one healthy cycle, then what is
down (and everything it cuts off) fails for four cycles (5 % of its
subscribers call in during each of the first two), then three healthy cycles
(an element is up after `up_after` = 2 good cycles, so the second sees them
come back element by element).
Signals go through `Engine.ingest`, and `evaluate` runs whenever simulated time
moves on (every probe has its own time, so once per signal: ~96k calls a
cycle), electing at most once per simulated second (`replay`'s default).
To compare with other code (e.g. the `int` branch), run this command from a
`git archive` of it with its own PYTHONPATH right before or after this one.

Anchor in the same run: `tests.reference_engine.ReferenceEngine`, the engine
with the full election and full search for the outage hosting a root (the code
before incremental matching), on the same signals. Every decision of the two
is compared; the bench fails loudly if one differs.
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.gen_topology import generate
from outaged.outages.engine import Engine
from outaged.outages.model import Decision
from outaged.signals import Category, ProbeResult, Report, Signal
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from tests.reference_engine import ReferenceEngine

T0 = 1_795_000_000.0
CYCLE = 60.0
STORM_CYCLES = 4


def metros_down(index: GraphIndex, metros: int) -> set[str]:
    """The first `metros` metros and everything they cut off."""
    dead: set[str] = set()
    elements = index.topology.elements.values()
    for metro in sorted(e.id for e in elements if e.kind == "metro")[:metros]:
        dead.update(index.cut_off(metro))
    return dead


def share_down(index: GraphIndex, share: float, seed: int = 7) -> set[str]:
    """At least `share` of the elements: whole metros while one fits in what is
    left to take, then communities picked at random (each with what it cuts off)."""
    rng = random.Random(seed)
    elements = index.topology.elements.values()
    want = share * len(index.topology.elements)
    dead: set[str] = set()
    for metro in sorted(e.id for e in elements if e.kind == "metro"):
        below = set(index.cut_off(metro))
        if len(dead) + len(below) <= want:
            dead.update(below)
    communities = sorted(e.id for e in elements if e.kind == "community" and e.id not in dead)
    rng.shuffle(communities)
    for community in communities:
        if len(dead) >= want:
            break
        dead.update(index.cut_off(community))
    return dead


def build(index: GraphIndex, dead: set[str], seed: int = 5) -> tuple[list[Signal], int]:
    """The signals with `dead` failing, and the first cycle of the recovery (its index)."""
    rng = random.Random(seed)
    elements = index.topology.elements
    probed = [e.id for e in elements.values() if e.address]
    offset = {e: rng.uniform(0, CYCLE) for e in probed}
    subs: dict[str, list[str]] = {}
    for sub, element in index.topology.subscribers.items():
        if element in dead:
            subs.setdefault(element, []).append(sub)
    signals: list[Signal] = []
    recovery = 1 + STORM_CYCLES
    for cycle in range(recovery + 3):
        start = T0 + cycle * CYCLE
        storm = 1 <= cycle < recovery
        for element in probed:
            ok = not (storm and element in dead)
            signals.append(ProbeResult(start + offset[element], element, ok, 1.0 if ok else None))
        if storm and cycle < 3:
            for element, callers in subs.items():
                for sub in rng.sample(callers, max(1, len(callers) // 20)):
                    at = start + rng.uniform(0, CYCLE)
                    signals.append(Report(at, element, Category.DOWN, sub))
    signals.sort(key=lambda s: s.at)
    return signals, recovery


@dataclass
class Run:
    cpu_per_cycle: list[float] = field(default_factory=list)
    worst_step: float = 0.0
    worst_step_no_gc: float = 0.0  # less the GC pauses inside it
    worst_gc: float = 0.0
    gc_total: float = 0.0
    decisions: list[Decision] = field(default_factory=list)


def run(make: Callable[[], Engine], signals: list[Signal]) -> Run:
    result = Run()
    started: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            pause = time.perf_counter() - started.pop()
            result.worst_gc = max(result.worst_gc, pause)
            result.gc_total += pause

    engine = make()
    gc.collect()
    gc.freeze()  # as the daemon does after loading the topology
    gc.callbacks.append(on_gc)
    try:
        cpu = time.process_time
        cycle, cycle_start = 0, cpu()
        now: float | None = None
        for signal in signals:
            if now is not None and signal.at > now:
                t, paused = time.perf_counter(), result.gc_total
                result.decisions += engine.evaluate(now)
                spent = time.perf_counter() - t
                result.worst_step = max(result.worst_step, spent)
                spent -= result.gc_total - paused
                result.worst_step_no_gc = max(result.worst_step_no_gc, spent)
            at_cycle = int((signal.at - T0) // CYCLE)
            while at_cycle > cycle:
                result.cpu_per_cycle.append(cpu() - cycle_start)
                cycle, cycle_start = cycle + 1, cpu()
            now = signal.at
            engine.ingest(signal)
        if now is not None:
            result.decisions += engine.evaluate(now + CYCLE)
        result.cpu_per_cycle.append(cpu() - cycle_start)
    finally:
        gc.callbacks.remove(on_gc)
        gc.unfreeze()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, help="reuse a generated topology directory")
    parser.add_argument("--elements", type=int, default=100_000)
    parser.add_argument("--metros", default="1,2,4", help="comma-separated; '' for none")
    parser.add_argument(
        "--share", type=float, action="append", default=[], help="also: this share of elements down"
    )
    parser.add_argument("--no-anchor", action="store_true", help="skip the reference engine")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        outdir = args.dir or Path(tmp)
        yaml_path = outdir / "topology.yaml"
        if not yaml_path.exists():
            generate(outdir, args.elements, args.elements * 10)
        index = GraphIndex.build(load_topology(yaml_path))
    print(f"network: {len(index.topology.elements):,} elements")
    cases = [(f"{m} metro(s) down", metros_down(index, m)) for m in _ints(args.metros)]
    cases += [(f"{share:.0%} of elements down", share_down(index, share)) for share in args.share]
    for name, dead in cases:
        signals, recovery = build(index, dead)
        new = run(lambda: Engine(index, min_interval=1.0), signals)
        print(
            f"{name} ({len(dead):,} elements), {len(signals):,} signals:"
            f" new engine: storm cycle {max(new.cpu_per_cycle[1:recovery]):.2f} s CPU,"
            f" recovery cycle {max(new.cpu_per_cycle[recovery:]):.2f} s CPU,"
            f" healthy cycle {new.cpu_per_cycle[0]:.2f} s CPU,"
            f" worst step {new.worst_step * 1e3:.0f} ms"
            f" ({new.worst_step_no_gc * 1e3:.0f} ms less GC pauses),"
            f" worst GC pause {new.worst_gc * 1e3:.0f} ms"
            f" (GC {new.gc_total:.2f} s in all), {len(new.decisions)} decisions"
        )
        if args.no_anchor:
            continue
        old = run(lambda: ReferenceEngine(index, min_interval=1.0), signals)
        same = old.decisions == new.decisions
        print(
            f"  anchor (full election): storm cycle {max(old.cpu_per_cycle[1:recovery]):.2f} s,"
            f" recovery cycle {max(old.cpu_per_cycle[recovery:]):.2f} s CPU,"
            f" healthy cycle {old.cpu_per_cycle[0]:.2f} s CPU,"
            f" worst step {old.worst_step * 1e3:.0f} ms, worst GC pause {old.worst_gc * 1e3:.0f} ms"
        )
        ratio = max(old.cpu_per_cycle[recovery:]) / max(max(new.cpu_per_cycle[recovery:]), 1e-9)
        print(f"  ratio anchor/new recovery-cycle CPU: {ratio:.1f}x; decisions identical: {same}")
        if not same:
            raise SystemExit("decisions differ from the full election")


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


if __name__ == "__main__":
    main()
