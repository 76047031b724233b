"""The real daemon during a held 4-metro storm with flapping probes.

    .venv/bin/python -m bench.bench_daemon [--dir DIR] [--cycle 20]
        [--no-anchor | --against REV [--rounds N]]

Starts `outaged run` (SQLite, default `decide.interval_s`, probes off) on the
100k-element / 10^6-subscriber network of bench/gen_topology.py (generated
into DIR, or a temporary directory, unless DIR holds one), and feeds it what
its probers would, through `POST /api/v1/signals` in batches of 500 (up to 8
awaiting their commit at once): every probed element once per `--cycle` real
seconds (the thresholds count probe cycles, not seconds). Cycle 0 is healthy;
from cycle 1 on four metros and everything they cut off fail, held to the end
(cycles 1-4); 1,000 other
elements flap (each probe the opposite of the last). During cycles 3-4, with
the storm held and everything it cut off down:

- report -> outage committed: "down" reports posted one at a time from one
  fresh building (one per community, outside the storm) until the 202 that
  carries its `outage_opened` decision, which the daemon sends only once the
  decision is committed; one building after another;
- `/healthz`: a GET every 50 ms;
- GC pauses: the daemon's `outaged_gc_pause_seconds` histogram scraped before
  and after, and its "slow garbage collection" log lines (every pause over
  50 ms) between the two.

Anchor in the same run (unless --no-anchor): the same load on a 5,000-element
/ 50,000-subscriber network of the same shape; with `--against REV` instead,
the same load on the same 100k network with the daemon of git REV (`git
archive` into a temporary directory), right after this code's run, and the
ratios this/REV (`--rounds N`: N pairs in the order this, REV, REV, this, ...;
the goals on the median of this code's runs, the median of the pairs'
ratios). Each run also reads the daemon's CPU time over the measured window
(/proc/PID/stat), as the machine may be shared. Only 127.0.0.1 is contacted;
every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

import tests.daemon
from bench.bench_http import anchor_token, archive
from bench.gen_topology import generate
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from tests.daemon import Daemon

METROS_DOWN = 4
FLAPPERS = 1000
BATCH = 500
IN_FLIGHT = 8
STORM_CYCLES = 4  # cycles 1-4; measured in 3-4
GOALS = {"report": 0.100, "healthz": 0.020, "gc": 0.050}
SLOW_GC = re.compile(r"slow garbage collection: generation (\d), ([\d.]+) ms")
SLOW_STEP = re.compile(
    r"slow decision step: (\d+) ms \((\d+) signals in (\d+) ms, yielded (\d+) times;"
    r" decisions (\d+) ms; commit (\d+) ms(?:; held the loop (\d+) ms at most)?\)"
)
FROZE = re.compile(r"froze (\d+) (?:objects that survived a full collection|long-lived objects)")


@dataclass
class Plan:
    """What the probers would see, and where the test reports come from."""

    elements: int
    probed: list[str]
    dead: set[str]
    flappers: set[str]
    buildings: list[list[str]]  # subscribers of each fresh building, in order of use


def plan(topology: Path, seed: int = 5) -> Plan:
    index = GraphIndex.build(load_topology(topology))
    elements = index.topology.elements
    rng = random.Random(seed)
    probed = sorted(e.id for e in elements.values() if e.address)
    metros = sorted(e.id for e in elements.values() if e.kind == "metro")
    dead: set[str] = set()
    for metro in metros[:METROS_DOWN]:
        dead.update(index.cut_off(metro))
    healthy = [e for e in probed if e not in dead and elements[e].kind != "metro"]
    flappers = set(rng.sample(healthy, min(FLAPPERS, len(healthy) // 10)))
    subscribers: dict[str, list[str]] = {}
    for sub, element in index.topology.subscribers.items():
        subscribers.setdefault(element, []).append(sub)
    seen_parents: set[tuple[str, ...]] = set()
    buildings: list[list[str]] = []
    for element in sorted(subscribers):  # one building per community, away from it all
        parents = tuple(elements[element].parents)
        if element in dead or element in flappers or parents in seen_parents:
            continue
        if elements[element].kind != "building" or len(subscribers[element]) < 20:
            continue
        if any(p in dead or p in flappers for p in index.dominators(element)):
            continue
        seen_parents.add(parents)
        buildings.append(sorted(subscribers[element]))
    rng.shuffle(buildings)
    return Plan(len(elements), probed, dead, flappers, buildings)


@dataclass
class Result:
    elements: int
    report: list[float] = field(default_factory=list)
    healthz: list[float] = field(default_factory=list)
    gc_buckets: dict[str, float] = field(default_factory=dict)  # le -> pauses in window
    gc_slow: list[float] = field(default_factory=list)  # ms, from the log
    steps: list[tuple[int, int, int]] = field(default_factory=list)  # slow: total, signals, decide
    held: list[int] = field(default_factory=list)  # slow steps' longest hold of the loop, ms
    gc_generations: list[int] = field(default_factory=list)  # of the slow pauses
    froze: list[int] = field(default_factory=list)  # objects each freeze of the freezer took
    seconds: float = 0.0  # the measured window
    sent: int = 0
    behind: float = 0.0  # how late the feed fell behind its schedule, worst
    cpu: float = 0.0  # the daemon's CPU seconds (user + system) in the measured window
    label: str = ""  # which code ran


class Feed:
    def __init__(self, session: aiohttp.ClientSession, daemon: Daemon) -> None:
        self.session, self.daemon = session, daemon
        self.headers = {"Authorization": f"Bearer {daemon.token}"}

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        url = f"{self.daemon.url}{path}"
        async with self.session.post(url, json=body, headers=self.headers) as response:
            return response.status, await response.json(content_type=None)

    async def get(self, path: str) -> str:
        async with self.session.get(f"{self.daemon.url}{path}", headers=self.headers) as r:
            return await r.text()


async def probes(feed: Feed, p: Plan, cycle_s: float, result: Result) -> None:
    """Every probed element once per cycle, spread over it, for 1 + STORM_CYCLES cycles;
    up to IN_FLIGHT batches awaiting their commit at once (probers do not wait at all)."""
    started = time.perf_counter()
    flip: dict[str, bool] = {}
    batches = [p.probed[i : i + BATCH] for i in range(0, len(p.probed), BATCH)]
    slots = asyncio.Semaphore(IN_FLIGHT)
    posts: set[asyncio.Task[None]] = set()

    async def post(signals: list[dict[str, Any]]) -> None:
        try:
            status, body = await feed.post("/api/v1/signals", {"signals": signals})
            assert status == 202, body
            result.sent += len(signals)
        finally:
            slots.release()

    for cycle in range(1 + STORM_CYCLES):
        for n, batch in enumerate(batches):
            due = started + (cycle + n / len(batches)) * cycle_s
            pause = due - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            await slots.acquire()
            result.behind = max(result.behind, time.perf_counter() - due)
            signals = []
            for element in batch:
                ok = not (cycle >= 1 and element in p.dead)
                if cycle >= 1 and element in p.flappers:
                    ok = flip[element] = not flip.get(element, True)
                signals.append({"kind": "probe", "element": element, "ok": ok, "rtt_ms": 1.0})
            task = asyncio.create_task(post(signals))
            posts.add(task)
            task.add_done_callback(posts.discard)
    await asyncio.gather(*posts)


async def healthz(feed: Feed, stop: asyncio.Event, result: Result) -> None:
    while not stop.is_set() and len(result.healthz) < 100_000:
        began = time.perf_counter()
        async with feed.session.get(f"{feed.daemon.url}/healthz") as response:
            assert response.status == 200
            await response.read()
        result.healthz.append(time.perf_counter() - began)
        await asyncio.sleep(max(0.0, 0.05 - (time.perf_counter() - began)))


async def reports(feed: Feed, p: Plan, stop: asyncio.Event, result: Result) -> None:
    """One building after another: down reports one at a time until it opens."""
    for subscribers in p.buildings:
        if stop.is_set():
            return
        for sub in subscribers:
            began = time.perf_counter()
            status, body = await feed.post("/api/v1/reports", {"subscriber": sub, "code": 678})
            elapsed = time.perf_counter() - began
            assert status == 202, body
            if any(d["event"] == "outage_opened" for d in body["decisions"]):
                result.report.append(elapsed)
                break
        else:
            raise RuntimeError(f"no outage opened after {len(subscribers)} reports")
        await asyncio.sleep(0.2)


def gc_histogram(text: str) -> dict[str, float]:
    """le -> cumulative count of pauses, all generations summed."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("outaged_gc_pause_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            found[le] = found.get(le, 0.0) + float(line.rsplit(" ", 1)[1])
    return found


