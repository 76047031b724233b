"""What a failed decision step costs: rebuilding memory from the store (100k elements).

    .venv/bin/python -m bench.bench_rebuild [--dir DIR] [--cycles 5] [--chunk 5000]

A failed step throws away the engine and ledger and rebuilds them from the store
as a restart does (`outaged.recovery.recover` on the topology index already in
memory). This bench runs the storm of bench_core (every probed element probed
once per 60 s cycle, two metro nodes down from cycle 2 and their subscribers
calling) through the real decision loop (`Pipeline`, SQLite store, commits;
the outbox composes nothing) in steps of `--chunk` signals, then at the height
of the storm measures:

- the rebuild alone (median of 3), and what it re-read;
- one step holding a report SQLite refuses (a trigger) beside an innocent one:
  from queueing both to both answered (the failed step, its rebuild, each alone);
- anchors in the same run: the median storm step (`--chunk` signals decided and
  committed) and a full restart's extra work (topology load + GraphIndex.build).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterable, Mapping
from contextlib import closing
from pathlib import Path

from bench.bench_core import T0, build_storm
from bench.gen_topology import generate
from outaged.notify.base import Message, Notice
from outaged.pipeline import Ingested, Pipeline
from outaged.recovery import recover
from outaged.signals import Category, Report, Signal
from outaged.store.sqlite import SqliteStore
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from outaged.topology.model import Person


class SimClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class NoOutbox:
    def compose(self, notice: Notice, people: Mapping[str, Person]) -> list[Message]:
        return []

    def add(self, messages: Iterable[Message]) -> None:
        pass

    def withdrawn(self, window: str) -> list[Message]:
        return []

    def drop(self, ids: Iterable[str]) -> None:
        pass


async def run(index: GraphIndex, db: Path, cycles: int, chunk: int) -> dict[str, float]:
    store = SqliteStore(db)
    await store.open()
    clock = SimClock()
    done = await recover(store, index, clock())
    pipeline = Pipeline(
        done.ledger, store, NoOutbox(), next_signal_seq=done.next_signal_seq, clock=clock
    )
    loop = asyncio.create_task(pipeline.run())
    signals = build_storm(index, cycles)
    steps: list[float] = []
    for start in range(0, len(signals), chunk):
        part = signals[start : start + chunk]
        clock.now = part[-1].at
        began = time.perf_counter()
        await pipeline.ingest(part, [None] * len(part), "bench")
        steps.append(time.perf_counter() - began)
    rebuilds: list[float] = []
    for _ in range(3):
        began = time.perf_counter()
        found = await recover(store, index, clock(), pipeline.lookback_s)
        rebuilds.append(time.perf_counter() - began)
    figures = {
        "signals": float(len(signals)),
        "steps": float(len(steps)),
        "step_median_s": statistics.median(steps[len(steps) // 3 :]),  # the storm's steps
        "rebuild_median_s": statistics.median(rebuilds),
        "rebuild_outages": float(found.outages),
        "rebuild_signals": float(found.stored_signals),
    }
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON signals WHEN NEW.ext_id = 'T-bad' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    sub, element = next(iter(index.topology.subscribers.items()))
    bad: list[Signal] = [Report(clock(), element, Category.DOWN, sub)]
    good: list[Signal] = [Report(clock(), element, Category.DOWN, sub)]
    before = pipeline.rebuilds
    began = time.perf_counter()
    answers = await asyncio.gather(
        pipeline.ingest(bad, ["T-bad"], "bench"),
        pipeline.ingest(good, ["T-good"], "bench"),
        return_exceptions=True,
    )
    figures["bad_beside_good_s"] = time.perf_counter() - began
    figures["bad_beside_good_rebuilds"] = float(pipeline.rebuilds - before)
    assert isinstance(answers[1], Ingested), answers
    pipeline.stop()
    await loop
    await store.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, help="reuse a generated topology directory")
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        outdir = args.dir or Path(tmp)
        yaml_path = outdir / "topology.yaml"
        if not yaml_path.exists():
            generate(outdir, 100_000, 1_000_000)
        began = time.perf_counter()
        index = GraphIndex.build(load_topology(yaml_path))
        restart_extra = time.perf_counter() - began
        figures = asyncio.run(run(index, Path(tmp) / "outaged.db", args.cycles, args.chunk))
    step, rebuild = figures["step_median_s"], figures["rebuild_median_s"]
    print(
        f"signals through the decision loop   {figures['signals']:,.0f} "
        f"in {figures['steps']:.0f} steps"
    )
    print(f"storm step ({args.chunk} signals)         median {step * 1000:.0f} ms   (anchor)")
    print(
        f"rebuild from the store              median {rebuild * 1000:.0f} ms   "
        f"({figures['rebuild_outages']:.0f} outages, {figures['rebuild_signals']:,.0f} "
        "signals re-ingested)"
    )
    print(f"ratio rebuild / storm step          {rebuild / step:.2f}")
    print(
        f"restart's extra work                {restart_extra:.1f} s (topology load + index build)"
    )
    print(f"ratio rebuild / restart extra       {rebuild / restart_extra:.3f}")
    print(
        f"bad report beside an innocent one   {figures['bad_beside_good_s'] * 1000:.0f} ms "
        f"to both answered ({figures['bad_beside_good_rebuilds']:.0f} rebuilds)"
    )


if __name__ == "__main__":
    main()
