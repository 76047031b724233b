"""Failover time and probe work per instance: real daemons on one real PostgreSQL.

    .venv/bin/python -m bench.bench_failover [--kills 10] [--dir DIR]

A real PostgreSQL server (tests/postgres.py: Unix socket in a temporary
directory) and real `outaged run` processes (tests/daemon.py), each with its
own state directory and an `ha:` section naming it, all on one database.

- **failover**: three instances with the DEFAULT lease settings (lease_s 10,
  renew_s 2, margin_s 2). Each round finds the leader (GET /api/v1/status),
  `kill -9`s it, and times until another instance says it leads with a higher
  epoch AND answers a report decided in the same request (`decisions` in
  the answer, not `queued` for a leader to decide); then the killed one is started
  again as a standby. The anchor is the theoretical bound lease_s + renew_s
  (the lease row can live lease_s after the leader's last renewal, and a
  standby only tries every renew_s); the ratio is the measured time over it.
- **probe work**: ICMP on (unprivileged sockets, 30 s interval) over a
  topology of ICMP targets at 127.0.0.x only (loopback); 1, then 2, then 3
  instances: how many targets each one probes, by its own log line
  ("probing N of M elements") and by what the status says for each member;
  max/ideal is the busiest instance over total/instances.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import urllib.error
from pathlib import Path
from typing import Any

import yaml

from tests.daemon import PROBES_OFF, Daemon
from tests.postgres import postgres_server

LEASE_S, RENEW_S = 10.0, 2.0  # outaged.config.HaConfig's defaults, not set in the config
TARGETS = 200  # 127.0.0.2 .. 127.0.0.201
PROBES_ON = "probes:\n  icmp:\n    enabled: true\n    interval_s: 30\n    privileged: false\n"
STEP_S = 0.05


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


def make(root: Path, topology: Path, url: str, size: int, probes: str) -> list[Daemon]:
    daemons: list[Daemon] = []
    token: str | None = None
    for n in range(1, size + 1):
        extra = f"store:\n  url: '{url}'\nha:\n  name: n{n}\n"
        (root / f"n{n}").mkdir(parents=True, exist_ok=True)
        d = Daemon(root / f"n{n}", topology, probes=probes, extra=extra, token=token)
        token = d.token
        daemons.append(d)
    return daemons


def status(d: Daemon) -> dict[str, Any] | None:
    if d.proc is None:
        return None
    try:
        code, body = d.call("GET", "/api/v1/status")
    except (OSError, urllib.error.URLError):
        return None
    return body if code == 200 and isinstance(body, dict) else None


def find_leader(daemons: list[Daemon], timeout_s: float) -> tuple[Daemon, int]:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        for d in daemons:
            s = status(d)
            if s is not None and s["ha"]["leading"]:
                return d, int(s["ha"]["epoch"])
        time.sleep(STEP_S)
    raise RuntimeError("no instance leads")


def decides(d: Daemon, ident: str) -> bool:
    """A report posted to `d` is decided in the same request (it leads)."""
    body = {"reports": [{"id": ident, "subscriber": "s1-0", "code": 678}]}
    try:
        code, answer = d.call("POST", "/api/v1/reports", body)
    except (OSError, urllib.error.URLError):
        return False
    return code == 202 and isinstance(answer, dict) and "decisions" in answer


def failover(root: Path, topology: Path, url: str, kills: int) -> list[float]:
    daemons = make(root, topology, url, 3, PROBES_OFF)
    took: list[float] = []
    try:
        for d in daemons:
            d.start()
        for k in range(kills):
            old, epoch = find_leader(daemons, 3 * (LEASE_S + RENEW_S))
            assert decides(old, f"R-{k}-before"), "the leader did not decide a report"
            old.kill()
            killed = time.monotonic()
            end = killed + 6 * (LEASE_S + RENEW_S)
            while time.monotonic() < end:
                found = [
                    d
                    for d in daemons
                    if d is not old
                    and (s := status(d)) is not None
                    and s["ha"]["leading"]
                    and int(s["ha"]["epoch"]) > epoch
                ]
                if found and decides(found[0], f"R-{k}-after"):
                    new = status(found[0])
                    break
                time.sleep(STEP_S)
            else:
                raise RuntimeError(f"round {k + 1}: no standby took over")
            took.append(time.monotonic() - killed)
            after = "?" if new is None else new["ha"]["epoch"]
            print(f"  kill {k + 1:2d}: {took[-1]:6.2f} s (epoch {epoch} -> {after})", flush=True)
            old.start()  # back as a standby
    finally:
        for d in daemons:
            try:
                d.stop()
            finally:
                d.kill()
    return took


def own_share(d: Daemon) -> int | None:
    """The last "probing N of M elements" line of its log: what it really probes."""
    lines = [ln for ln in d.log_text().splitlines() if "probing " in ln and " of " in ln]
    if not lines:
        return None
    return int(lines[-1].split("probing ", 1)[1].split()[0])


def probe_work(root: Path, topology: Path, pg_dsn: str, size: int) -> dict[str, Any]:
    daemons = make(root / f"x{size}", topology, pg_dsn, size, PROBES_ON)
    try:
        for d in daemons:
            d.start()
        # every instance sees all members and has re-sharded to the same view
        end = time.monotonic() + 6 * RENEW_S + 10
        seen: dict[str, int] = {}
        mine: dict[str, int | None] = {}
        while time.monotonic() < end:
            views = [status(d) for d in daemons]
            if all(v is not None and len(v["ha"]["members"]) == size for v in views):
                first = views[0]
                assert first is not None
                seen = {m["name"]: int(m["probes"]) for m in first["ha"]["members"]}
                mine = {f"n{i + 1}": own_share(d) for i, d in enumerate(daemons)}
                if size == 1 or all(mine[name] == count for name, count in seen.items()):
                    break
            time.sleep(0.2)
        return {"status": seen, "own": mine}
    finally:
        for d in daemons:
            try:
                d.stop()
            finally:
                d.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--dir", type=Path, default=None, help="work here (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-failover-", dir=args.dir) as tmp:
        root = Path(tmp)
        topology = write_topology(root / "city")
        started = time.monotonic()
        with postgres_server(root / "pg") as pg:
            print(f"failover: 3 instances, default lease, {args.kills} kill -9 of the leader")
            took = failover(root / "failover", topology, pg.fresh_dsn("fo"), args.kills)
            anchor = LEASE_S + RENEW_S
            p50, worst = statistics.median(took), max(took)
            print(f"  p50 {p50:.2f} s, max {worst:.2f} s (goal max <= 15 s)")
            print(f"  anchor lease_s + renew_s = {anchor:.0f} s: p50/anchor {p50 / anchor:.2f},")
            print(f"  max/anchor {worst / anchor:.2f}")
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
        print(f"whole bench {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
