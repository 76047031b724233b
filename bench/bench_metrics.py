"""What the Prometheus metrics cost: a /metrics scrape at city size, and the decision loop.

    .venv/bin/python -m bench.bench_metrics [--dir DIR] [--cycles 3] [--scrapes 20]

1. Scrape: the 100k-element / 10^6-subscriber network (bench/gen_topology.py),
   1,000 open outages (manual faults on buildings of 1,000 communities), every
   element probed once; the daemon's registry (event families + the live
   collector) rendered with prometheus_client's `generate_latest`, as GET /metrics
   does. Anchor in the same run: one pass over the elements counting them by
   kind and area (the least any state gauge must do).
2. Decision loop: the storm of bench_core (probe cycles, background reports, two
   metros failing) through engine + ledger in one-second steps, as the pipeline
   runs them (ingest, decide, drain), with the metrics recorder fed after each
   step versus the same run without it (the anchor). Runs alternate A/B/A/B and
   the best of each is kept. The store's commit is left out of both, so the
   ratio is an upper bound on what metrics add to a real step.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from itertools import groupby
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from bench.bench_core import T0, build_storm
from bench.gen_topology import generate
from outaged.metrics.families import Metrics
from outaged.metrics.live import Live, View
from outaged.metrics.observe import NoObserver, Recorder, StepObserver
from outaged.outages.engine import Engine
from outaged.records.ledger import Ledger
from outaged.signals import ManualFault, ProbeResult, Signal
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from outaged.topology.model import Kind

OUTAGES = 1000


def metrics_for(ledger: Ledger, now: float) -> tuple[CollectorRegistry, Recorder]:
    registry = CollectorRegistry()
    topology = ledger.index.topology
    metrics = Metrics(registry, topology.areas, ["log", "email", "webhook"])
    recorder = Recorder(metrics, lambda: ledger)
    view = View(lambda: ledger, lambda: now, lambda: (0, None), lambda: None)
    registry.register(Live(view))
    return registry, recorder


def with_outages(index: GraphIndex, count: int) -> tuple[Ledger, float]:
    """Every element probed up once, then manual faults on `count` buildings."""
    elements = index.topology.elements
    engine = Engine(index)
    ledger = Ledger(engine)
    now = T0
    for element in elements.values():
        if element.address:
            engine.ingest(ProbeResult(now, element.id, True, 1.0))
    picked: dict[str, str] = {}  # community -> one building right under it
    for element in elements.values():
        parent = elements.get(element.parents[0]) if element.parents else None
        if element.kind is Kind.BUILDING and parent is not None and parent.kind is Kind.COMMUNITY:
            picked.setdefault(parent.id, element.id)
        if len(picked) == count:
            break
    now += 60
    for building in picked.values():
        engine.ingest(ManualFault(now, building, note="bench"))
    ledger.decide(now)
    ledger.drain()
    return ledger, now + 3600  # an hour on: deadlines pending and overdue


def scrape(index: GraphIndex, scrapes: int) -> None:
    ledger, now = with_outages(index, OUTAGES)
    active = sum(1 for r in ledger.records.values() if r.active)
    registry, _ = metrics_for(ledger, now)
    times = []
    body = b""
    for _ in range(scrapes):
        begin = time.perf_counter()
        body = generate_latest(registry)
        times.append(time.perf_counter() - begin)
    anchors = []
    for _ in range(scrapes):
        begin = time.perf_counter()
        Counter((e.kind, e.area) for e in index.topology.elements.values())
        anchors.append(time.perf_counter() - begin)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    best, median = min(times), sorted(times)[len(times) // 2]
    anchor = sorted(anchors)[len(anchors) // 2]
    print(f"scrape: {len(index.topology.elements):,} elements, {active:,} open outages")
    print(f"  /metrics: {len(body) / 1024:,.0f} KiB, {series:,} series")
    print(f"  render: median {median * 1e3:.1f} ms, best {best * 1e3:.1f} ms ({scrapes} scrapes)")
    print(f"  anchor, count elements by kind and area: median {anchor * 1e3:.1f} ms")
    print(f"  ratio scrape / anchor: {median / anchor:.1f}")


def steps(signals: list[Signal]) -> list[tuple[float, list[Signal]]]:
    return [(second + 1.0, list(group)) for second, group in groupby(signals, lambda s: s.at // 1)]


def decide_loop(
    index: GraphIndex, grouped: list[tuple[float, list[Signal]]], metrics: bool
) -> tuple[float, float]:
    """Loop time, and the part of it spent in the metrics recorder."""
    engine = Engine(index, min_interval=1.0)
    ledger = Ledger(engine)
    observer: StepObserver = metrics_for(ledger, T0)[1] if metrics else NoObserver()
    perf = time.perf_counter
    inside = 0.0
    begin = perf()
    for second, group in grouped:
        started = perf()
        for signal in group:
            engine.ingest(signal)
        ledger.decide(second)
        changes = ledger.drain()
        fed = perf()
        observer.committed(changes, group, (), second, fed - started)
        inside += perf() - fed
    return perf() - begin, inside


def loop(index: GraphIndex, cycles: int) -> None:
    signals = build_storm(index, cycles)
    grouped = steps(signals)
    plain, fed, inside = [], [], []
    for _ in range(2):
        plain.append(decide_loop(index, grouped, metrics=False)[0])
        total, spent = decide_loop(index, grouped, metrics=True)
        fed.append(total)
        inside.append(spent / total)
    a, b = min(plain), min(fed)
    print(f"decision loop: {len(signals):,} signals in {len(grouped):,} one-second steps")
    print(f"  without metrics (anchor): {a:.2f} s   runs {', '.join(f'{t:.2f}' for t in plain)}")
    print(f"  with metrics:             {b:.2f} s   runs {', '.join(f'{t:.2f}' for t in fed)}")
    print(f"  ratio with / without: {b / a:.3f} (overhead {100 * (b / a - 1):+.1f} %)")
    shares = ", ".join(f"{100 * x:.2f} %" for x in inside)
    print(f"  time inside the metric updates, share of the loop: {shares}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, help="reuse a generated topology directory")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        outdir = args.dir or Path(tmp)
        yaml_path = outdir / "topology.yaml"
        if not yaml_path.exists():
            generate(outdir, 100_000, 1_000_000)
        index = GraphIndex.build(load_topology(yaml_path))
    scrape(index, args.scrapes)
    loop(index, args.cycles)


if __name__ == "__main__":
    main()
