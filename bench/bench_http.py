"""Report ingestion over HTTP, with persistence, against a trivial aiohttp echo endpoint.

    .venv/bin/python -m bench.bench_http [--quick] [--against REV [--against REV2]] [--rounds N]

Starts a real `outaged run` (SQLite in a temporary state dir, default
decide.interval_s 0.05) on a scenario city of 1,600 buildings / 80,000
subscribers, and, as the anchor, a separate aiohttp process whose one POST
endpoint returns the request body. Both are driven by the same aiohttp client
in this process, in the same run:

1. single: one report per POST, 32 in flight;
2. batched: 500 reports per POST, 4 in flight;
3. latency: under a 1,000 reports/s background (single-report POSTs, spread
   over every subscriber, single-customer categories so the background itself
   opens nothing), bursts of "down" reports hit fresh buildings one report at
   a time; the latency is from sending the report that crosses the spike
   threshold to its response, which the daemon only sends once the
   `outage_opened` decision is committed. Anchor: the echo latency under the
   same background.

With `--against REV` (a git revision, e.g. main; may be repeated), a daemon per
REV runs the code of REV (`git archive` into a temporary directory) on its own
copy of the same city, and single-report throughput is measured on each,
alternating, `--rounds` rounds (default 3) of 4,000 POSTs, 32 in flight; the
medians of reports/s and of the daemon's CPU per report (the whole process and
its event-loop thread, /proc) and their ratios to this code's are printed.

The load comes from prepared requests on kept-alive connections read by a few
lines of asyncio (`Connection`), not aiohttp's client: that client costs about
as much CPU per request as the daemon, and in the same process on 2 cores it
capped the very figure being measured.

Only 127.0.0.1 is contacted. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from outaged.app import new_event_loop
from tests.citygen import write_city
from tests.daemon import REPO, Daemon, outaged_command, outaged_env

METROS, COMMUNITIES, SUBS = 20, 20, 50
BACKGROUND_RATE = 1000.0  # reports/s
BACKGROUND_CATEGORIES = ("website", "game", "app")


# ---- the anchor: a trivial aiohttp echo server in its own process -------------


def echo_server(port: int) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read(), content_type="application/json")

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post("/echo", echo)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def start_echo(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_http", "--echo-server", str(port)],
        env=outaged_env(),
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("echo server did not start")


# ---- the load ----------------------------------------------------------------


class Target:
    def __init__(self, session: aiohttp.ClientSession | None, url: str, token: str | None) -> None:
        self.session = session
        self.url = url
        self.echo = token is None  # the anchor answers with the request itself
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    async def post(self, body: Any) -> tuple[int, Any]:
        assert self.session is not None, "a target for throughput() only"
        async with self.session.post(self.url, data=json.dumps(body), headers=self.headers) as r:
            return r.status, await r.json(content_type=None)


def subscriber(rng: random.Random) -> str:
    m, c, b = rng.randint(1, METROS), rng.randint(1, COMMUNITIES), rng.randint(1, 4)
    return f"m{m}-c{c}-b{b}-{rng.randrange(SUBS):03d}"


def background_report(rng: random.Random) -> dict[str, Any]:
    return {"subscriber": subscriber(rng), "category": rng.choice(BACKGROUND_CATEGORIES)}


class Connection:
    """One kept-alive HTTP/1.1 connection that sends prepared POSTs and reads the
    answers itself: the load generator's own CPU per request is a small fraction of
    aiohttp's client (which cost ~230 us per request, as much as the daemon, and on
    2 cores capped the figure it was meant to measure)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        assert host == "127.0.0.1", url  # only the loopback is contacted
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        assert length is not None, head  # the daemon and the echo send Content-Length
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def post_bytes(target: Target, body: Any) -> bytes:
    """A complete POST to `target` carrying `body` as JSON."""
    data = json.dumps(body).encode()
    path = "/" + target.url.split("//", 1)[1].split("/", 1)[1]
    host = target.url.split("//", 1)[1].split("/", 1)[0]
    headers = "".join(f"{k}: {v}\r\n" for k, v in target.headers.items())
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {len(data)}\r\n\r\n"
    return head.encode() + data


