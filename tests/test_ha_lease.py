"""The leader's lease on a real PostgreSQL: takeover, fencing, never two leaders."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from outaged.config import HaConfig
from outaged.ha import sql
from outaged.ha.keeper import Keeper
from outaged.ha.lease import Fence, Fenced, LeaseTimes
from outaged.ha.node import Node
from tests.daemon import outaged_env
from tests.ha import schema
from tests.postgres import Postgres, postgres_server

TIMES = LeaseTimes(lease_s=1.5, renew_s=0.25, margin_s=0.4)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    with postgres_server(tmp_path_factory.mktemp("pg")) as pg_:
        yield pg_


@pytest.fixture
def dsn(server: Postgres) -> str:
    found = server.fresh_dsn("lease")
    schema(found)
    return found


def test_fence_stops_a_margin_before_the_row_can_expire() -> None:
    now = [100.0]
    fence = Fence(LeaseTimes(lease_s=10.0, renew_s=2.0, margin_s=2.0), lambda: now[0])
    with pytest.raises(Fenced):
        fence.check()
    fence.granted(3, started=100.0)
    now[0] = 107.9
    assert fence.check() == 3
    now[0] = 108.0  # renewed at 100: the row lives until >= 110 by the database's clock
    assert not fence.holds()
    with pytest.raises(Fenced, match="not renewed in time"):
        fence.check()
    fence.granted(3, started=107.0)  # a late renewal that succeeded counts from its start
    assert fence.until == 115.0


def test_default_takeover_is_within_fifteen_seconds() -> None:
    assert LeaseTimes().takeover_s <= 15.0


async def _lead(dsn: str, me: str, times: LeaseTimes = TIMES) -> tuple[Keeper, asyncio.Task[None]]:
    keeper = Keeper(dsn, me, f"http://{me}", Fence(times))
    task = asyncio.create_task(keeper.run())
    return keeper, task


async def _until(cond: object, timeout: float) -> float:
    began = time.monotonic()
    while not cond():  # type: ignore[operator]
        if time.monotonic() - began > timeout:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)
    return time.monotonic() - began


async def test_standby_takes_over_after_the_leader_stops_renewing(dsn: str) -> None:
    a, a_task = await _lead(dsn, "a")
    await _until(a.fence.holds, 5)
    b, b_task = await _lead(dsn, "b")
    await asyncio.sleep(TIMES.lease_s)
    assert a.fence.holds() and not b.fence.holds()  # a live lease is not taken
    a_task.cancel()  # a dies: no renewal, no release
    stopped = time.monotonic()
    await asyncio.gather(a_task, return_exceptions=True)
    await _until(b.fence.holds, TIMES.takeover_s + 1)
    assert time.monotonic() - stopped <= TIMES.takeover_s + 0.5
    assert b.fence.epoch == 2
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        row = await sql.lease(conn)
        assert row is not None and row.holder == "b" and row.epoch == 2 and row.live
        assert "b" in [m.name for m in await sql.members(conn)]
    b.stop()
    await b_task
    await b.close(release=True)
    await a.close(release=False)


async def test_graceful_stop_hands_the_lease_over_at_the_next_try(dsn: str) -> None:
    a, a_task = await _lead(dsn, "a")
    await _until(a.fence.holds, 5)
    b, b_task = await _lead(dsn, "b")
    await asyncio.sleep(0.3)
    a.stop()
    await a_task
    await a.close(release=True)
    took = await _until(b.fence.holds, TIMES.lease_s)
    assert took <= TIMES.renew_s + 0.5
    b.stop()
    await b_task
    await b.close(release=True)


async def test_a_paused_leader_commits_and_claims_nothing(dsn: str) -> None:
    """The old leader's clock says it may still act (as after a SIGSTOP/SIGCONT
    the keeper has not looked yet): the epoch check in the transaction refuses."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        assert await sql.lease_try(conn, "old", None, 0.5) == 1
        await conn.execute(
            "INSERT INTO outbox (id, outage_id, seq, event, recipient, channel, address, lang,"
            " context, created_at, state, attempts, next_at) VALUES"
            " ('m1', 1, 1, 'opened', 'p', 'email', 'p@x', 'en', '{}', 0, 'queued', 0, 0)"
        )
        await asyncio.sleep(0.6)
        assert await sql.lease_try(conn, "new", None, 5.0) == 2
        with pytest.raises(Fenced, match="epoch 2"):
            await sql.claim(conn, 1, ["m1"], 1.0)
        with pytest.raises(Fenced):
            async with conn.transaction(), conn.cursor() as cur:
                await sql.check_epoch(cur, 1, 1.0)
                await cur.execute("UPDATE outbox SET attempts = 99")
        cur = await conn.execute("SELECT attempts, claimed_epoch FROM outbox")
        assert await cur.fetchall() == [(0, None)]
        assert await sql.claim(conn, 2, ["m1"], 1.0) == {"m1"}
        assert await sql.claim(conn, 2, ["m1", "gone"], 1.0) == {"m1"}


