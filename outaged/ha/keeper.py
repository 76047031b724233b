"""The lease keeper: tries for the lease, renews it, says when it is won and lost.

It runs on its own connection, so a busy store (a long decision commit) does
not delay renewals, and a dead one shows as a renewal that did not happen. A
watchdog fences this instance at the fence's deadline, whatever the keeper's
connection is doing. Each try also refreshes this member's heartbeat and
reads who else is alive (for sharding the probes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection

from outaged.ha import sql
from outaged.ha.lease import Fence, LeaseTimes

log = logging.getLogger("outaged.ha")

CONNECT_TIMEOUT_S = 2  # libpq takes whole seconds, at least 2


class Keeper:
    def __init__(
        self,
        dsn: str,
        me: str,
        api: str,
        fence: Fence,
        *,
        on_won: Callable[[int], None] = lambda _: None,
        on_lost: Callable[[str], None] = lambda _: None,
        on_members: Callable[[list[sql.Member]], None] = lambda _: None,
        member_ttl_s: float | None = None,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self.dsn = dsn
        self.me = me
        self.api = api
        self.fence = fence
        self.times: LeaseTimes = fence.times
        self.on_won = on_won
        self.on_lost = on_lost
        self.on_members = on_members
        self.member_ttl_s = member_ttl_s or self.times.lease_s
        self.alive = alive  # False: what the lease is for has stopped running; give it up
        self.failures = 0
        self.last_error: str | None = None
        self.lease: sql.Lease | None = None  # the row as last read
        self.leaving = False  # out of the members: no more heartbeats
        self._conn: AsyncConnection[Any] | None = None
        self._stop = asyncio.Event()
        self._kick = asyncio.Event()

    @property
    def clock(self) -> Callable[[], float]:
        return self.fence.clock

    async def run(self) -> None:
        watchdog = asyncio.create_task(self._watch(), name="ha-fence-watchdog")
        try:
            while not self._stop.is_set():
                started = self.clock()
                await self._try(started)
                pause = max(0.0, started + self.times.renew_s - self.clock())
                self._kick.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), pause)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()

    async def close(self, release: bool) -> None:
        """After `run` ended: give the lease up (when asked and still held), leave, disconnect."""
        conn = self._conn
        epoch = self.fence.epoch
        self.fence.lost()
        if conn is None:
            return
        try:
            if release and epoch is not None:
                await sql.release(conn, self.me, epoch)
            await sql.leave(conn, self.me)
        except (psycopg.Error, OSError) as exc:
            log.warning("leaving the members could not be recorded: %s", exc)
        finally:
            self._conn = None
            await conn.close()

    async def leave(self) -> None:
        """Out of the members now (the others take over its probes); it may still lead."""
        self.leaving = True
        try:
            await sql.leave(await self._connection(), self.me)
        except (psycopg.Error, OSError) as exc:
            log.warning("leaving the members could not be recorded: %s", exc)

    async def _try(self, started: float) -> None:
        fence = self.fence
        if fence.epoch is not None and not fence.holds():
            self._lose("its lease was not renewed in time")
        if not self.alive():
            self._lose("its event loop has stalled")
            return  # neither renews nor takes the lease; its heartbeat lapses too
        held = fence.epoch
        budget = max(0.1, fence.until - self.clock()) if held is not None else self.times.renew_s
        try:
            conn = await self._connection()
            epoch = await asyncio.wait_for(
                sql.lease_try(conn, self.me, held, self.times.lease_s), budget
            )
            if held is not None and epoch != held:
                self._lose("another instance holds the lease" if epoch is None else "epoch moved")
            if epoch is not None:
                fence.granted(epoch, started)
                if held != epoch:
                    log.warning("this instance (%s) leads now, epoch %d", self.me, epoch)
                    self.on_won(epoch)
            beat = (
                sql.members(conn)
                if self.leaving
                else sql.heartbeat(conn, self.me, self.api, self.member_ttl_s)
            )
            found = await asyncio.wait_for(beat, self.times.renew_s)
            self.lease = await asyncio.wait_for(sql.lease(conn), self.times.renew_s)
            self.last_error = None
            self.on_members(found)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}".strip()
            log.warning(
                "lease try failed (%s); %.1f s of lease left", self.last_error, fence.left_s()
            )
            await self._drop()

    async def _watch(self) -> None:
        """Fence at the deadline even while a try hangs."""
        while True:
            if self.fence.epoch is not None and not self.fence.holds():
                self._lose("its lease was not renewed in time")
            left = self.fence.left_s()
            await asyncio.sleep(min(left, self.times.renew_s) if left > 0 else 0.05)

    def _lose(self, why: str) -> None:
        epoch = self.fence.epoch
        if epoch is None:
            return
        self.fence.lost()
        log.error("this instance (%s) no longer leads (epoch %d): %s; fenced", self.me, epoch, why)
        self.on_lost(why)

    async def _connection(self) -> AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            timeout_ms = int(self.times.renew_s * 1000)
            self._conn = await AsyncConnection.connect(
                self.dsn,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                options=f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}",
                application_name=f"outaged-lease-{self.me}",
            )
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
