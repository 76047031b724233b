"""The store backends side by side: a real `outaged run` on SQLite and one on
PostgreSQL (a real server, tests/postgres.py: Unix socket, fsync off as in the
tests, synchronous_commit on), same city, same run.

    .venv/bin/python -m bench.bench_store [--quick]

1. ingest: batches of 500 reports per POST, one in flight, until N reports are
   accepted; reports/s.
2. latency: down reports at fresh buildings one at a time; the time of the POST
   that crosses the spike threshold, which the daemon answers only once the
   `outage_opened` decision is committed (p50 / p95).

The ratio is PostgreSQL / SQLite (SQLite, the embedded default, is the anchor).
Only 127.0.0.1 and a Unix socket are used; every loop is bounded.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tests.citygen import write_city
from tests.daemon import Daemon
from tests.postgres import postgres_server
from tests.stores import Backend

METROS, COMMUNITIES = 10, 10
BATCH = 500


def ingest(d: Daemon, total: int) -> float:
    """Reports per second over `total` single-customer reports (they open nothing)."""
    sent, started = 0, time.perf_counter()
    while sent < total:
        reports = [
            {
                "subscriber": f"m{1 + (n // 5000) % METROS}-c{1 + (n // 50) % COMMUNITIES}-b"
                f"{1 + (n // 500) % 3}-{n % 50:03d}",
                "category": "website",
            }
            for n in range(sent, sent + BATCH)
        ]
        status, body = d.call("POST", "/api/v1/reports", {"reports": reports})
        assert status == 202, body
        sent += BATCH
    return sent / (time.perf_counter() - started)


def latency(d: Daemon, bursts: int) -> list[float]:
    """Seconds from the report that opens an outage to its answer, per burst."""
    found: list[float] = []
    for b in range(bursts):
        building = f"m{1 + b % METROS}-c{1 + (b // METROS) % COMMUNITIES}-b4"
        for i in range(50):
            started = time.perf_counter()
            status, body = d.call(
                "POST", "/api/v1/reports", {"subscriber": f"{building}-{i:03d}", "code": 678}
            )
            took = time.perf_counter() - started
            assert status == 202, body
            if any(x["event"] == "outage_opened" for x in body["decisions"]):
                found.append(took)
                break
    return found


def run(
    workdir: Path, backend: Backend | None, total: int, bursts: int
) -> tuple[float, list[float]]:
    city = write_city(workdir / "city", metros=METROS, communities=COMMUNITIES)
    d = Daemon(workdir, city, backend=backend)
    d.start()
    try:
        return ingest(d, total), latency(d, bursts)
    finally:
        d.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    total, bursts = (5_000, 10) if args.quick else (40_000, 40)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        root = Path(tmp)
        with postgres_server(root / "pg") as pg:
            pg_backend = Backend("postgresql", root / "unused.db", pg.fresh_dsn("bench"))
            results = {
                "sqlite": run(root / "sqlite", None, total, bursts),
                "postgresql": run(root / "postgresql", pg_backend, total, bursts),
            }
    print(f"{total} reports in batches of {BATCH}; {bursts} bursts at fresh buildings")
    for name, (rate, lat) in results.items():
        p95 = sorted(lat)[int(0.95 * (len(lat) - 1))]
        print(
            f"{name:>10}: ingest {rate:8.0f} reports/s   report->outage committed "
            f"p50 {statistics.median(lat) * 1000:6.1f} ms  p95 {p95 * 1000:6.1f} ms"
        )
    (lite_rate, lite_lat), (pg_rate, pg_lat) = results["sqlite"], results["postgresql"]
    print(
        f"ratio PostgreSQL/SQLite: ingest {pg_rate / lite_rate:.2f}x, "
        f"latency p50 {statistics.median(pg_lat) / statistics.median(lite_lat):.2f}x"
    )


if __name__ == "__main__":
    main()
