"""A standby's views kept current: the leader says it committed, a standby reads again.

leader:  a committed step -> Herald.poke() -> NOTIFY outaged_views (at most every HERALD_S)
         taking the lease -> the same (the standbys' gauges show the new epoch)
standby: LISTEN outaged_views, or a poll every poll_s that reads a cheap change
         counter (the source of truth when a NOTIFY is lost)
         -> the lease row again (leader, epoch, lease age: the gauges)
         -> the board's, bulletin's and element views brought up to the store
            (outaged.ha.warm: the standby's state caught up from the last row it
            read, rebuilt cold only when it must), at most once per
            max(MIN_GAP_S, 2 x the last refresh's time): a standby spends at
            most a third of its time on it, however busy the leader is
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection

from outaged.errors import StoreError
from outaged.ha import sql
from outaged.ha.keeper import CONNECT_TIMEOUT_S

log = logging.getLogger("outaged.ha")

CHANNEL = "outaged_views"
HERALD_S = 0.2  # the leader says it committed at most this often
MIN_GAP_S = 1.0  # a standby rebuilds its views at most this often
# Rows written to what the views show, as PostgreSQL counts them (flushed within ~1 s
# of each commit): a change of the sum means the leader committed something.
_CHANGES = (
    "SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables "
    "WHERE relname IN ('outages', 'outage_events', 'deadlines', 'signals', 'ha_lease')"
)


async def _connect(dsn: str, conn: AsyncConnection[Any] | None = None) -> AsyncConnection[Any]:
    """`conn` while it is open, else a new connection."""
    if conn is not None and not conn.closed:
        return conn
    return await AsyncConnection.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)


class Herald:
    """The leader's side: NOTIFY after commits, coalesced."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="ha-views-notify")

    async def _run(self) -> None:
        conn: AsyncConnection[Any] | None = None
        try:
            while self._wake.is_set():
                self._wake.clear()
                try:
                    conn = (
                        conn if conn is not None and not conn.closed else await _connect(self.dsn)
                    )
                    await conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
                except (psycopg.Error, OSError) as exc:  # the standbys' poll covers it
                    log.debug("NOTIFY %s failed: %s", CHANNEL, exc)
                    conn = None
                await asyncio.sleep(HERALD_S)
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Mirror:
    """A standby's side: re-read the lease and rebuild the views when the leader
    committed. `lease` takes the row read; `rebuild` does nothing while leading."""

    def __init__(
        self,
        dsn: str,
        lease: Callable[[sql.Lease | None], None],
        rebuild: Callable[[], Awaitable[None]],
        poll_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dsn = dsn
        self.lease = lease
        self.rebuild = rebuild
        self.poll_s = poll_s
        self.clock = clock
        self.rebuilt = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._seen: int | None = None  # the change counter as last read
        self._pending = False  # a change not in the views yet
        self._next_at = float("-inf")

    async def run(self) -> None:
        listener = asyncio.create_task(self._listener(), name="ha-views-listen")
        conn: AsyncConnection[Any] | None = None
        try:
            while not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._wait_s())
                heard = self._wake.is_set()
                self._wake.clear()
                if self.stopping:
                    break
                try:
                    conn = (
                        conn if conn is not None and not conn.closed else await _connect(self.dsn)
                    )
                    await self._once(conn, heard)
                except (psycopg.Error, OSError, StoreError) as exc:
                    log.warning("a standby's views cannot be refreshed now: %s", exc)
                    conn = None
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def _wait_s(self) -> float:
        """The poll, or sooner when a change waits out the gap."""
        if self._seen is None:
            return 0.0
        if not self._pending:
            return self.poll_s
        return max(0.0, min(self.poll_s, self._next_at - self.clock()))

    async def _once(self, conn: AsyncConnection[Any], heard: bool) -> None:
        async with conn.cursor() as cur:
            await cur.execute(_CHANGES)
            row = await cur.fetchone()
        changes = int(row[0]) if row is not None else 0
        if heard or changes != self._seen:
            self.lease(await sql.lease(conn))
            self._pending = True
        self._seen = changes
        if not self._pending or self.clock() < self._next_at:
            return
        self._pending = False
        began = self.clock()
        await self.rebuild()
        self.rebuilt += 1
        self._next_at = self.clock() + max(MIN_GAP_S, 2 * (self.clock() - began))

    async def _listener(self) -> None:
        while not self._stopping:
            try:
                conn = await _connect(self.dsn)
                try:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for _ in conn.notifies():
                        self._wake.set()
                finally:
                    with contextlib.suppress(Exception):
                        await conn.close()
            except (psycopg.Error, OSError) as exc:
                log.warning("LISTEN %s lost (%s); polling meanwhile", CHANNEL, exc)
                await asyncio.sleep(self.poll_s)
