"""Weeks of simulated time through the daemon: memory stays flat, the database
stops growing once past retention, and what was let go is still there (issue 7 §6).

The real daemon (`App`: store, decision loop, pruner, HTTP API) runs in this
process on an injected clock. Every simulated day: background reports from the
whole city in POSTs with Idempotency-Keys, and two report bursts at buildings,
each opening an outage that is worked to `closed` through the API (every fifth
cancelled as a false alarm instead), plus one manual fault left open from day 0.
The pruner's pass runs at the end of each day.
"""

from __future__ import annotations

import gc
import random
import sqlite3
import statistics
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from outaged.api.auth import new_token
from outaged.app import App
from outaged.config import (
    ApiConfig,
    Config,
    DecideConfig,
    IcmpConfig,
    ProbesConfig,
    RetentionConfig,
)
from outaged.outages.model import iso
from outaged.store.base import Token
from outaged.store.sqlite import SqliteStore
from tests.citygen import write_city

DAY = 86400.0
HOUR = 3600.0
MIN = 60.0
T0 = 1_790_000_000.0
DAYS = 44  # 30 days of signal retention, then two weeks past it
BACKGROUND_PER_DAY = 300
BATCHES_PER_DAY = 6
OUTAGE_BATCHES = (0, 3)  # a burst after these background batches
BUILDINGS = [f"m{m}-c{c}-b4" for m in (1, 2, 3) for c in (1, 2, 3, 4)]
TRACE_FROM = DAYS - 20  # tracemalloc slows everything down: the last 20 days only
LEAK_PER_DAY = 3_000  # bytes: finished outages kept (~1.5 KB each, two a day)
MANUAL_AT = "dual-c-b1"


class SimClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Run:
    """The daemon under test and an HTTP client talking to it."""

    def __init__(self, app: App, http: aiohttp.ClientSession, token: str, clock: SimClock):
        self.app, self.http, self.clock = app, http, clock
        self.headers = {"Authorization": f"Bearer {token}"}
        self.keys = 0

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        self.keys += 1
        headers = {**self.headers, "Idempotency-Key": f"k-{self.keys}"}
        url = f"http://127.0.0.1:{self.app.port}/api/v1{path}"
        async with self.http.request(method, url, json=body, headers=headers) as response:
            return response.status, await response.json()

    async def post_reports(self, reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
        status, body = await self.call("POST", "/reports", {"reports": reports})
        assert status == 202, body
        return list(body["decisions"])

    async def act(self, oid: int, action: str, **fields: str) -> dict[str, Any]:
        status, body = await self.call(
            "POST", f"/outages/{oid}/actions", {"action": action, **fields}
        )
        assert status == 200, body
        return dict(body)


def _config(tmp_path: Path, *, retention: bool) -> Config:
    return Config(
        topology=write_city(tmp_path / "city"),
        state_dir=tmp_path / "state",
        api=ApiConfig(port=0),
        decide=DecideConfig(interval_s=0.001),
        probes=ProbesConfig(icmp=IcmpConfig(enabled=False)),
        retention=RetentionConfig(enabled=retention, every_s=10 * DAY),  # passes run by hand
        shutdown_timeout_s=5.0,
    )


async def _admin_token(config: Config, at: float) -> str:
    store = SqliteStore(config.db_path)
    await store.open()
    text, digest = new_token()
    await store.add_token(Token("admin", "admin", digest, at))
    await store.close()
    return text


@asynccontextmanager
async def running(config: Config, clock: SimClock, token: str) -> AsyncIterator[Run]:
    app = App(config, clock=clock)
    await app.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Run(app, http, token, clock)
    finally:
        await app.stop()


def _background(rng: random.Random, subscribers: list[str], day: int, batch: int, at: float):
    """Single-customer tickets from anywhere in the city, and one lone 'down' (hours
    apart, so never a cluster)."""
    per = BACKGROUND_PER_DAY // BATCHES_PER_DAY
    return [
        {
            "id": f"BG-{day}-{batch}-{i}",
            "subscriber": rng.choice(subscribers),
            "category": "down" if i == 0 else rng.choice(("website", "app", "game")),
            "at": iso(at - rng.uniform(0, 10 * MIN)),
        }
        for i in range(per)
    ]


async def _outage_story(run: Run, building: str, n: int, cancel: bool) -> int:
    """A burst of 'down' calls from one building; the outage worked to its end."""
    clock = run.clock
    burst = [
        {
            "id": f"F-{n}-{i}",
            "subscriber": f"{building}-{i:03d}",
            "category": "down",
            "at": iso(clock.now - (10 - i) * 30),
        }
        for i in range(10)
    ]
    opened = [d for d in await run.post_reports(burst) if d["event"] == "outage_opened"]
    assert [d["root"] for d in opened] == [building], opened
    oid = int(opened[0]["outage"])
    if cancel:
        clock.now += 5 * MIN
        await run.act(oid, "cancel", reason="a call-centre script error, not a fault")
        return oid
    for action, after, fields in (
        ("ack", 5, {}),
        ("arrive", 20, {}),
        ("diagnose", 30, {"cause": "power"}),
        ("restore", 30, {}),
    ):
        clock.now += after * MIN
        await run.act(oid, action, **fields)
    clock.now += 40 * MIN  # the calls stopped: the spike clears, the network is restored
    await run.post_reports([])
    for action, fields in (
        ("verify", {}),
        ("callback_done", {}),
        ("close", {"method": "replaced PSU", "result": "restored", "prevention": "UPS"}),
    ):
        clock.now += 5 * MIN
        await run.act(oid, action, **fields)
    return oid


def _held(app: App) -> dict[str, int]:
    """Every per-outage structure the engine and the ledger keep."""
    pipeline = app.pipeline
    engine, ledger = pipeline.engine, pipeline.ledger
    return {
        "engine.outages": len(engine.outages),
        "engine.restored": len(engine._restored),
        "engine.first_reports": len(engine._first_reports),
        "ledger.records": len(ledger.records),
        "ledger.deadlines": len(ledger.deadlines),
        "ledger.seqs": len(ledger.seqs),
    }


def _outaged_bytes() -> int:
    """Python memory allocated by outaged's own code and still held."""
    gc.collect()
    if not tracemalloc.is_tracing():
        return 0
    # SQLite's statement cache (sqlite3's LRU of 128 statements) is counted at the
    # lines of store/sqlite.py that run them: a sawtooth of ~10-50 KB as it fills
    # and evicts, bounded by construction and larger than the trend looked for.
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.Filter(True, "*/outaged/*"),
            tracemalloc.Filter(False, "*/outaged/store/sqlite.py"),
        ]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


