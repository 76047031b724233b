"""This instance among several on one PostgreSQL: lease, transitions, guards.

    keeper won epoch E  -> lead(E): the daemon recovers from the store and starts
                           deciding, sending and reading the inbox
    keeper lost / fence -> follow(why): it stops all of that (commits are refused
                           by then: the fence and the in-transaction epoch check)

Transitions run one at a time, in order, on their own task. `guard` is the
store's fence hook (inside every decision commit) and `claim` the outbox's
(before every send): both refuse unless this instance holds the lease now,
by its own clock and by the row's epoch in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection

from outaged.config import HaConfig
from outaged.errors import StoreUnavailable
from outaged.ha import shard, sql
from outaged.ha.inbox import Writer
from outaged.ha.keeper import CONNECT_TIMEOUT_S, Keeper
from outaged.ha.lease import Clock, Fence, LeaseTimes
from outaged.notify.base import Message

log = logging.getLogger("outaged.ha")


class Node:
    def __init__(
        self,
        dsn: str,
        me: str,
        api: str,
        config: HaConfig,
        *,
        lead: Callable[[int], Awaitable[None]],
        follow: Callable[[str], Awaitable[None]],
        clock: Clock = time.monotonic,
    ) -> None:
        self.dsn = dsn
        self.me = me
        self.config = config
        self.times = LeaseTimes(config.lease_s, config.renew_s, config.margin_s)
        self.fence = Fence(self.times, clock)
        self.idle_s = config.margin_s  # a paused writer's transaction ends by then
        self.keeper = Keeper(
            dsn,
            me,
            api,
            self.fence,
            on_won=lambda epoch: self._events.put_nowait(("lead", epoch)),
            on_lost=lambda why: self._events.put_nowait(("follow", why)),
            on_members=self._members,
        )
        self.writer = Writer(dsn, me)
        self.members: list[sql.Member] = []
        self.leading = False  # the leader's work runs here now
        self.on_members: Callable[[list[str]], None] = lambda _: None  # re-shard
        self._lead = lead
        self._follow = follow
        self._events: asyncio.Queue[tuple[str, int | str]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._claims: AsyncConnection[Any] | None = None
        self._claim_lock = asyncio.Lock()

    # ---- lifecycle -----------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._transitions(), name="ha-transitions"),
            asyncio.create_task(self.keeper.run(), name="ha-lease"),
        ]

    async def stop(self) -> None:
        """Finish the leader's work while the lease is still renewed, then give it up."""
        transitions, keeper = self._tasks or (None, None)
        if transitions is not None:
            transitions.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await transitions
        if self.leading:
            self.leading = False
            await self._follow("stopping")
        self.keeper.stop()
        if keeper is not None:
            await keeper
        await self.keeper.close(release=True)
        await self.writer.close()
        if self._claims is not None:
            await self._claims.close()

    async def _transitions(self) -> None:
        while True:
            kind, arg = await self._events.get()
            if kind == "lead":
                if self.leading or self.fence.epoch != arg or not self.fence.holds():
                    continue  # lost again before it could start
                try:
                    await self._lead(int(arg))
                except Exception:
                    log.exception("starting to lead failed; the lease goes round again")
                    self.fence.lost()  # not renewed: any instance takes it once it expires
                    await self._follow("could not start leading")
                    continue
                self.leading = True
            elif self.leading:
                self.leading = False
                await self._follow(str(arg))

    def _members(self, found: list[sql.Member]) -> None:
        before = [m.name for m in self.members]
        self.members = found
        names = self.live()
        if names != before:
            log.info("members now: %s", ", ".join(names))
            self.on_members(names)

    @property
    def lease(self) -> sql.Lease | None:
        """The lease row as last read (status, metrics)."""
        return self.keeper.lease

    def live(self) -> list[str]:
        """The live members' names (this one always among them)."""
        return sorted({m.name for m in self.members} | {self.me})

    def share(self, elements: Sequence[str]) -> list[str]:
        return shard.share(self.me, self.live(), elements)

    # ---- guards ------------------------------------------------------------

    def guard(self, db: psycopg.Connection[Any]) -> None:
        """The store's fence hook, inside each decision commit's transaction."""
        sql.check_epoch_sync(db, self.fence.check(), self.idle_s)

    async def claim(self, messages: Sequence[Message]) -> set[str]:
        """The outbox's: the messages of `messages` this leader may send now."""
        epoch = self.fence.check()
        async with self._claim_lock:
            try:
                if self._claims is None or self._claims.closed:
                    self._claims = await AsyncConnection.connect(
                        self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                    )
                return await sql.claim(self._claims, epoch, [m.id for m in messages], self.idle_s)
            except (psycopg.Error, OSError) as exc:
                if self._claims is not None:
                    await self._claims.close()
                    self._claims = None
                raise StoreUnavailable(f"the outbox claim failed: {exc}") from exc
