"""Correlation + classification throughput on a replayed storm (100k elements, 10^6 subscribers).

    .venv/bin/python -m bench.bench_core [--dir DIR] [--cycles 5]

Builds the signal stream in memory: every probed element is probed once per
60 s cycle (jittered), a background of single reports, and from the second
cycle a storm: two metro nodes go down (everything below them fails) and their
subscribers call in. Each signal is timed through `Engine.ingest` plus the
`evaluate` that follows when simulated time moves on, exactly as `replay` does.
Anchor in the same run: `json.loads` + `parse_signal` of the same signals as
JSONL lines (what replay pays before the core sees a signal).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from bench.gen_topology import generate
from outaged.intake import parse_signal
from outaged.outages.engine import Engine
from outaged.outages.model import iso
from outaged.signals import Category, ProbeResult, Report, Signal
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology

T0 = 1_795_000_000.0


def build_storm(index: GraphIndex, cycles: int, seed: int = 3) -> list[Signal]:
    rng = random.Random(seed)
    elements = index.topology.elements
    probed = [e.id for e in elements.values() if e.address]
    offset = {e: rng.uniform(0, 60) for e in probed}
    metros = sorted(e.id for e in elements.values() if e.kind == "metro")[:2]
    dead: set[str] = set()
    for metro in metros:
        dead.update(index.cut_off(metro))
    subs_by_element: dict[str, list[str]] = {}
    for sub, element in index.topology.subscribers.items():
        if element in dead:
            subs_by_element.setdefault(element, []).append(sub)
    all_subs = list(index.topology.subscribers)
    signals: list[Signal] = []
    for cycle in range(cycles):
        start = T0 + cycle * 60
        storm = cycle >= 1
        for element in probed:
            ok = not (storm and element in dead)
            signals.append(ProbeResult(start + offset[element], element, ok, 1.0 if ok else None))
        for _ in range(10):  # background single reports
            sub = rng.choice(all_subs)
            signals.append(
                Report(
                    start + rng.uniform(0, 60), index.topology.subscribers[sub], Category.DOWN, sub
                )
            )
        if storm:
            for element, subs in subs_by_element.items():
                for sub in rng.sample(subs, max(1, len(subs) // 10)):
                    signals.append(Report(start + rng.uniform(0, 60), element, Category.DOWN, sub))
    signals.sort(key=lambda s: s.at)
    return signals


def run_engine(
    index: GraphIndex, signals: list[Signal], interval: float
) -> tuple[list[float], int, float]:
    engine = Engine(index, min_interval=interval)
    timings: list[float] = []
    decisions = 0
    now: float | None = None
    perf = time.perf_counter
    begin = perf()
    for signal in signals:
        t = perf()
        if now is not None and signal.at > now:
            decisions += len(engine.evaluate(now))
        now = signal.at
        engine.ingest(signal)
        timings.append(perf() - t)
    if now is not None:
        decisions += len(engine.evaluate(now))
    return timings, decisions, perf() - begin


def to_line(signal: Signal) -> str:
    if isinstance(signal, ProbeResult):
        obj = {"kind": "probe", "element": signal.element, "ok": signal.ok, "rtt_ms": signal.rtt_ms}
    else:
        assert isinstance(signal, Report)
        obj = {"kind": "report", "element": signal.element, "category": signal.category.value}
    return json.dumps({"at": iso(signal.at), **obj})


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, help="reuse a generated topology directory")
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument(
        "--interval", type=float, default=1.0, help="Engine min_interval (simulated seconds)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        outdir = args.dir or Path(tmp)
        yaml_path = outdir / "topology.yaml"
        if not yaml_path.exists():
            generate(outdir, 100_000, 1_000_000)
        index = GraphIndex.build(load_topology(yaml_path))
        signals = build_storm(index, args.cycles)
        timings, decisions, total = run_engine(index, signals, args.interval)

        lines = [to_line(s) for s in signals]
        begin = time.perf_counter()
        for line in lines:
            parse_signal(json.loads(line), index.topology)
        anchor = time.perf_counter() - begin

    n = len(signals)
    rate = n / total
    print(
        f"signals: {n:,} ({args.cycles} probe cycles, storm from cycle 2),"
        f" decisions: {decisions}, election interval {args.interval} s"
    )
    print(f"core: {total:.2f} s, {rate:,.0f} signals/s")
    print(
        f"per signal: p50 {pct(timings, 0.5) * 1e6:.1f} us, p99 {pct(timings, 0.99) * 1e6:.1f} us,"
        f" max {max(timings) * 1e3:.1f} ms"
    )
    print(f"anchor json.loads+parse_signal: {anchor:.2f} s, {n / anchor:,.0f} lines/s")
    print(f"ratio core/anchor time: {total / anchor:.2f}")


if __name__ == "__main__":
    main()
