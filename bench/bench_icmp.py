"""ICMP echo to 10,000 hosts: outaged's engine, fping (the anchor) and
icmplib.async_multiping, in one run.

    .venv/bin/python -m bench.bench_icmp      (root; about 15 s)

Alive: 10,000 loopback addresses (127.77.0.1...), one echo request each, 1 s
timeout; median of 5 runs per client, and the most descriptors open at once.
Dead: 10,000 addresses that never answer, inside network namespaces this bench
creates (a veth to a peer that does not forward), 1 s timeout.
Goals (issue "Probes"): alive <= 1.5x fping with descriptors independent of N;
dead <= 1.2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from icmplib import async_multiping

from outaged.probes.icmp import IcmpEngine, PingResult
from outaged.probes.schedule import ProbePlan, ScheduleConfig, Scheduler
from outaged.signals import ProbeResult, Signal
from outaged.topology.model import Element, Kind, Topology
from tests.netns import Namespaces

N = 10_000
RUNS = 5
TIMEOUT_S = 1.0
RATE_PPS = 1e6  # uncapped in effect, like fping -i0
ELEMENTS = 100_000  # scheduler: the scale
SCHEDULE_S = 12.0  # a fifth of the 60 s cycle, at the full rate
ROOT = Path(__file__).resolve().parent.parent


def loopback(n: int) -> list[str]:
    return [f"127.77.{i // 250}.{i % 250 + 1}" for i in range(n)]


def dead(n: int) -> list[str]:
    return [f"198.19.{i // 250}.{i % 250 + 1}" for i in range(n)]


def open_fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def fds_used(run: Callable[[list[str]], Awaitable[int]], addresses: list[str]) -> int:
    """Most descriptors the client holds at once, above what the running loop holds."""
    base = peak = open_fds()
    running = True

    async def sample() -> None:
        nonlocal peak
        while running:
            peak = max(peak, open_fds())
            await asyncio.sleep(0.0005)

    sampler = asyncio.create_task(sample())
    await asyncio.sleep(0)
    await run(addresses)
    running = False
    await sampler
    return peak - base


async def outaged(addresses: list[str], count: int = 1) -> int:
    async with IcmpEngine(rate_pps=RATE_PPS) as engine:
        results = await engine.ping_many(addresses, count=count, interval=0.01, timeout=TIMEOUT_S)
    return sum(r.ok for r in results.values())


async def icmplib_multiping(addresses: list[str]) -> int:
    hosts = await async_multiping(addresses, count=1, interval=0, timeout=TIMEOUT_S)
    return sum(h.is_alive for h in hosts)


def fping(addresses: list[str], *, fds: bool = False) -> tuple[float, int, int]:
    """(seconds, hosts alive, descriptors beyond stdio) of one fping -C1 -q -i0 run."""
    with tempfile.TemporaryDirectory() as tmp:
        targets, report = Path(tmp, "targets"), Path(tmp, "report")
        targets.write_text("\n".join(addresses))
        argv = [
            "fping",
            "-C1",
            "-q",
            "-i0",
            "-r0",
            f"-t{int(TIMEOUT_S * 1000)}",
            "-f",
            str(targets),
        ]
        with report.open("w") as out:
            started = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=out)
            peak = 0
            while fds and proc.poll() is None:
                with contextlib.suppress(OSError):  # it may end between poll and listdir
                    peak = max(peak, open_fds(proc.pid) - 3)
            proc.wait(timeout=60)
            elapsed = time.perf_counter() - started
        lines = report.read_text().splitlines()
    alive = sum(1 for line in lines if line.split(":")[-1].strip() != "-")
    return elapsed, alive, peak


def timed(run: Callable[[list[str]], Awaitable[int]], addresses: list[str]) -> tuple[float, int]:
    async def main() -> int:
        return await run(addresses)

    started = time.perf_counter()
    alive = asyncio.run(main())
    return time.perf_counter() - started, alive


def bench_alive() -> None:
    addresses = loopback(N)
    times: dict[str, list[float]] = {"fping": [], "outaged": [], "icmplib": []}
    alive: dict[str, int] = {}
    for _ in range(RUNS):  # interleaved, so drift in the machine's load hits all alike
        seconds, alive["fping"], _ = fping(addresses)
        times["fping"].append(seconds)
        seconds, alive["outaged"] = timed(outaged, addresses)
        times["outaged"].append(seconds)
        seconds, alive["icmplib"] = timed(icmplib_multiping, addresses)
        times["icmplib"].append(seconds)
    fds = {"fping": fping(addresses, fds=True)[2]}
    for name, run in (("outaged", outaged), ("icmplib", icmplib_multiping)):
        fds[name] = asyncio.run(fds_used(run, addresses))
    # Two requests 10 ms apart, so that even 100 hosts are in flight when sampled.
    paced = functools.partial(outaged, count=2)
    fds_by_n = {n: asyncio.run(fds_used(paced, addresses[:n])) for n in (100, N)}
    anchor = statistics.median(times["fping"])
    print(f"alive: {N} loopback hosts, 1 echo each; median of {RUNS} runs")
    print(f"{'client':<24}{'median s':>9}{'best s':>9}{'x fping':>9}{'alive':>7}{'fds':>6}")
    for name in times:
        median = statistics.median(times[name])
        print(
            f"{name:<24}{median:>9.3f}{min(times[name]):>9.3f}{median / anchor:>9.2f}"
            f"{alive[name]:>7}{fds[name]:>6}"
        )
    print(f"descriptors outaged holds, 2 requests per host: {fds_by_n} (by number of hosts)")
    ratio = statistics.median(times["outaged"]) / anchor
    print(f"goal <= 1.5x fping: {ratio:.2f}x {'met' if ratio <= 1.5 else 'MISSED'}")


def bench_dead() -> None:
    with Namespaces() as spaces:
        probe, peer = spaces.create("probe"), spaces.create("peer")
        spaces.veth(probe, "vp", "198.18.0.1/30", peer, "vq", "198.18.0.2/30")
        probe.ip("route", "add", "198.19.0.0/16", "via", "198.18.0.2")  # the peer drops them
        inner = probe.run(sys.executable, "-m", "bench.bench_icmp", "--dead-inside", timeout=120)
    if inner.returncode:
        raise SystemExit(f"dead-host run failed: {inner.stderr}")
    figures = json.loads(inner.stdout)
    print(f"\ndead: {N} hosts that never answer (namespace), 1 s timeout; median of 3 runs")
    for name in ("fping", "outaged"):
        seconds, alive = figures[name]
        print(f"{name:<24}{seconds:>9.3f} s, {alive} answered")
    outaged_s = figures["outaged"][0]
    print(f"x fping: {outaged_s / figures['fping'][0]:.2f}")
    print(f"goal <= 1.2 s: {outaged_s:.3f} s {'met' if outaged_s <= 1.2 else 'MISSED'}")
    print("icmplib.async_multiping: not run (50 hosts in flight x 1 s each: ~200 s)")


def dead_inside() -> None:
    """Runs in the probing namespace: prints {client: [median s, answered]}."""
    addresses = dead(N)
    runs: dict[str, list[tuple[float, int]]] = {"fping": [], "outaged": []}
    for _ in range(3):
        seconds, alive, _ = fping(addresses)
        runs["fping"].append((seconds, alive))
        runs["outaged"].append(timed(outaged, addresses))
    print(
        json.dumps(
            {k: [statistics.median(s for s, _ in v), max(a for _, a in v)] for k, v in runs.items()}
        )
    )


def cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class Counter:
    def __init__(self) -> None:
        self.requests = 0
        self.hosts: set[str] = set()

    def on_result(self, element: str, result: PingResult) -> None:
        self.requests += result.sent
        self.hosts.add(result.address)


async def run_scheduler(topology: Topology, counter: Counter, signals: list[Signal]) -> None:
    plan = ProbePlan(interval_s=60.0, count=3, spacing_s=0.2, timeout_s=1.0)  # the defaults
    async with IcmpEngine() as engine:  # the default cap, 10,000 requests/s
        scheduler = Scheduler(
            topology, engine, signals.append, config=ScheduleConfig(plan=plan), observers=[counter]
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(scheduler.run(), SCHEDULE_S)


def bench_schedule() -> None:
    first = ipaddress.IPv4Address("127.80.0.1")
    elements = {
        f"e{i}": Element(f"e{i}", Kind.ACCESS, (), "a", address=str(first + i))
        for i in range(ELEMENTS)
    }
    topology = Topology(elements, {}, {}, (), {}, {})
    counter, signals = Counter(), list[Signal]()
    cpu, wall = cpu_s(), time.perf_counter()
    asyncio.run(run_scheduler(topology, counter, signals))
    cpu, wall = cpu_s() - cpu, time.perf_counter() - wall
    ok = sum(1 for s in signals if isinstance(s, ProbeResult) and s.ok)
    # The anchor: fping sending the same echo requests (3 per host, 200 ms apart).
    hosts = sorted(counter.hosts)
    before = cpu_s(resource.RUSAGE_CHILDREN)
    subprocess.run(
        ["fping", "-C3", "-p200", "-q", "-i0", "-r0", *hosts],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    fping_cpu = cpu_s(resource.RUSAGE_CHILDREN) - before
    ours_us = cpu / counter.requests * 1e6
    fping_us = fping_cpu / (3 * len(hosts)) * 1e6
    print(f"\nscheduler: {ELEMENTS} elements every 60 s (3 requests each), run for {wall:.1f} s")
    print(f"element cycles {len(hosts)}, echo requests {counter.requests}, ok signals {ok}")
    print(f"CPU {cpu:.2f} s = {cpu / wall:.1%} of one core (topology set-up included)")
    print(f"CPU per echo request: outaged {ours_us:.1f} us, fping {fping_us:.1f} us")
    print(f"x fping: {ours_us / fping_us:.2f}")


def main() -> None:
    if sys.argv[1:] == ["--dead-inside"]:
        dead_inside()
        return
    if os.geteuid() != 0:
        raise SystemExit("bench_icmp needs root (raw sockets, network namespaces)")
    os.chdir(ROOT)
    bench_alive()
    bench_dead()
    bench_schedule()


if __name__ == "__main__":
    main()