async def throughput(
    target: Target,
    requests: int,
    per_request: int,
    in_flight: int,
    seed: int,
    seconds: float | None = None,
) -> float:
    """Reports/s for `requests` POSTs of `per_request` reports, `in_flight` at a time
    (each on a kept-alive connection of its own; every answer must be a 2xx that
    accepted every report of its request); with `seconds`, those sent until then."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(requests):
        reports = [background_report(rng) for _ in range(per_request)]
        body = reports[0] if per_request == 1 else {"reports": reports}
        bodies.append(post_bytes(target, body))
    queue = list(reversed(bodies))
    connections = [await Connection.open(target.url) for _ in range(in_flight)]
    done = 0
    started = time.perf_counter()
    until = started + (seconds if seconds is not None else 3600.0)

    async def worker(connection: Connection) -> None:
        nonlocal done
        while queue and time.perf_counter() < until:
            status, answer = await connection.send(queue.pop())
            assert status in (200, 202), answer
            if not target.echo:
                assert json.loads(answer)["accepted"] == per_request, answer
            done += 1

    try:
        await asyncio.gather(*(worker(c) for c in connections))
        return done * per_request / (time.perf_counter() - started)
    finally:
        for connection in connections:
            connection.close()


async def background(target: Target, stop: asyncio.Event, seed: int) -> int:
    """Single-report POSTs at BACKGROUND_RATE until `stop`; returns how many were sent."""
    rng = random.Random(seed)
    sent = 0
    tasks: set[asyncio.Task[Any]] = set()
    started = time.perf_counter()
    while not stop.is_set() and len(tasks) < 2000:
        due = started + sent / BACKGROUND_RATE
        pause = due - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        task = asyncio.create_task(target.post(background_report(rng)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        sent += 1
    await asyncio.gather(*tasks)
    return sent


async def incident_latency(target: Target, building: str) -> float:
    """Send down reports from one building one at a time; time the one that opens it."""
    for i in range(SUBS):
        report = {"subscriber": f"{building}-{i:03d}", "code": 678}
        started = time.perf_counter()
        status, body = await target.post(report)
        elapsed = time.perf_counter() - started
        assert status == 202, body
        if any(d["event"] == "outage_opened" for d in body["decisions"]):
            return elapsed
    raise RuntimeError(f"{building}: no outage opened after {SUBS} reports")


async def echo_latency(target: Target, building: str) -> float:
    report = {"subscriber": f"{building}-000", "code": 678}
    started = time.perf_counter()
    await target.post(report)
    return time.perf_counter() - started


async def under_background(
    target: Target,
    background_target: Target,
    probe: Callable[[Target, str], Awaitable[float]],
    buildings: list[str],
) -> tuple[list[float], float]:
    stop = asyncio.Event()
    bg = asyncio.create_task(background(background_target, stop, seed=7))
    await asyncio.sleep(1.0)  # let the background settle
    started = time.perf_counter()
    samples = []
    for building in buildings:
        samples.append(await probe(target, building))
        await asyncio.sleep(0.05)
    stop.set()
    sent = await bg
    rate = sent / (time.perf_counter() - started + 1.0)
    return samples, rate


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(daemon: Daemon, echo_url: str, quick: bool) -> dict[str, Any]:
    scale = 4 if quick else 1
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        api = Target(session, f"{daemon.url}/api/v1/reports", daemon.token)
        echo = Target(session, echo_url, None)
        out: dict[str, Any] = {}
        for name, target in (("echo", echo), ("outaged", api)):
            out[f"{name}_single"] = await throughput(target, 4000 // scale, 1, 32, seed=1)
            out[f"{name}_batched"] = await throughput(target, 80 // scale, 500, 4, seed=2)
        # Separate faults the engine must not fold into one: one building per community,
        # under half of a metro's communities, under half of the metros (else it rightly
        # infers the metro or the core as the root).
        buildings = [f"m{m}-c{c}-b3" for c in range(2, 20, 2) for m in range(1, 10)]
        count = len(buildings) // scale
        out["echo_latency"], out["echo_bg_rate"] = await under_background(
            echo, echo, echo_latency, buildings[:count]
        )
        out["latency"], out["bg_rate"] = await under_background(
            api, api, incident_latency, buildings[:count]
        )
        return out


def report(out: dict[str, Any]) -> None:
    ms = 1000.0
    print("HTTP ingestion (reports/s; latency ms)")
    for kind in ("single", "batched"):
        mine, anchor = out[f"outaged_{kind}"], out[f"echo_{kind}"]
        print(
            f"  {kind:8} outaged {mine:9.0f}/s   echo {anchor:9.0f}/s   ratio {mine / anchor:.2f}"
        )
    lat, echo = out["latency"], out["echo_latency"]
    print(
        f"  spike->outage committed, n={len(lat)}, background {out['bg_rate']:.0f}/s: "
        f"p50 {pct(lat, 50) * ms:.1f}  p99 {pct(lat, 99) * ms:.1f}  max {max(lat) * ms:.1f}"
    )
    print(
        f"  echo round trip, n={len(echo)}, background {out['echo_bg_rate']:.0f}/s: "
        f"p50 {pct(echo, 50) * ms:.1f}  p99 {pct(echo, 99) * ms:.1f}  max {max(echo) * ms:.1f}"
    )
    print(
        f"  ratio p99 outaged/echo {pct(lat, 99) / pct(echo, 99):.1f}; "
        f"goals: batched >= 5000/s ({'met' if out['outaged_batched'] >= 5000 else 'NOT met'}), "
        f"p99 <= 100 ms ({'met' if pct(lat, 99) <= 0.1 else 'NOT met'})"
    )
    print(f"  mean spike latency {statistics.mean(lat) * ms:.1f} ms")


def process_cpu(pid: int, tid: int | None = None) -> float:
    """User + system CPU seconds so far of a process (/proc/PID/stat), or of one of
    its threads (/proc/PID/task/TID/stat; the main thread's TID is the PID)."""
    where = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    fields = Path(where).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Figures = tuple[float, float, float]  # reports/s, daemon CPU s/report, loop thread CPU s/report


async def single_rounds(
    daemons: dict[str, Daemon], quick: bool, rounds: int, together: bool
) -> dict[str, list[Figures]]:
    """Single-report throughput and the daemon's CPU per report (the whole process,
    and its event-loop thread) on each daemon, `rounds` rounds (after a warm-up POST
    burst on each): 4,000 POSTs to one daemon after the other, or with `together`
    every daemon loaded at once for 4 s (then load from elsewhere on the machine
    hits them alike, and each gets about the same share of the cores)."""
    scale = 4 if quick else 1
    count = 4000 // scale
    found: dict[str, list[Figures]] = {name: [] for name in daemons}
    targets = {
        name: Target(None, f"{d.url}/api/v1/reports", d.token) for name, d in daemons.items()
    }
    for target in targets.values():
        await throughput(target, 200, 1, 32, seed=9)
    pids = {}
    for name, daemon in daemons.items():
        assert daemon.proc is not None
        pids[name] = daemon.proc.pid

    def cpu(name: str) -> tuple[float, float]:
        return process_cpu(pids[name]), process_cpu(pids[name], pids[name])

    for seed in range(rounds):
        groups = [list(daemons)] if together else [[name] for name in daemons]
        for group in groups:
            before = {name: cpu(name) for name in group}
            started = time.perf_counter()
            rates = await asyncio.gather(
                *(
                    throughput(targets[name], 10 * count, 1, 32, 10 + seed, 4.0 / scale)
                    if together
                    else throughput(targets[name], count, 1, 32, seed=10 + seed)
                    for name in group
                )
            )
            elapsed = time.perf_counter() - started
            for name, rate in zip(group, rates, strict=True):
                sent = rate * elapsed
                (total, loop), (total0, loop0) = cpu(name), before[name]
                found[name].append((rate, (total - total0) / sent, (loop - loop0) / sent))
    return found


def report_against(rounds: dict[str, list[Figures]], revs: list[str], together: bool) -> None:
    count = len(rounds["this"])
    how = "every daemon loaded at once" if together else "alternating"
    print(f"Single-report POSTs, this code against {', '.join(revs)} ({count} rounds, {how})")
    for name, figures in rounds.items():
        rates = "  ".join(f"{r:6.0f}/s" for r, _, _ in figures)
        cpus = " ".join(f"{c * 1e6:4.0f}" for _, c, _ in figures)
        loops = " ".join(f"{c * 1e6:4.0f}" for _, _, c in figures)
        print(f"  {name:10} {rates}")
        print(f"  {'':10} daemon CPU us/report {cpus}; event-loop thread {loops}")
    rate = {name: statistics.median(f[0] for f in fs) for name, fs in rounds.items()}
    cpu = {name: statistics.median(f[1] for f in fs) for name, fs in rounds.items()}
    loop = {name: statistics.median(f[2] for f in fs) for name, fs in rounds.items()}
    for name in rounds:
        print(
            f"  median {name}: {rate[name]:.0f}/s, daemon {cpu[name] * 1e6:.0f} us/report, "
            f"loop thread {loop[name] * 1e6:.0f} us/report"
        )
    for rev in revs:
        ratio = rate["this"] / rate[rev]
        print(
            f"  ratio this/{rev}: throughput {ratio:.2f} (goal >= 1.5: "
            f"{'met' if ratio >= 1.5 else 'NOT met'}), CPU per report "
            f"{cpu['this'] / cpu[rev]:.2f}, loop thread CPU per report "
            f"{loop['this'] / loop[rev]:.2f}"
        )
        if together:  # each round's daemons shared the same moment: their ratios pair up
            paired = [a[0] / b[0] for a, b in zip(rounds["this"], rounds[rev], strict=True)]
            shown = " ".join(f"{r:.2f}" for r in paired)
            print(f"    per round: {shown}; median {statistics.median(paired):.2f}")


def archive(rev: str, into: Path) -> Path:
    """The tree of `rev` in a directory of its own (the daemon's code of that revision)."""
    into.mkdir()
    tar = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=tar, check=True)
    return into


