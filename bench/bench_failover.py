"""Failover time and probe work per instance: real daemons on one real PostgreSQL.

    .venv/bin/python -m bench.bench_failover [--kills 10] [--storm-kills 5] [--rate 50]
                                             [--seed 13] [--no-probe-work] [--settle 10]
                                             [--against REV]

A real PostgreSQL server (tests/postgres.py: Unix socket in a temporary
directory) and real `outaged run` processes, started and watched by the test
suite's harness (tests/ha_cluster.py: each with its own state directory and an
`ha:` section naming it, all on one database).

- **failover**: three instances with the DEFAULT lease settings (lease_s 10,
  renew_s 2, margin_s 2). Each round finds the leader (GET /api/v1/status),
  waits for a random phase of its renewal cycle (seeded: the time since the
  lease row's `renewed_at`, by the database's clock, drawn from [0, renew_s)),
  `kill -9`s it, and times until another instance says it leads with a higher
  epoch AND answers a report decided in the same request (`decisions` in
  the answer, not `queued` for a leader to decide); then the killed one is
  started again as a standby. First on an idle cluster, then during a report
  storm: a thread posts batches of reports round-robin to all three instances
  throughout, at `--rate` reports/s at most (a call centre that moves on to
  the next instance when one does not answer; the rate reached is printed);
  every acknowledged report must be in the store afterwards (lost), none twice
  (duplicated), and no root may have two open outages; the reports
  acknowledged between the kill and the takeover are counted. Before each
  storm kill the cluster runs `--settle` seconds, over which each instance's
  CPU time (/proc/PID/stat utime + stime) is read: the standbys' CPU per
  second of the storm (what refreshing their views costs them; the leader's
  beside it), and how long the killed instance then takes to be ready again
  as a standby. `--kills 0` skips the idle rounds, `--storm-kills 0` the storm.
  `--against REV`: the same rounds (same seed) on git REV's daemons right
  after this code's (`git archive` into a temporary directory), and the ratios
  this / REV.
  The anchor is the theoretical bound lease_s + renew_s (the lease row can
  live lease_s after the leader's last renewal, and a standby only tries every
  renew_s); the ratio is the measured time over it.
- **probe work**: ICMP on (30 s interval) over a topology of ICMP targets at
  127.0.0.x only (loopback); 1, then 2, then 3 instances: how many targets
  each one probes, by its own log line ("probing N of M elements") and by what
  the status says for each member; max/ideal is the busiest instance over
  total/instances.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import tests.daemon
from bench.bench_http import archive
from tests.daemon import PROBES_OFF, Daemon
from tests.ha_cluster import Cluster
from tests.postgres import postgres_server

LEASE_S, RENEW_S = 10.0, 2.0  # outaged.config.HaConfig's defaults, not set in the config
TARGETS = 200  # 127.0.0.2 .. 127.0.0.201
PROBES_ON = "probes:\n  icmp:\n    enabled: true\n    interval_s: 30\n"
STEP_S = 0.05
STORM_BATCH = 10  # reports per POST during the storm
RATE = 50.0  # reports/s during the storm by default: a POST every 0.2 s, 3,000 calls a minute
MAX_RATE = 2000.0  # --rate is bounded: one thread, POSTs of STORM_BATCH reports
DRAIN_S = 300.0  # for the leader to decide what the standbys queued
# An instance restarted during a storm re-ingests the stored signals before it is
# ready: at 200 reports/s that takes longer than the test harness's start timeout.
START_S = 120.0
SETTLE_S = 10.0  # the storm runs this long before each kill: the CPU per second is read over it
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(d: Daemon) -> float:
    """CPU seconds the daemon's process has used (user + system), 0 if not running."""
    if d.proc is None or d.proc.poll() is not None:
        return 0.0
    try:
        fields = Path(f"/proc/{d.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def write_topology(outdir: Path) -> Path:
    """One core and TARGETS buildings under it, each probed at a 127.0.0.x address."""
    elements: list[dict[str, object]] = [
        {"id": "core-1", "kind": "core", "area": "backbone", "address": "127.0.0.2"}
    ]
    for n in range(1, TARGETS):
        address = f"127.0.0.{n + 2}"
        assert address.startswith("127.0.0.") and n + 2 <= 254  # loopback only
        elements.append(
            {"id": f"b{n}", "kind": "building", "parents": ["core-1"], "address": address}
        )
    doc = {
        "version": 1,
        "name": "Bench Loopback",
        "subscribers_csv": "subscribers.csv",
        "people": [{"id": "ops", "name": "Ops Person", "email": "ops@example.com"}],
        "areas": [{"id": "backbone", "name": "Backbone", "interface": "ops"}],
        "leadership": [],
        "service_centres": [],
        "call_centre": ["ops"],
        "elements": elements,
    }
    outdir.mkdir(parents=True, exist_ok=True)
    rows = [f"s{n}-{k},b{n}" for n in range(1, TARGETS) for k in range(5)]
    (outdir / "subscribers.csv").write_text(
        "subscriber,element\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    path = outdir / "topology.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def decides(d: Daemon, ident: str) -> bool:
    """A report posted to `d` is decided in the same request (it leads)."""
    body = {"reports": [{"id": ident, "subscriber": "s1-0", "code": 678}]}
    try:
        code, answer = d.call("POST", "/api/v1/reports", body)
    except (OSError, urllib.error.URLError):
        return False
    return code == 202 and isinstance(answer, dict) and "decisions" in answer


@dataclass
class Storm:
    """Batches of reports posted round-robin to every instance until stopped;
    a batch one instance does not take goes to the next."""

    c: Cluster
    rate: float = RATE  # reports/s at most
    acked: dict[str, float] = field(default_factory=dict)  # report id -> when acknowledged
    refused: int = 0  # POSTs no instance took (down, or stopping)
    began: float = 0.0
    ended: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self.began = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="report-storm", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self.ended = time.monotonic()

    @property
    def reached(self) -> float:
        """Reports acknowledged per second over the storm."""
        return len(self.acked) / max(1e-9, self.ended - self.began)

    def _run(self) -> None:
        n = batch = 0
        every_s = STORM_BATCH / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            ids = [f"S-{batch}-{k}" for k in range(STORM_BATCH)]
            reports = [
                {
                    "id": i,
                    "subscriber": f"s{(batch * STORM_BATCH + k) % (TARGETS - 1) + 1}-{k % 5}",
                    "code": 678,
                }
                for k, i in enumerate(ids)
            ]
            batch += 1
            # on schedule; a late POST does not make the next wait (catching up 1 s at most)
            next_at = max(next_at + every_s, time.monotonic() - 1.0)
            self._stop.wait(max(0.0, next_at - time.monotonic()))
            for _ in range(2 * len(self.c.daemons)):
                d = self.c.daemons[n % len(self.c.daemons)]
                n += 1
                got = self.c.post(d, "/api/v1/reports", {"reports": reports})
                if got is not None and got[0] == 202:
                    now = time.monotonic()
                    self.acked.update(dict.fromkeys(ids, now))
                    break
            else:
                self.refused += 1


@dataclass
class Round:
    took_s: float  # until a report posted to the new leader came back decided
    led_s: float  # until its status first said it leads (lease taken, store recovered)
    phase_s: float  # since the leader's last renewal, at the kill
    acked_in_window: int  # reports acknowledged between the kill and the takeover
    standby_cpu: list[float] = field(default_factory=list)  # CPU s per s, before the kill
    leader_cpu: float = 0.0
    restart_s: float = 0.0  # the killed one, until ready again as a standby


def since_renewal(c: Cluster) -> float:
    """Seconds since the lease row was last renewed, by the database's clock."""
    rows = c.query("SELECT EXTRACT(EPOCH FROM now()) - renewed_at FROM ha_lease")
    return float(rows[0][0])


def settle(c: Cluster, leader: Daemon, seconds: float) -> tuple[list[float], float]:
    """Each standby's CPU seconds per second over `seconds`, and the leader's."""
    before = [cpu_s(d) for d in c.daemons]
    began = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - began
    per_s = [(cpu_s(d) - b) / wall for d, b in zip(c.daemons, before, strict=True)]
    standbys = [x for d, x in zip(c.daemons, per_s, strict=True) if d is not leader]
    return standbys, per_s[c.daemons.index(leader)]


def kill_leader(
    c: Cluster, k: int, rng: random.Random, storm: Storm | None, settle_s: float
) -> Round:
    """One round: kill -9 the leader at a random phase of its renewal cycle and
    time the takeover; the killed one comes back as a standby."""
    old = c.leader(3 * (LEASE_S + RENEW_S))
    status = c.status(old)
    assert status is not None
    epoch = int(status["ha"]["epoch"])
    assert decides(old, f"R-{k}-before"), "the leader did not decide a report"
    standby_cpu, leader_cpu = settle(c, old, settle_s) if storm is not None else ([], 0.0)
    phase = rng.uniform(0.0, RENEW_S)
    time.sleep((phase - since_renewal(c)) % RENEW_S)
    at_kill = since_renewal(c)
    old.kill()
    killed = time.monotonic()
    end = killed + 6 * (LEASE_S + RENEW_S)
    led: float | None = None
    while time.monotonic() < end:
        try:
            new = c.leader(STEP_S, other_than=old, after_epoch=epoch)
        except AssertionError:
            continue
        led = led or time.monotonic() - killed
        if decides(new, f"R-{k}-after"):
            break
    else:
        raise RuntimeError(f"round {k + 1}: no standby took over")
    took = time.monotonic() - killed
    assert led is not None
    window = 0
    if storm is not None:
        window = sum(1 for t in list(storm.acked.values()) if killed <= t <= killed + took)
    after = c.status(new)
    to = "?" if after is None else after["ha"]["epoch"]
    took_over = [ln for ln in new.log_text().splitlines() if "leading (epoch" in ln]
    cpu = ""
    if storm is not None:
        shown = ", ".join(f"{x:.2f}" for x in standby_cpu)
        cpu = f"; before it standbys {shown} CPU s/s, leader {leader_cpu:.2f}"
    print(
        f"  kill {k + 1:2d} at {at_kill:4.2f} s into the renewal: leads after {led:5.2f} s, "
        f"decides after {took:5.2f} s (epoch {epoch} -> {to}), "
        f"{window} reports acknowledged meanwhile{cpu}",
        flush=True,
    )
    if took_over:  # this code says whether it led on its warm state (outaged.ha.role)
        print(f"           {took_over[-1].split('leading (', 1)[1]}", flush=True)
    began = time.monotonic()
    old.start()  # back as a standby
    restart = time.monotonic() - began
    print(f"           the killed one ready again as a standby after {restart:.2f} s", flush=True)
    return Round(took, led, at_kill, window, standby_cpu, leader_cpu, restart)


def failover(
    c: Cluster, kills: int, rng: random.Random, storm: Storm | None, settle_s: float = 0.0
) -> list[Round]:
    c.start()
    if storm is not None:
        storm.start()
    try:
        return [kill_leader(c, k, rng, storm, settle_s) for k in range(kills)]
    finally:
        if storm is not None:
            storm.stop()


@dataclass
class Outcome:
    missing: list[str]  # acknowledged, not stored
    twice: int  # acknowledged reports stored more than once
    twins: int  # roots with more than one open outage
    drain_s: float  # the inbox drained this long after the storm


def lost(c: Cluster, storm: Storm) -> Outcome:
    """Acknowledged reports the store does not have as decided signals once the
    inbox is drained (or has twice), roots with two open outages, and how long
    the draining took after the storm."""
    started = time.monotonic()
    drained = c.until(lambda: c.query("SELECT COUNT(*) FROM ha_inbox")[0][0] == 0, DRAIN_S)
    if not drained:
        raise RuntimeError(f"the inbox did not drain in {DRAIN_S:.0f} s")
    drain = time.monotonic() - started
    ids = list(storm.acked)
    rows = c.query("SELECT ext_id FROM signals WHERE ext_id = ANY(?)", ids)
    found = {r[0] for r in rows}
    twins = c.query(
        "SELECT COUNT(*) FROM (SELECT root FROM outages WHERE network_status = 'open' "
        "GROUP BY root HAVING COUNT(*) > 1) AS t"
    )[0][0]
    return Outcome([i for i in ids if i not in found], len(rows) - len(found), int(twins), drain)


def own_share(d: Daemon) -> int | None:
    """The last "probing N of M elements" line of its log: what it really probes."""
    lines = [ln for ln in d.log_text().splitlines() if "probing " in ln and " of " in ln]
    if not lines:
        return None
    return int(lines[-1].split("probing ", 1)[1].split()[0])


def probe_work(root: Path, topology: Path, url: str, size: int) -> dict[str, Any]:
    c = Cluster(root / f"x{size}", topology, url, size=size, probes=PROBES_ON, ha="")
    try:
        c.start()
        # every instance sees all members and has re-sharded to the same view
        end = time.monotonic() + 6 * RENEW_S + 10
        seen: dict[str, int] = {}
        mine: dict[str, int | None] = {}
        while time.monotonic() < end:
            views = [c.status(d) for d in c.daemons]
            if all(v is not None and len(v["ha"]["members"]) == size for v in views):
                first = views[0]
                assert first is not None
                seen = {m["name"]: int(m["probes"]) for m in first["ha"]["members"]}
                mine = {c.name(d): own_share(d) for d in c.daemons}
                if size == 1 or all(mine[name] == count for name, count in seen.items()):
                    break
            time.sleep(0.2)
        return {"status": seen, "own": mine}
    finally:
        c.stop()


def summary(title: str, rounds: list[Round]) -> dict[str, float]:
    took = [r.took_s for r in rounds]
    led = [r.led_s for r in rounds]
    anchor = LEASE_S + RENEW_S
    p50, worst = statistics.median(took), max(took)
    print(f"  {title}: leads after p50 {statistics.median(led):.2f} s, max {max(led):.2f} s;")
    print(f"  decides after p50 {p50:.2f} s, max {worst:.2f} s (goal max <= 15 s);")
    print(f"  anchor lease_s + renew_s = {anchor:.0f} s: p50/anchor {p50 / anchor:.2f},")
    print(f"  max/anchor {worst / anchor:.2f}; kill phases {min(r.phase_s for r in rounds):.2f}")
    print(f"  .. {max(r.phase_s for r in rounds):.2f} s into the {RENEW_S:g} s renewal cycle")
    figures = {"decides p50": p50, "decides max": worst}
    cpu = [x for r in rounds for x in r.standby_cpu]
    if cpu:
        leader = [r.leader_cpu for r in rounds]
        restart = [r.restart_s for r in rounds]
        print(
            f"  standbys' CPU during the storm: mean {statistics.mean(cpu):.2f}, max "
            f"{max(cpu):.2f} CPU s per s (leader mean {statistics.mean(leader):.2f}); "
            f"restarted standby ready after p50 {statistics.median(restart):.2f} s, "
            f"max {max(restart):.2f} s"
        )
        figures |= {"standby CPU mean": statistics.mean(cpu), "standby CPU max": max(cpu)}
        figures |= {"restart max": max(restart)}
    return figures


def refreshes(c: Cluster) -> str:
    """What the live instances' statuses say of their standby refreshes (this code's)."""
    out = []
    for d in c.daemons:
        status = c.status(d)
        held = None if status is None else status["ha"].get("standby")
        if held is not None:
            out.append(f"{c.name(d)} {held['refreshes']} rows {held['signal_rows_read']}")
    return "; ".join(out) or "not reported"


def storm_rounds(
    root: Path,
    topology: Path,
    url: str,
    kills: int,
    rate: float,
    rng: random.Random,
    settle_s: float,
    code: Path | None,
) -> dict[str, float]:
    print(f" storm: {kills} kill -9 of the leader, reports round-robin at {rate:g}/s at most")
    busy = cluster(root / "storm", topology, url, code)
    storm = Storm(busy, rate)
    try:
        stormy = failover(busy, kills, rng, storm, settle_s)
        out = lost(busy, storm)
        print(f"  standby refreshes: {refreshes(busy)}")
    finally:
        busy.stop()
    figures = summary(f"storm {rate:g}/s", stormy)
    window = sum(r.acked_in_window for r in stormy)
    print(
        f"  reports acknowledged: {len(storm.acked)} in all ({storm.reached:.0f}/s reached), "
        f"{window} during the failover windows; lost (acknowledged, not stored): "
        f"{len(out.missing)}; stored twice: {out.twice}; roots with two open outages: "
        f"{out.twins}; batches no instance took: {storm.refused}; inbox drained "
        f"{out.drain_s:.1f} s after the storm"
    )
    return figures


def cluster(root: Path, topology: Path, url: str, code: Path | None) -> Cluster:
    """Three instances; `code`: run that tree's daemon (`--against`), else this one."""
    c = Cluster(root, topology, url, probes=PROBES_OFF, ha="")
    if code is not None:
        for d in c.daemons:
            d.env["PYTHONPATH"] = str(code)  # the daemon runs in its own directory
    return c


def rounds_of(
    root: Path, topology: Path, pg: Any, args: argparse.Namespace, code: Path | None
) -> dict[str, float]:
    """The idle and storm rounds on this code's daemons or (`code`) another's."""
    rng = random.Random(args.seed)
    figures: dict[str, float] = {}
    if args.kills > 0:
        print(f" idle: {args.kills} kill -9 of the leader")
        idle = cluster(root / "idle", topology, pg.fresh_dsn("fo"), code)
        try:
            rounds = failover(idle, args.kills, rng, None)
        finally:
            idle.stop()
        figures |= {f"idle {k}": v for k, v in summary("idle", rounds).items()}
    if args.storm_kills > 0:
        got = storm_rounds(
            root,
            topology,
            pg.fresh_dsn("fs"),
            args.storm_kills,
            args.rate,
            rng,
            args.settle,
            code,
        )
        figures |= {f"storm {k}": v for k, v in got.items()}
    return figures


def rate(text: str) -> float:
    value = float(text)
    if not 0 < value <= MAX_RATE:
        raise argparse.ArgumentTypeError(f"reports/s in (0, {MAX_RATE:g}], got {text}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="on an idle cluster")
    parser.add_argument("--storm-kills", type=int, default=5, help="during a report storm")
    parser.add_argument("--rate", type=rate, default=RATE, help="storm reports/s (at most)")
    parser.add_argument("--seed", type=int, default=13, help="the kill phases")
    parser.add_argument("--probe-work", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--dir", type=Path, default=None, help="work here (default: a temp dir)")
    parser.add_argument(
        "--settle", type=float, default=SETTLE_S, help="storm seconds before each kill (CPU)"
    )
    parser.add_argument("--against", metavar="REV", help="the same rounds on git REV's daemons")
    args = parser.parse_args()
    tests.daemon.START_TIMEOUT_S = max(tests.daemon.START_TIMEOUT_S, START_S)
    tests.daemon.STOP_TIMEOUT_S = max(tests.daemon.STOP_TIMEOUT_S, START_S)
    with tempfile.TemporaryDirectory(prefix="bench-failover-", dir=args.dir) as tmp:
        root = Path(tmp)
        topology = write_topology(root / "city")
        started = time.monotonic()
        cpu = time.process_time()
        with postgres_server(root / "pg") as pg:
            print(f"failover: 3 instances, default lease, seed {args.seed}")
            mine = rounds_of(root / "this", topology, pg, args, None)
            if args.against:
                code = archive(args.against, root / "anchor-code")
                print(f"failover on {args.against}'s daemons: the same rounds")
                theirs = rounds_of(root / "anchor", topology, pg, args, code)
                print(f"this / {args.against}:")
                for key, value in mine.items():
                    other = theirs.get(key)
                    if other:
                        print(f"  {key}: {value:.2f} / {other:.2f} = {value / other:.2f}")
            if args.probe_work:
                print(f"probe work: {TARGETS} ICMP targets at 127.0.0.x")
                for size in (1, 2, 3):
                    got = probe_work(root, topology, pg.fresh_dsn(f"pw{size}"), size)
                    counts = got["status"]
                    ideal = TARGETS / size
                    busiest = max(counts.values()) if counts else 0
                    print(
                        f"  {size} instance(s): status {counts}, own log {got['own']}, "
                        f"max/ideal {busiest / ideal:.2f}"
                    )
        print(
            f"whole bench {time.monotonic() - started:.0f} s wall, "
            f"{time.process_time() - cpu:.1f} s CPU in the bench process"
        )


if __name__ == "__main__":
    main()