FOREVER = (
    "outages",
    "outage_events",
    "deadlines",
    "outbox",
    "tokens",
    "token_generation",
    "schema_version",
)


def _db(config: Config) -> dict[str, int]:
    """Row counts, the database's size (its pages as committed: the main file once
    checkpointed), and how much of it the tables kept forever take."""
    with sqlite3.connect(config.db_path) as db:
        rows = {
            t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("signals", "idempotency", "outages")
        }
        marks = ", ".join("?" for _ in FOREVER)
        sql = (  # tables and their indexes
            "SELECT SUM(pgsize) FROM dbstat WHERE name IN "
            f"(SELECT name FROM sqlite_schema WHERE tbl_name IN ({marks}))"
        )
        rows["forever_bytes"] = db.execute(sql, FOREVER).fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]  # as committed, WAL included
        rows["bytes"] = pages * db.execute("PRAGMA page_size").fetchone()[0]
    return rows


@dataclass
class Simulated:
    days: list[dict[str, int]] = field(default_factory=list)  # sampled at each day's end
    manual_oid: int = 0
    closed: list[int] = field(default_factory=list)
    opened: int = 0


async def simulate(run: Run, config: Config, on_day: Callable[[Simulated], None]) -> Simulated:
    """DAYS simulated days through the running daemon; `on_day` checks each day's end."""
    clock, rng, sim = run.clock, random.Random(7), Simulated()
    subscribers = sorted(run.app.pipeline.engine.index.topology.subscribers)
    manual = {"kind": "manual", "element": MANUAL_AT, "note": "cabinet door open"}
    status, body = await run.call("POST", "/signals", manual)
    assert status == 202, body
    (sim.manual_oid,) = [d["outage"] for d in body["decisions"] if d["event"] == "outage_opened"]
    sim.opened = 1
    for day in range(DAYS):
        start = T0 + day * DAY
        for batch in range(BATCHES_PER_DAY):
            clock.now = start + batch * DAY / BATCHES_PER_DAY + MIN
            await run.post_reports(_background(rng, subscribers, day, batch, clock.now))
            if batch in OUTAGE_BATCHES:
                clock.now += HOUR
                n = sim.opened - 1
                cancel = n % 5 == 4
                oid = await _outage_story(run, BUILDINGS[n % len(BUILDINGS)], n, cancel)
                sim.opened += 1
                if not cancel:
                    sim.closed.append(oid)
        clock.now = start + DAY - MIN
        await run.post_reports([])
        if run.app.pruner is not None:
            await run.app.pruner.prune(clock.now)
        if day == TRACE_FROM:
            tracemalloc.start(1)
        await run.app.pipeline.settled()  # no step in flight (its election on a thread)
        traced = _outaged_bytes()
        sim.days.append({**_held(run.app), **_db(config), "traced": traced})
        on_day(sim)
    return sim