def anchor_token(daemon: Daemon, code: Path) -> str:
    done = subprocess.run(
        outaged_command(
            "token", "create", "--name", "bench", "--role", "admin", "--config", str(daemon.config)
        ),
        env={**outaged_env(), "PYTHONPATH": str(code)},
        cwd=daemon.workdir,  # `-m` puts the working directory first on the path
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def against(work: Path, revs: list[str], quick: bool, rounds: int, together: bool) -> None:
    daemons: dict[str, Daemon] = {}
    for name in ("this", *revs):
        number = len(daemons)
        city = write_city(
            work / f"city-{number}", metros=METROS, communities=COMMUNITIES, subs=SUBS
        )
        (work / f"run-{number}").mkdir()
        if name != "this":  # its token made by its own CLI (this one's schema may be newer)
            code = archive(name, work / f"code-{number}")
            daemon = Daemon(work / f"run-{number}", city, interval_s=0.05, token="-")
            daemon.env["PYTHONPATH"] = str(code)
            daemon.token = anchor_token(daemon, code)
        else:
            daemon = Daemon(work / f"run-{number}", city, interval_s=0.05)
        daemons[name] = daemon
    try:
        for daemon in daemons.values():
            daemon.start()
        steps_before = {name: decision_steps(d) for name, d in daemons.items()}
        with asyncio.Runner(loop_factory=new_event_loop) as runner:  # uvloop: a cheaper client
            found = runner.run(
                asyncio.wait_for(single_rounds(daemons, quick, rounds, together), 1200)
            )
        steps = {name: decision_steps(d) for name, d in daemons.items()}
    finally:
        for daemon in daemons.values():
            if daemon.proc is not None:
                daemon.stop()
    report_against(found, revs, together)
    print("  decision steps while measured (outaged_decision_step_duration_seconds):")
    for name, (count, seconds) in steps.items():
        count0, seconds0 = steps_before[name]
        n, spent = count - count0, seconds - seconds0
        mean = spent / max(1, n) * 1e3
        print(f"  {name:10} {n:.0f} steps, mean {mean:.1f} ms (take in, decide, commit)")


def decision_steps(daemon: Daemon) -> tuple[float, float]:
    """How many decision steps the daemon has made and their wall time (its /metrics)."""
    with urllib.request.urlopen(f"{daemon.url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found = dict.fromkeys(("_count", "_sum"), 0.0)
    for line in text.splitlines():
        for suffix in found:
            if line.startswith(f"outaged_decision_step_duration_seconds{suffix} "):
                found[suffix] = float(line.split()[1])
    return found["_count"], found["_sum"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the load")
    parser.add_argument("--echo-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--against",
        metavar="REV",
        action="append",
        help="also run the daemon of git REV (may be repeated: all in the same run)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="with --against: alternating rounds (default 3)"
    )
    parser.add_argument(
        "--together",
        action="store_true",
        help="with --against: load every daemon at once in each round, not one after the other",
    )
    args = parser.parse_args()
    if args.echo_server:
        echo_server(args.echo_server)
        return
    if args.against:
        with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
            against(Path(tmp), args.against, args.quick, max(1, args.rounds), args.together)
        return
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        work = Path(tmp)
        city = write_city(work / "city", metros=METROS, communities=COMMUNITIES, subs=SUBS)
        daemon = Daemon(work, city, interval_s=0.05)
        port = free_port()
        echo = start_echo(port)
        try:
            daemon.start()
            out = asyncio.run(
                asyncio.wait_for(measure(daemon, f"http://127.0.0.1:{port}/echo", args.quick), 600)
            )
            rows = daemon.query_db("SELECT COUNT(*) FROM signals")[0][0]
        finally:
            echo.terminate()
            echo.wait(10)
            if daemon.proc is not None:
                daemon.stop()
    report(out)
    print(f"  signals persisted: {rows}")


if __name__ == "__main__":
    main()