async def drive(daemon: Daemon, p: Plan, cycle_s: float, result: Result) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:
        feed = Feed(session, daemon)
        feeding = asyncio.create_task(probes(feed, p, cycle_s, result))
        await asyncio.sleep(3 * cycle_s)  # healthy cycle, two storm cycles: all down now
        before = gc_histogram(await feed.get("/metrics"))
        offset = len(daemon.log_text())
        stop = asyncio.Event()
        began, cpu = time.perf_counter(), cpu_seconds(daemon)
        polls = asyncio.create_task(healthz(feed, stop, result))
        calls = asyncio.create_task(reports(feed, p, stop, result))
        await feeding  # to the end of the held storm
        result.seconds = time.perf_counter() - began
        result.cpu = cpu_seconds(daemon) - cpu
        stop.set()
        await asyncio.gather(polls, calls)
        after = gc_histogram(await feed.get("/metrics"))
        result.gc_buckets = {le: after[le] - before.get(le, 0.0) for le in after}
        window = daemon.log_text()[offset:]
        result.gc_slow = [float(m.group(2)) for m in SLOW_GC.finditer(window)]
        result.gc_generations = [int(m.group(1)) for m in SLOW_GC.finditer(window)]
        result.froze = [int(m.group(1)) for m in FROZE.finditer(window)]
        slow = list(SLOW_STEP.finditer(window))
        result.steps = [(int(m.group(1)), int(m.group(3)), int(m.group(5))) for m in slow]
        result.held = [int(m.group(7)) for m in slow if m.group(7) is not None]


