"""Memory and disk over a long simulated run, with and without retention.

    .venv/bin/python -m bench.bench_retention [--reports 1000000] [--days 100]

Each variant runs in a child process of its own (clean RSS): the daemon (`App`:
SQLite store, decision loop, pruner) on a city of 1,600 buildings / 80,000
subscribers, on a simulated clock, fed through the decision loop directly
(`Pipeline.ingest` / `act`, what the HTTP routes call, without HTTP): background
reports in batches of 500, each batch with an Idempotency-Key, and every day a
few report bursts, each opening an outage that is worked to `closed`. With
retention the pruner's pass runs as a task at each simulated midnight while the
next day's reports keep arriving. The anchor is the same run with
`retention.enabled: false` (the code before retention: nothing pruned, nothing
let go). At the end the anchor also runs one pruning pass over its whole
backlog while reports keep arriving, to show the decision loop is not stalled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from outaged.app import App
from outaged.config import (
    ApiConfig,
    Config,
    DecideConfig,
    IcmpConfig,
    ProbesConfig,
    RetentionConfig,
)
from outaged.outages.lifecycle import Action
from outaged.pipeline import IdemKey, Ingested
from outaged.records.actions import ActionRequest
from outaged.signals import Category, Report, Signal
from outaged.store.retention import Pruner
from tests.citygen import write_city

DAY = 86400.0
MIN = 60.0
T0 = 1_790_000_000.0
BATCH = 500
OUTAGES_PER_DAY = 6
SAMPLES = 10


class SimClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def db_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


class Child:
    def __init__(self, city: Path, state: Path, retention: bool, reports: int, days: int):
        self.clock = SimClock(T0)
        self.config = Config(
            topology=city,
            state_dir=state,
            api=ApiConfig(port=0),
            decide=DecideConfig(interval_s=0.001),
            probes=ProbesConfig(icmp=IcmpConfig(enabled=False)),
            retention=RetentionConfig(enabled=retention, every_s=1e9),  # passes run below
        )
        self.retention = retention
        self.reports, self.days = reports, days
        self.rng = random.Random(11)
        self.latencies: list[float] = []
        self.keys = 0
        self.opened = 0

    async def ingest(self, reports: list[Signal], ids: list[str | None]) -> Ingested:
        self.keys += 1
        idem = IdemKey(f"k-{self.keys}", f"sha-{self.keys}")
        started = time.perf_counter()
        outcome = await self.app.pipeline.ingest(reports, ids, "bench", idem)
        self.latencies.append(time.perf_counter() - started)
        assert isinstance(outcome, Ingested)
        return outcome

    async def act(self, oid: int, action: Action, **fields: str) -> None:
        self.clock.now += 5 * MIN
        await self.app.pipeline.act(oid, ActionRequest(action, fields), "bench")

    async def story(self, building: str, n: int) -> None:
        at = self.clock.now
        burst: list[Signal] = [
            Report(at - (10 - i) * 30, building, Category.DOWN, f"{building}-{i:03d}")
            for i in range(10)
        ]
        outcome = await self.ingest(burst, [f"F-{n}-{i}" for i in range(10)])
        opened = [d.outage.id for d in outcome.decisions if d.event.value == "outage_opened"]
        if not opened:
            return
        self.opened += 1
        oid = opened[0]
        for action in (Action.ACK, Action.ARRIVE):
            await self.act(oid, action)
        await self.act(oid, Action.DIAGNOSE, cause="power")
        await self.act(oid, Action.RESTORE)
        self.clock.now += 40 * MIN  # quiet: the spike clears
        await self.ingest([], [])
        for action in (Action.VERIFY, Action.CALLBACK_DONE):
            await self.act(oid, action)
        await self.act(oid, Action.CLOSE, method="m", result="r", prevention="p")

    def sample(self, sent: int, day: int) -> dict[str, Any]:
        pipeline = self.app.pipeline
        return {
            "reports": sent,
            "day": day,
            "rss": rss_bytes(),
            "db": db_bytes(self.config.db_path),
            "held_outages": len(pipeline.engine.outages),
            "held_records": len(pipeline.ledger.records),
            "opened": self.opened,
        }

    async def run(self) -> dict[str, Any]:
        self.app = App(self.config, clock=self.clock)
        await self.app.start()
        index = self.app.pipeline.engine.index
        subscribers = sorted(index.topology.subscribers)
        elements = index.topology.subscribers
        buildings = sorted({e for e in elements.values() if e.endswith("-b4")})
        per_day = self.reports // self.days
        batches = max(1, per_day // BATCH)
        every = max(1, self.reports // SAMPLES)
        samples: list[dict[str, Any]] = []
        sent, n, started = 0, 0, time.perf_counter()
        prune: asyncio.Task[Any] | None = None
        for day in range(self.days):
            start = T0 + day * DAY
            stories = {int(batches * (k + 0.5) / OUTAGES_PER_DAY) for k in range(OUTAGES_PER_DAY)}
            for b in range(batches):
                self.clock.now = start + b * DAY / batches + MIN
                subs = [self.rng.choice(subscribers) for _ in range(BATCH)]
                reports: list[Signal] = [
                    Report(self.clock.now - i * 0.5, elements[s], Category.WEBSITE, s)
                    for i, s in enumerate(subs)
                ]
                await self.ingest(reports, [f"BG-{sent + i}" for i in range(BATCH)])
                before, sent = sent, sent + BATCH
                if sent // every != before // every:
                    samples.append(self.sample(sent, day))
                if b in stories:
                    await self.story(buildings[n % len(buildings)], n)
                    n += 1
            if self.app.pruner is not None:  # midnight: a pass while the next day arrives
                if prune is not None:
                    await prune
                prune = asyncio.create_task(self.app.pruner.prune(start + DAY))
        if prune is not None:
            await prune
        wall = time.perf_counter() - started
        result: dict[str, Any] = {
            "retention": self.retention,
            "samples": samples,
            "wall_s": wall,
            "latency_ms": _latency(self.latencies),
        }
        if not self.retention:
            result["backlog"] = await self.backlog_pass(subscribers, elements)
        await self.app.stop()
        return result

    async def backlog_pass(
        self, subscribers: list[str], elements: dict[str, str]
    ) -> dict[str, Any]:
        """One default pass over everything kept so far, reports arriving meanwhile."""
        policy = RetentionConfig()
        clock = self.clock

        async def trickle() -> None:  # steady reports, ~100 calls/s at most
            clock.now += 1.0
            subs = [self.rng.choice(subscribers) for _ in range(50)]
            reports: list[Signal] = [
                Report(clock.now, elements[s], Category.WEBSITE, s) for s in subs
            ]
            await self.ingest(reports, [None] * len(reports))
            await asyncio.sleep(0.01)

        self.latencies = []
        quiet_until = time.perf_counter() + 10.0  # the same trickle with no pass: the anchor
        while time.perf_counter() < quiet_until:
            await trickle()
        quiet = _latency(self.latencies)
        pruner = Pruner(self.app.store, policy, lookback_s=1800.0, clock=clock)
        self.latencies = []
        started = time.perf_counter()
        task = asyncio.create_task(pruner.prune(clock.now))
        while not task.done():
            await trickle()
        pruned = task.result()
        return {
            "signals": pruned.signals,
            "idempotency": pruned.idempotency,
            "batches": pruned.batches,
            "seconds": time.perf_counter() - started,
            "latency_ms": _latency(self.latencies),
            "quiet_latency_ms": quiet,
        }


def _latency(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50": float(statistics.median(ordered)) * 1000,
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "max": ordered[-1] * 1000,
    }


def child_main(args: argparse.Namespace) -> None:
    state = Path(tempfile.mkdtemp(prefix="bench-retention-"))
    child = Child(Path(args.city), state, args.child == "on", args.reports, args.days)
    print(json.dumps(asyncio.run(child.run())))


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def report(results: dict[str, dict[str, Any]], reports: int, days: int) -> None:
    print(f"\n{reports:,} reports over {days} simulated days; {BATCH} per batch\n")
    rows: list[tuple[str, str, str]] = []
    on, off = results["on"], results["off"]

    def both(label: str, f: Any) -> None:
        rows.append((label, f(off), f(on)))

    both("outages opened and closed", lambda r: f"{r['samples'][-1]['opened']:,}")
    both("outages held in memory at the end", lambda r: str(r["samples"][-1]["held_outages"]))
    both("RSS after the first 10 %", lambda r: _mb(r["samples"][0]["rss"]))
    both("RSS at the end", lambda r: _mb(r["samples"][-1]["rss"]))
    both("RSS growth per million reports", lambda r: _mb(_per_million(r, "rss")))
    both("database after the first 10 %", lambda r: _mb(r["samples"][0]["db"]))
    both("database at the end (with WAL)", lambda r: _mb(r["samples"][-1]["db"]))
    both("database growth per million reports", lambda r: _mb(_per_million(r, "db")))
    both("wall time", lambda r: f"{r['wall_s']:.0f} s")
    both(
        "decision step (ingest call) p50 / p99 / max",
        lambda r: "{p50:.1f} / {p99:.1f} / {max:.0f} ms".format(**r["latency_ms"]),
    )
    width = max(len(r[0]) for r in rows)
    print(f"| {'':{width}} | without retention (anchor) | with retention |")
    print(f"|{'-' * (width + 2)}|---|---|")
    for label, a, b in rows:
        print(f"| {label:{width}} | {a} | {b} |")
    backlog = off["backlog"]
    lat, quiet = backlog["latency_ms"], backlog["quiet_latency_ms"]
    print(
        f"\nOne default pass over the anchor's backlog: {backlog['signals']:,} signals and "
        f"{backlog['idempotency']:,} keys in {backlog['batches']} batches, "
        f"{backlog['seconds']:.1f} s. Ingest calls of 50 reports meanwhile "
        f"p50 {lat['p50']:.1f} / p99 {lat['p99']:.1f} / max {lat['max']:.0f} ms (n={lat['n']}); "
        f"the same calls for 10 s before the pass (anchor) p50 {quiet['p50']:.1f} / "
        f"p99 {quiet['p99']:.1f} / max {quiet['max']:.0f} ms (n={quiet['n']}); "
        f"p99 ratio {lat['p99'] / quiet['p99']:.2f}"
    )
    growth_on = _per_million(on, "db")
    growth_off = _per_million(off, "db")
    print(f"ratio database growth with / without retention: {growth_on / growth_off:.3f}")


def _per_million(result: dict[str, Any], key: str) -> float:
    """Growth over the last half of the run, scaled to a million reports."""
    samples = result["samples"]
    mid, last = samples[len(samples) // 2 - 1], samples[-1]
    grown: float = last[key] - mid[key]
    reports: float = last["reports"] - mid["reports"]
    return grown * 1e6 / reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    parser.add_argument("--city", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    city = write_city(Path(tempfile.mkdtemp(prefix="bench-city-")), metros=10, communities=40)
    results: dict[str, dict[str, Any]] = {}
    for variant in ("off", "on"):
        command = [sys.executable, "-m", "bench.bench_retention", "--child", variant]
        command += ["--city", str(city), "--reports", str(args.reports), "--days", str(args.days)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results[variant] = json.loads(done.stdout.splitlines()[-1])
        print(f"{variant}: {json.dumps(results[variant]['samples'][-1])}", file=sys.stderr)
    report(results, args.reports, args.days)


if __name__ == "__main__":
    main()
