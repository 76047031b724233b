"""What any instance takes in, kept for the leader to decide, in arrival order.

    instance: POST -> checked at the edge -> INSERT ha_inbox + NOTIFY -> 202 {"queued": id}
    leader:   LISTEN (or a poll, the source of truth) -> rows by (received_at, id)
              -> the decision loop -> the step's commit deletes the rows it decided
                 and stores what each was answered (`settle`; ha_outcomes)
    any:      GET /api/v1/queued/{id} -> pending / done / refused (outaged.api.queued)

A row is answered (202) only once its INSERT committed, so nothing acknowledged
is lost when an instance dies; a row leaves the inbox only in the transaction
of the decision that took it in (epoch-checked), so a leader killed between
the two leaves it for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection

from outaged.errors import OutagedError, StoreError, StoreUnavailable
from outaged.ha.keeper import CONNECT_TIMEOUT_S
from outaged.outages.lifecycle import Action
from outaged.pipeline import Pipeline
from outaged.records.actions import ActionRequest
from outaged.signals import Signal
from outaged.steps import Act, IdemKey, Ingested, Intake, Outcome, Queued, Step
from outaged.store import codec
from outaged.store.base import QueuedOutcome

log = logging.getLogger("outaged.ha")

CHANNEL = "outaged_inbox"
BATCH = 500  # rows the leader takes in one read
SIGNALS, ACTION = "signals", "action"


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    kind: str
    actor: str
    payload: dict[str, Any]


def _idem(idem: IdemKey | None) -> list[str] | None:
    return None if idem is None else [idem.key, idem.request_sha256]


def signals_payload(
    signals: list[Signal], ext_ids: list[str | None], idem: IdemKey | None
) -> dict[str, Any]:
    return {
        "signals": [
            [codec.signal_kind(s), s.at, s.element, codec.signal_to_text(s)] for s in signals
        ],
        "ext_ids": ext_ids,
        "idem": _idem(idem),
    }


def action_payload(outage_id: int, request: ActionRequest, idem: IdemKey | None) -> dict[str, Any]:
    return {
        "outage": outage_id,
        "action": request.action.value,
        "fields": request.fields,
        "idem": _idem(idem),
    }


Render = Callable[[Intake | Act, Outcome | BaseException], tuple[int, str]]


def settle(step: Step, render: Render) -> None:
    """Pure: put what each queued request of `step` is answered into its batch,
    next to the deletion of its inbox row, so both land in the one commit."""
    answers: dict[int, Outcome | BaseException] = {id(r): o for r, o in step.done}
    for reply, twin in step.twins:  # an Idempotency-Key used twice in the step
        if twin.reply is not None and id(twin.reply) in answers:
            answers[id(reply)] = answers[id(twin.reply)]
    for item in step.items:
        if not isinstance(item, Intake | Act) or item.inbox is None or item.reply is None:
            continue
        if item.actor is None:  # a standby's own probe and trap signals: nobody asks
            continue
        outcome = answers.get(id(item.reply))
        if outcome is None:
            log.error("queued %s has no answer in its step; left without an outcome", item.inbox)
            continue
        status, body = render(item, outcome)
        kind = SIGNALS if isinstance(item, Intake) else ACTION
        step.batch.outcomes.append(QueuedOutcome(item.inbox, kind, status, body, step.now))


class Writer:
    """Stores requests in the inbox (every instance, on its own connection)."""

    def __init__(self, dsn: str, me: str) -> None:
        self.dsn = dsn
        self.me = me
        self._conn: AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    async def put(self, kind: str, actor: str, payload: dict[str, Any]) -> Queued:
        row_id = uuid.uuid4().hex
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        async with self._lock:
            try:
                conn = await self._connection()
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO ha_inbox (id, received_at, via, kind, actor, payload) "
                        "VALUES (%s, EXTRACT(EPOCH FROM clock_timestamp()), %s, %s, %s, %s)",
                        (row_id, self.me, kind, actor, text),
                    )
                    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, row_id))
            except (psycopg.Error, OSError) as exc:
                await self.close()
                raise StoreUnavailable(
                    f"the inbox cannot be written: {exc}; nothing stored"
                ) from exc
        return Queued(row_id)

    async def _connection(self) -> AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await AsyncConnection.connect(
                self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            )
        return self._conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


class Front:
    """What the API hands requests to on an instance of several: the decision
    loop while this instance leads (answered with the decision, as one instance
    does), the inbox otherwise (answered 202 with the row's id)."""

    def __init__(self, writer: Writer, leading: Callable[[], Pipeline | None]) -> None:
        self.writer = writer
        self.leading = leading  # the pipeline while this instance may decide, else None

    async def ingest(
        self,
        signals: list[Signal],
        ext_ids: list[str | None],
        actor: str,
        idem: IdemKey | None = None,
        render: Callable[[Ingested], str] | None = None,
    ) -> Outcome | Queued:
        pipeline = self.leading()
        if pipeline is not None:
            result: Outcome = await pipeline.ingest(signals, ext_ids, actor, idem, render)
            return result
        return await self.writer.put(SIGNALS, actor, signals_payload(signals, ext_ids, idem))

    async def act(
        self, outage_id: int, request: ActionRequest, actor: str, idem: IdemKey | None = None
    ) -> Outcome | Queued:
        pipeline = self.leading()
        if pipeline is not None:
            result: Outcome = await pipeline.act(outage_id, request, actor, idem)
            return result
        return await self.writer.put(ACTION, actor, action_payload(outage_id, request, idem))


class Reader:
    """The leader's side: takes inbox rows into the decision loop, oldest first."""

    def __init__(self, dsn: str, pipeline: Pipeline, poll_s: float = 1.0) -> None:
        self.dsn = dsn
        self.pipeline = pipeline
        self.poll_s = poll_s
        self.taken = 0
        self._flight: set[str] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._conn: AsyncConnection[Any] | None = None
        self._listen: AsyncConnection[Any] | None = None

    async def run(self) -> None:
        listener = asyncio.create_task(self._listener(), name="ha-inbox-listen")
        try:
            while not self._stopping:
                try:
                    await self._once()
                except (psycopg.Error, OSError) as exc:
                    log.warning("the inbox cannot be read now: %s", exc)
                    await self._drop()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await self._drop()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _once(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = await AsyncConnection.connect(
                self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            )
        async with self._conn.cursor() as cur:
            await cur.execute(
                "SELECT id, kind, actor, payload FROM ha_inbox ORDER BY received_at, id LIMIT %s",
                (BATCH + len(self._flight),),
            )
            rows = await cur.fetchall()
        for r in rows:
            if r[0] in self._flight or self._stopping:
                continue
            try:
                self._take(Row(r[0], r[1], r[2], json.loads(r[3])))
            except (OutagedError, ValueError, KeyError, TypeError) as exc:  # not ours to read
                log.error("inbox row %s cannot be read (%s); left in the inbox", r[0], exc)

    def _take(self, row: Row) -> None:
        p = row.payload
        idem = IdemKey(*p["idem"]) if p.get("idem") else None
        if row.kind == SIGNALS:
            signals = [codec.signal_from_row(k, at, el, text) for k, at, el, text in p["signals"]]
            reply = self.pipeline.queue_signals(
                signals, list(p["ext_ids"]), row.actor or None, idem, inbox=row.id
            )
        elif row.kind == ACTION:
            request = ActionRequest(Action(p["action"]), dict(p["fields"]))
            reply = self.pipeline.queue_act(
                int(p["outage"]), request, row.actor, idem, inbox=row.id
            )
        else:
            raise ValueError(f"unknown kind {row.kind!r}")
        self._flight.add(row.id)
        self.taken += 1
        reply.add_done_callback(lambda f: self._done(row, f))

    def _done(self, row: Row, reply: asyncio.Future[Outcome]) -> None:
        self._flight.discard(row.id)
        if reply.cancelled():
            return
        exc = reply.exception()
        if isinstance(exc, StoreUnavailable):  # not decided: still in the inbox, read again
            self._wake.set()
        elif isinstance(exc, StoreError) or exc is not None:
            log.warning("queued %s %s from %s refused: %s", row.kind, row.id, row.actor, exc)

    async def _listener(self) -> None:
        """Wake the reader at each NOTIFY; the poll covers a lost connection."""
        while not self._stopping:
            try:
                conn = await AsyncConnection.connect(
                    self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                )
                self._listen = conn
                await conn.execute(f"LISTEN {CHANNEL}")
                async for _ in conn.notifies():
                    self._wake.set()
            except (psycopg.Error, OSError) as exc:
                log.warning("LISTEN %s lost (%s); polling meanwhile", CHANNEL, exc)
                await asyncio.sleep(self.poll_s)
            finally:
                if self._listen is not None:
                    with contextlib.suppress(Exception):
                        await self._listen.close()
                    self._listen = None

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