async def test_takeover_waits_for_a_commit_checked_under_the_old_epoch(dsn: str) -> None:
    """A write checked under epoch 1 lands before the next leader reads, or never."""
    async with (
        await psycopg.AsyncConnection.connect(dsn, autocommit=True) as old,
        await psycopg.AsyncConnection.connect(dsn, autocommit=True) as new,
    ):
        assert await sql.lease_try(old, "old", None, 0.3) == 1
        await asyncio.sleep(0.4)  # expired: anyone may take it
        async with old.transaction(), old.cursor() as cur:
            await sql.check_epoch(cur, 1, 5.0)
            took = asyncio.create_task(sql.lease_try(new, "new", None, 5.0))
            await asyncio.sleep(0.3)
            assert not took.done()  # blocked by the share lock of the checked commit
            await cur.execute("UPDATE ha_members SET api = 'x'")
        assert await took == 2


def test_simultaneous_starts_never_make_two_leaders(server: Postgres, tmp_path: Path) -> None:
    """Three processes start for the lease at the same moment, ten times (one fresh
    database each); the leader gives up after a while so another takes over. The
    spans in which each believed it may act never overlap across processes."""
    rounds, run_s, hold_s = 10, 1.6, 0.6
    dsns = []
    for _ in range(rounds):
        dsns.append(server.fresh_dsn("race"))
        schema(dsns[-1])
    start_at = time.monotonic() + 3.0  # after the interpreters are up
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.ha_contender",
                name,
                str(tmp_path / f"{name}.jsonl"),
                str(start_at),
                str(hold_s),
                str(run_s),
                *dsns,
            ],
            env=outaged_env(),
        )
        for name in ("x", "y", "z")
    ]
    for p in procs:
        assert p.wait(timeout=60) == 0
    spans = [
        json.loads(line)
        for n in "xyz"
        for line in (tmp_path / f"{n}.jsonl").read_text().splitlines()
    ]
    for n in range(rounds):
        these = sorted((s for s in spans if s["round"] == n), key=lambda s: s["from"])
        assert len(these) >= 2, f"round {n}: the lease did not change hands: {these}"
        for first, second in itertools.pairwise(these):
            assert first["name"] != second["name"] or first["epoch"] != second["epoch"]
            assert second["epoch"] > first["epoch"]
            assert first["to"] <= second["from"], f"round {n}: two leaders: {first} {second}"


async def test_a_busy_daemon_loop_keeps_the_lease_a_stuck_one_gives_it_up(dsn: str) -> None:
    """The keeper renews on a thread of its own: the daemon's loop blocked for
    longer than the lease (recovering a large store) leads on, with the same
    epoch; a keeper told the loop is stuck gives the lease up."""
    config = HaConfig(
        enabled=True, lease_s=TIMES.lease_s, renew_s=TIMES.renew_s, margin_s=TIMES.margin_s
    )
    followed: list[str] = []

    async def lead(epoch: int) -> None:
        return None

    async def follow(why: str) -> None:
        followed.append(why)

    node = Node(dsn, "a", "http://a", config, lead=lead, follow=follow)
    node.start()
    try:
        await _until(lambda: node.leading, 5)
        time.sleep(2 * TIMES.lease_s)  # blocks this loop: no task of it runs meanwhile
        await asyncio.sleep(2 * TIMES.renew_s)
        assert node.leading and node.fence.holds() and node.fence.epoch == 1, followed
        assert followed == []
    finally:
        await node.stop()
    running = [True]
    keeper = Keeper(dsn, "b", "http://b", Fence(TIMES), alive=lambda: running[0])
    task = asyncio.create_task(keeper.run())
    await _until(keeper.fence.holds, 5)  # "a" released it on stopping
    running[0] = False  # its loop stuck: no renewal
    await _until(lambda: not keeper.fence.holds(), TIMES.renew_s * 2 + 0.5)
    keeper.stop()
    await task
    await keeper.close(release=False)
