"""This instance among several on one PostgreSQL: lease, transitions, guards.

    keeper won epoch E  -> lead(E): the daemon recovers from the store and starts
                           deciding, sending and reading the inbox
    keeper lost / fence -> follow(why): it stops all of that (commits are refused
                           by then: the fence and the in-transaction epoch check)

Transitions run one at a time, in order, on their own task. `guard` is the
store's fence hook (inside every decision commit) and `claim` the outbox's
(before every send): both refuse unless this instance holds the lease now,
by its own clock and by the row's epoch in the same transaction.

The keeper runs on an event loop of its own, in a thread: a daemon whose loop
is busy for seconds (recovering a large store when it takes the lease, a long
decision step) still renews, instead of fencing itself and handing the lease
to a standby that would stall the same way. A loop that does not run for
STALL_LEASES leases is stuck, not busy: the keeper then gives the lease up.
A paused process (SIGSTOP) pauses both: the fence works as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
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

STALL_LEASES = 6  # the daemon's loop not running this many leases long: it is stuck


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
            on_won=lambda epoch: self._call(self._events.put_nowait, ("lead", epoch)),
            on_lost=lambda why: self._call(self._events.put_nowait, ("follow", why)),
            on_members=lambda found: self._call(self._members, found),
            alive=self._alive,
        )
        self._clock = clock
        self._ticked = clock()  # the daemon's loop last ran then
        self._loop: asyncio.AbstractEventLoop | None = None
        self._keeper_loop: asyncio.AbstractEventLoop | None = None
        self._keeper_ready = threading.Event()
        self._thread: threading.Thread | None = None
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
        self._loop = asyncio.get_running_loop()
        self._ticked = self._clock()  # a long start-up recovery before this is no stall
        self._tasks = [
            asyncio.create_task(self._transitions(), name="ha-transitions"),
            asyncio.create_task(self._tick(), name="ha-tick"),
        ]
        self._thread = threading.Thread(target=self._keep, name="ha-lease", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Finish the leader's work while the lease is still renewed, then give it up."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.leading:
            self.leading = False
            await self._follow("stopping")
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(self._keeper_ready.wait)
            assert self._keeper_loop is not None
            self._keeper_loop.call_soon_threadsafe(self.keeper.stop)
            await asyncio.to_thread(thread.join)  # it gives the lease up and leaves
        await self.writer.close()
        if self._claims is not None:
            await self._claims.close()

    async def leave(self) -> None:
        """Out of the members now (the others take over its probes); it may still lead."""
        if self._thread is None:
            return
        await asyncio.to_thread(self._keeper_ready.wait)
        assert self._keeper_loop is not None
        done = asyncio.run_coroutine_threadsafe(self.keeper.leave(), self._keeper_loop)
        await asyncio.wrap_future(done)

    def _keep(self) -> None:
        asyncio.run(self._keeping())

    async def _keeping(self) -> None:
        self._keeper_loop = asyncio.get_running_loop()
        self._keeper_ready.set()
        try:
            await self.keeper.run()
        finally:
            await self.keeper.close(release=True)

    def _call(self, fn: Callable[[Any], None], arg: Any) -> None:
        """`fn(arg)` on the daemon's loop (the keeper calls from its own thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn, arg)

    async def _tick(self) -> None:
        while True:
            self._ticked = self._clock()
            await asyncio.sleep(self.times.renew_s / 2)

    def _alive(self) -> bool:
        return self._clock() - self._ticked < STALL_LEASES * self.times.lease_s

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
