"""The daemon's side of several instances: what `App` does differently with `ha:`.

Every instance serves the API, probes its share and keeps trying for the
lease; the one that holds it recovers from the store and decides, sends and
reads the inbox; the others hand what they take in to the inbox:

    App.start -> Role.start (lease keeper) ... won  -> lead: recover, decide
                                          ... lost -> follow: stop deciding
    API requests -> Front (decision loop if leading, else the inbox)
    probe/trap signals -> sink (decision loop if leading, else the inbox)
    leader's commits -> Herald (NOTIFY) -> standbys' Mirror: lease and views read again
    a standby's state -> kept warm between refreshes, led on at a takeover (outaged.ha.warm)
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from typing import TYPE_CHECKING, Any

from outaged.api import queued
from outaged.errors import StoreError
from outaged.ha import shard
from outaged.ha.inbox import REASONS, SIGNALS, Front, Reader, settle, signals_payload
from outaged.ha.node import Node
from outaged.ha.sql import Lease
from outaged.ha.views import Herald, Mirror
from outaged.ha.warm import Warm
from outaged.notify.config import build_outbox
from outaged.pipeline import Pipeline
from outaged.probes.traps import trap_key
from outaged.records.ledger import Ledger
from outaged.signals import Signal, Trap
from outaged.store.postgres import PostgresStore
from outaged.topology.graph import GraphIndex
from outaged.zones import parse_zone

if TYPE_CHECKING:
    from outaged.app import App, Cleanup

log = logging.getLogger("outaged.ha")

FORWARD_EVERY_S = 0.2  # a standby's probe and trap signals go to the inbox this often
MAX_FORWARD = 10_000  # kept while the inbox cannot be written; past this the oldest go


class Role:
    def __init__(self, app: App) -> None:
        self.app = app
        config = app.config
        url = config.store.url
        if url is None or not isinstance(app.store, PostgresStore):
            raise StoreError("ha: several instances need the PostgreSQL store (store.url)")
        self.url = url
        me = config.ha.name or f"{socket.gethostname()}:{config.api.port}"
        api = config.ha.advertise or f"http://{config.api.listen}:{config.api.port}"
        self.node = Node(url, me, api, config.ha, lead=self._lead, follow=self._follow)
        self.node.on_members = lambda _: self.reshard()
        self.front = Front(self.node.writer, self._leading)
        app.store.fence = self.node.guard
        self._cleanup: Cleanup = []
        self._buffer: list[tuple[Signal, str | None]] = []  # with each trap's key
        self._forwarding: asyncio.Task[None] | None = None
        self.reader: Reader | None = None
        self.given_up: Counter[str] = Counter()  # inbox rows, by reason, while leading
        self.herald = Herald(url)
        self.mirror = Mirror(url, self._lease_read, self._rebuild, config.ha.poll_s)
        self.warm = Warm(app.store, url, config.escalation)
        self._warming = asyncio.Lock()  # a refresh and a takeover never interleave
        self._taking = False  # from the start of a takeover until it follows again
        self._mirroring: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.node.start()
        self._mirroring = asyncio.create_task(self.mirror.run(), name="ha-views")

    def advertise(self, port: int) -> None:
        """The API's real port, once listening (the configured one may be 0)."""
        c = self.app.config
        self.node.keeper.api = c.ha.advertise or f"http://{c.api.listen}:{port}"
        if c.ha.name is None:
            log.info("this instance is %s among the members", self.node.me)

    async def leave(self) -> None:
        """Stopping: out of the members first, probing on until the others have
        seen it go and probe its share (they take it over at once)."""
        await self.node.leave()
        await asyncio.sleep(self.node.times.renew_s + 0.5)

    def reshard(self) -> None:
        """Probe this instance's share of the live members' (rendezvous hashing)."""
        probers = self.app.probers
        if probers is None:
            return
        share = frozenset(self.node.share(probers.probed()))
        probers.reshard(share)
        log.info("probing %d of %d elements", len(share), len(probers.probed()))

    def shards(self) -> dict[str, int]:
        """Live member -> how many elements it probes."""
        probers = self.app.probers
        elements = probers.probed() if probers is not None else []
        return {m: len(part) for m, part in shard.assign(self.node.live(), elements).items()}

    async def stop(self) -> None:
        self.mirror.stop()
        if self._mirroring is not None:
            await self._mirroring
        await self.node.stop()
        await self.herald.stop()
        await self.warm.close()
        if self._forwarding is not None:
            await self._forwarding

    def _leading(self) -> Pipeline | None:
        if self.node.leading and self.node.fence.holds():
            return self.app.pipeline
        return None

    # ---- leading and following -------------------------------------------

    def _index(self) -> GraphIndex:
        api = self.app._api
        return api.index if api is not None else self.app.pipeline.ledger.index

    async def _lead(self, epoch: int) -> None:
        app = self.app
        index = self._index()
        self._taking = True
        async with self._warming:  # the standby's state, caught up (cold if it must)
            done = await self.warm.takeover(index, app.clock(), app._lookback(index))
        ledger, next_seq = done.ledger, done.next_seq
        zone = parse_zone(index.topology.timezone)
        outbox = build_outbox(app.config.notify, clock=app.clock, tz=zone)
        outbox.claim = self.node.claim
        app._outbox = outbox
        pipeline = app._new_pipeline(ledger, next_seq, index)
        app._pipeline = pipeline
        if app._api is not None:
            app._api.pipeline = pipeline
            render = queued.answer(app._api)
            pipeline.settle = lambda step: settle(step, render)
        pipeline.on_committed = self.herald.poke
        self._cleanup = []
        await app._decide(index, pipeline, self._cleanup)
        poll_s = app.config.ha.poll_s
        reader = Reader(self.url, pipeline, poll_s, refuse=queued.given_up, given_up=self.given_up)
        self.reader = reader
        task = asyncio.create_task(reader.run(), name="ha-inbox")

        async def stop_reader() -> None:
            reader.stop()
            await task

        self._cleanup.append(("inbox", stop_reader))
        self.herald.poke()  # the standbys read the new epoch at once
        how = "warm" if done.cold is None else f"cold: {done.cold}"
        log.warning(
            "leading (epoch %d): %d open outages recovered (%s, %d signal rows read)",
            epoch,
            len(ledger.records),
            how,
            done.fed,
        )

    async def _follow(self, why: str) -> None:
        from outaged.app import run_cleanup  # here: outaged.app imports this module

        await run_cleanup(self._cleanup, self.app.config.shutdown_timeout_s)
        self._taking = False
        log.warning("not leading any more (%s): deciding and sending stopped here", why)

    # ---- a standby's views (outaged.ha.views) -------------------------------

    async def recover(self, index: GraphIndex) -> tuple[Ledger, int]:
        """The start's recovery (outaged.app `App.start`): the first refresh of the
        warm state, so the views' next refresh catches up instead of recovering again."""
        app = self.app
        async with self._warming:
            done = await self.warm.refresh(index, app.clock(), app._lookback(index))
        return done.ledger, done.next_seq

    def _lease_read(self, lease: Lease | None) -> None:
        if lease is not None:
            self.node.keeper.lease = lease  # as the keeper's next try would read it

    async def _rebuild(self) -> None:
        """The board's, bulletin's and element views from the store, while standing by:
        the warm state caught up (outaged.ha.warm)."""
        app = self.app
        before = app._pipeline
        async with self._warming:
            if self._taking or app._api is None:
                return
            index = self._index()
            done = await self.warm.refresh(index, app.clock(), app._lookback(index))
        if self._leading() is not None or app._pipeline is not before:  # took the lease
            return
        pipeline = app._new_pipeline(done.ledger, done.next_seq, index)  # read, never run here
        app._pipeline = pipeline
        app._api.pipeline = pipeline

    # ---- signals of this instance's probers --------------------------------

    def sink(self, signal: Signal) -> None:
        """A trap goes with its key (traps.trap_key): a device sending to every
        instance has each notification stored and decided once, by the leader."""
        key = trap_key(signal) if isinstance(signal, Trap) else None
        pipeline = self._leading()
        if pipeline is not None:
            _take(pipeline, [signal], [key])
            return
        self._buffer.append((signal, key))
        if len(self._buffer) > MAX_FORWARD:
            del self._buffer[: len(self._buffer) - MAX_FORWARD]
        if self._forwarding is None:
            self._forwarding = asyncio.create_task(self._forward(), name="ha-forward")

    async def _forward(self) -> None:
        """One inbox row per batch of probe and trap signals, while not leading."""
        try:
            while self._buffer:
                await asyncio.sleep(FORWARD_EVERY_S)
                taken, self._buffer = self._buffer, []
                signals, keys = [s for s, _ in taken], [k for _, k in taken]
                pipeline = self._leading()
                if pipeline is not None:  # took the lease meanwhile
                    _take(pipeline, signals, keys)
                    continue
                try:
                    payload = signals_payload(signals, keys, None)
                    await self.node.writer.put(SIGNALS, "", payload)
                except StoreError as exc:
                    log.warning("%d probe signals wait for the inbox: %s", len(taken), exc)
                    self._buffer[:0] = taken[-MAX_FORWARD:]
                    await asyncio.sleep(1.0)
        finally:
            self._forwarding = None

    # ---- status -------------------------------------------------------------

    def status_json(self) -> dict[str, Any]:
        node = self.node
        lease = node.lease
        shards = self.shards()
        return {
            "me": node.me,
            "leading": self._leading() is not None,
            "leader": None if lease is None or not lease.live else lease.holder,
            "epoch": None if lease is None else lease.epoch,
            "lease_age_s": None if lease is None else round(lease.age_s, 3),
            "lease_s": node.times.lease_s,
            "members": [
                {
                    "name": m.name,
                    "api": m.api,
                    "heartbeat_age_s": round(m.age_s, 3),
                    "probes": shards.get(m.name, 0),
                }
                for m in node.members
            ],
            "last_error": node.keeper.last_error,
            "inbox_given_up": {r: self.given_up[r] for r in REASONS},
            "standby": {
                "refreshes": dict(self.warm.refreshes),
                "signal_rows_read": dict(self.warm.fed),
                "last_cold": self.warm.last_cold,
            },
        }


def _take(pipeline: Pipeline, signals: list[Signal], keys: list[str | None]) -> None:
    """Into the decision loop, a signal with a key at most once (like a report's id)."""
    if not any(keys):
        for signal in signals:
            pipeline.sink(signal)
        return
    done = pipeline.queue_signals(signals, keys, None)
    done.add_done_callback(_logged)  # no caller waits for the outcome


def _logged(done: asyncio.Future[Any]) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("probe signals not decided: %s", done.exception())