def cpu_seconds(daemon: Daemon) -> float:
    """The daemon process's user + system CPU time so far (all its threads)."""
    assert daemon.proc is not None
    fields = Path(f"/proc/{daemon.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_one(work: Path, topology: Path, cycle_s: float, code: Path | None = None) -> Result:
    """The storm against this code's daemon, or (`code`) that of another revision."""
    p = plan(topology)
    if code is None:
        daemon = Daemon(work, topology, interval_s=0.05)
    else:  # its token made by its own CLI (this code's schema may be newer)
        daemon = Daemon(work, topology, interval_s=0.05, token="-")
        daemon.env["PYTHONPATH"] = str(code)
        daemon.token = anchor_token(daemon, code)
    result = Result(p.elements)
    try:
        daemon.start()
        asyncio.run(asyncio.wait_for(drive(daemon, p, cycle_s, result), 20 * cycle_s + 300))
    finally:
        if daemon.proc is not None:
            daemon.stop()
    print(
        f"  {p.elements:,} elements: {len(p.dead):,} down, {len(p.flappers):,} flapping, "
        f"{result.sent:,} probe results sent (feed at most {result.behind:.1f} s behind)"
    )
    return result


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


def worst_gc(r: Result) -> tuple[float, str]:
    """The worst pause in the window (s) and how it is known."""
    if r.gc_slow:
        return max(r.gc_slow) / 1e3, "log"
    bounds = sorted((float(le), n) for le, n in r.gc_buckets.items() if le != "+Inf")
    below = [b for b, n in bounds if n >= r.gc_buckets.get("+Inf", 0.0)]
    return (below[0] if below else float("inf")), "histogram bound"


def report(results: list[Result]) -> None:
    ms = 1000.0
    print("Daemon under a held 4-metro storm with flapping probes (ms)")
    rows = []
    for r in results:
        gc_s, how = worst_gc(r)
        pauses = r.gc_buckets.get("+Inf", 0.0)
        rows.append((r, gc_s))
        print(
            f"  {r.label} {r.elements:>7,} elements: report->outage committed n={len(r.report)} "
            f"p50 {pct(r.report, 50) * ms:.1f} p99 {pct(r.report, 99) * ms:.1f} "
            f"max {max(r.report, default=0) * ms:.1f}; /healthz n={len(r.healthz)} "
            f"p50 {pct(r.healthz, 50) * ms:.1f} p99 {pct(r.healthz, 99) * ms:.1f} "
            f"max {max(r.healthz, default=0) * ms:.1f}; GC: {pauses:.0f} pauses, worst "
            f"{'<= ' if how != 'log' else ''}{gc_s * ms:.0f} ({how}), "
            f"{len(r.gc_slow)} over 50; daemon CPU {r.cpu:.1f} s in {r.seconds:.0f} s"
        )
        if r.steps:
            busy = sum(t for t, _, _ in r.steps) / 1e3
            print(
                f"    why: {len(r.steps)} decision steps over the budget in "
                f"{r.seconds:.0f} s, {busy:.1f} s of loop time ({busy / r.seconds:.0%}); "
                f"worst {max(t for t, _, _ in r.steps)} ms; in them the election "
                f"(ledger.decide) took {sum(d for _, _, d in r.steps) / 1e3:.1f} s, "
                f"taking in signals {sum(s for _, s, _ in r.steps) / 1e3:.1f} s"
                + (f"; longest hold of the loop {max(r.held)} ms" if r.held else "")
            )
        print(
            f"    GC: slow pauses by generation {sorted(r.gc_generations)}, "
            f"{len(r.froze)} freezes in the window ({', '.join(f'{n:,}' for n in r.froze)} objects)"
        )
    big = rows[0][0].elements
    mine = [(r, gc_s) for r, gc_s in rows if r.label == "this" and r.elements == big]
    figures = {
        "report": statistics.median(pct(r.report, 99) for r, _ in mine),
        "healthz": statistics.median(pct(r.healthz, 99) for r, _ in mine),
        "gc": statistics.median(gc_s for _, gc_s in mine),
    }
    goals = ", ".join(
        f"{name} {'met' if figures[name] <= goal else 'NOT met'} "
        f"({figures[name] * ms:.0f} vs {goal * ms:.0f})"
        for name, goal in GOALS.items()
    )
    runs = f"median of {len(mine)} runs" if len(mine) > 1 else "this code"
    print(f"  goals on the {big:,}-element network ({runs}): {goals}")
    others = [row for row in rows if row not in mine]
    if not others:
        return
    ratios: dict[str, list[float]] = {}
    for (one, one_gc), (other, other_gc) in zip(mine, others, strict=False):
        for name, a, b in (
            ("report p99", pct(one.report, 99), pct(other.report, 99)),
            ("/healthz p99", pct(one.healthz, 99), pct(other.healthz, 99)),
            ("/healthz max", max(one.healthz, default=0.0), max(other.healthz, default=0.0)),
            ("worst GC pause", one_gc, other_gc),
            ("daemon CPU", one.cpu, other.cpu),
        ):
            ratios.setdefault(name, []).append(a / b if b > 0 else float("nan"))
    other = others[0][0]
    pairs = f"median of {len(mine)} pairs" if len(mine) > 1 else "one pair"
    print(
        f"  ratio this / {other.label} {other.elements:,} ({pairs}): "
        + ", ".join(f"{name} {statistics.median(r):.2f}" for name, r in ratios.items())
    )


def network(directory: Path, elements: int, subscribers: int) -> Path:
    found = directory / "topology.yaml"
    if not found.exists():
        generate(directory, elements, subscribers)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="where the 100k network is (or is generated)")
    parser.add_argument("--cycle", type=float, default=20.0, help="probe cycle, real seconds")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--no-anchor", action="store_true")
    which.add_argument("--against", metavar="REV", help="the anchor: git REV's daemon, 100k")
    parser.add_argument(
        "--rounds", type=int, default=1, help="with --against: pairs of runs, in ABBA order"
    )
    args = parser.parse_args()
    tests.daemon.START_TIMEOUT_S = 300.0  # the 100k network loads in tens of seconds
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        work = Path(tmp)
        big = network(args.dir or work / "net-100k", 100_000, 1_000_000)
        runs: list[tuple[str, Path, Path | None]] = [("this", big, None)]
        if args.against:
            anchor = (args.against, big, archive(args.against, work / "anchor-code"))
            runs = []
            for n in range(args.rounds):  # this, REV, REV, this, ...: drift cancels out
                pair = [("this", big, None), anchor]
                runs += pair if n % 2 == 0 else pair[::-1]
        elif not args.no_anchor:
            runs.append(("this", network(work / "net-5k", 5_000, 50_000), None))
        results = []
        for n, (label, topology, code) in enumerate(runs):
            (work / f"run-{n}").mkdir()
            result = run_one(work / f"run-{n}", topology, args.cycle, code)
            result.label = label
            results.append(result)
    report(results)


if __name__ == "__main__":
    main()