async def test_weeks_of_reports_and_outages_keep_memory_and_disk_flat(tmp_path: Path) -> None:
    config = _config(tmp_path, retention=True)
    clock = SimClock(T0)
    token = await _admin_token(config, T0)

    def only_the_open_outage_held(sim: Simulated) -> None:
        held = set(run.app.pipeline.ledger.records)
        assert held == {sim.manual_oid}, f"day {len(sim.days)}: {held} held in memory"

    try:
        async with running(config, clock, token) as run:
            sim = await simulate(run, config, only_the_open_outage_held)
            assert sim.days[-1]["outages"] == sim.opened >= 2 * DAYS

            # ---- what was let go is still readable and workable ----
            first, second = sim.closed[:2]
            assert first not in run.app.pipeline.engine.outages
            status, body = await run.call("GET", f"/outages/{first}")
            assert status == 200 and body["state"] == "closed", body
            last_seq = body["timeline"][-1]["seq"]
            noted = await run.act(first, "note", note="reviewed in the monthly meeting")
            assert noted["timeline"][-1]["seq"] == last_seq + 1
            assert noted["timeline"][-1]["kind"] == "note"
            reopened = await run.act(second, "reopen", note="the PSU failed again")
            assert reopened["state"] == "dispatched"
            assert second in run.app.pipeline.ledger.records  # being worked on again
    finally:
        tracemalloc.stop()
    days = sim.days

    # ---- memory: flat ----
    for day in days:
        assert day["engine.outages"] == day["ledger.records"] == day["ledger.seqs"] == 1
        assert day["engine.restored"] == day["engine.first_reports"] == 0
    # Python memory held by outaged's code, allocated since tracing began: the
    # per-element report windows move it by up to ~20 % from day to day (which
    # calls are in them when the day is read); what was kept of finished outages
    # would add ~1.5 KB per outage, two a day, ~3 KB a day. So the check is the
    # trend, not two readings: the least-squares slope over the traced days once
    # tracing has settled (the first days mostly replace what was allocated
    # before tracing began) must stay under half of that. Measured without a
    # leak: 60-400 bytes a day; a comparison of two five-day medians, used
    # before, failed now and then on a loaded machine (1.32x against 1.3x).
    traced = [d["traced"] for d in days][TRACE_FROM + 5 :]
    slope = statistics.linear_regression(range(len(traced)), traced).slope
    assert slope < LEAK_PER_DAY / 2, (round(slope), traced)

    # ---- disk: bounded once past retention ----
    daily = BACKGROUND_PER_DAY + 10 * len(OUTAGE_BATCHES)
    signals = [d["signals"] for d in days]
    assert signals[-1] <= 31 * daily, signals
    assert max(signals[-10:]) - min(signals[-10:]) <= daily // 10, signals  # flat
    assert max(d["idempotency"] for d in days) <= 3 * 40  # ~40 POSTs a day, 48 h kept
    bounded = [d["bytes"] - d["forever_bytes"] for d in days]  # all but the outage records
    assert max(bounded[-10:]) - min(bounded[-10:]) <= 0.03 * max(bounded), bounded

    # ---- a restart after all that pruning: the open manual fault is still in force ----
    clock.now += HOUR
    async with running(config, clock, token) as run:
        engine = run.app.pipeline.engine
        assert MANUAL_AT in engine.manual
        assert [o.id for o in engine.open_outages()] == [sim.manual_oid]
        assert set(run.app.pipeline.ledger.records) == {sim.manual_oid, second}


async def _anchor(tmp_path: Path) -> Simulated:
    """The same run with retention off (for checking the test fails without it)."""
    config = _config(tmp_path, retention=False)
    clock = SimClock(T0)
    token = await _admin_token(config, T0)
    async with running(config, clock, token) as run:
        sim = await simulate(run, config, lambda sim: None)
    tracemalloc.stop()
    return sim
