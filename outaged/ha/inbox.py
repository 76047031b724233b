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

A row the leader cannot decide never holds up the rows behind it: one that
cannot be read (not JSON, an unknown kind, a payload that is no request), or
one whose step refuses it the same way each time (UnstorableError), is given
up at once; one whose own decision step fails (a bug; a failed step is
retried alone by the pipeline) after MAX_TRIES tries. Given up = its refusal
(422, naming the row, its kind, the stage and the error; outaged.api.queued
renders it) and the inbox row's deletion in one transaction, fenced like a
decision commit (the store's fence hook), so a deposed leader writes none.
The tries are counted in the leader's memory: a new leader counts again.
The store failing (StoreUnavailable, the fence) is never the row's fault:
not counted, the row is read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection

from outaged.errors import OutagedError, StoreError, StoreUnavailable, UnstorableError
from outaged.ha.keeper import CONNECT_TIMEOUT_S
from outaged.outages.lifecycle import Action
from outaged.pipeline import Pipeline
from outaged.records.actions import INTERNAL, ActionRequest
from outaged.signals import Signal
from outaged.steps import Act, IdemKey, Ingested, Intake, Outcome, Queued, Step
from outaged.store import codec
from outaged.store.base import Batch, QueuedOutcome

log = logging.getLogger("outaged.ha")

CHANNEL = "outaged_inbox"
BATCH = 500  # rows the leader takes in one read
SIGNALS, ACTION = "signals", "action"
MAX_TRIES = 3  # a request whose own decision step failed this often is given up
# Why a row is given up (the metric's label): it cannot be read; its step refuses
# it the same way each time; its step failed MAX_TRIES times.
UNREADABLE, REFUSED, FAILING = "unreadable", "refused", "failing"
REASONS = (UNREADABLE, REFUSED, FAILING)
READ, DECIDE = "read", "decide"  # the stage it was given up at
DONE, RETRY, AGAIN = "done", "retry", "again"  # what else a step's answer means (`verdict`)
_SHOWN = 200  # characters of a row's kind or an error kept in its outcome


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    kind: str
    actor: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GivenUp:
    """A row the leader will not decide, and why (its outcome says it)."""

    row: str
    kind: str
    reason: str  # one of REASONS
    stage: str  # READ or DECIDE
    error: str
    tries: int  # decision steps that failed on it (0: never reached one)


def _shown(text: str) -> str:
    """Text kept in an outcome: printable, bounded."""
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _why(exc: BaseException) -> str:
    return _shown(f"{type(exc).__name__}: {exc}")


def verdict(exc: BaseException | None, tries: int) -> str:
    """Pure: what becomes of a row whose decision step answered `exc`, after
    `tries` failed steps before: DONE (decided; the commit that answered it, a
    refusal too, stored its outcome), RETRY (the store or the fence failed: read
    again, not counted), AGAIN (its step failed: read again, counted), or the
    reason it is given up (REFUSED, FAILING)."""
    if exc is None or not isinstance(exc, StoreError):
        return DONE
    if isinstance(exc, StoreUnavailable):
        return RETRY
    if isinstance(exc, UnstorableError):  # its step refuses it the same way each time
        return REFUSED
    return FAILING if tries + 1 >= MAX_TRIES else AGAIN


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

    def __init__(
        self,
        dsn: str,
        pipeline: Pipeline,
        poll_s: float = 1.0,
        *,
        refuse: Callable[[GivenUp], tuple[int, str]],
        given_up: Counter[str] | None = None,
    ) -> None:
        """`refuse`: the status and JSON body stored for a row given up;
        `given_up`: counted there by reason (the instance's, across leaderships)."""
        self.dsn = dsn
        self.pipeline = pipeline
        self.poll_s = poll_s
        self.refuse = refuse
        self.given_up: Counter[str] = Counter() if given_up is None else given_up
        self.taken = 0
        self._flight: set[str] = set()
        self._tries: dict[str, int] = {}  # failed decision steps per row (this leadership)
        self._dropping: dict[str, GivenUp] = {}  # given up, their outcomes not committed yet
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
        await self._finish()
        if self._conn is None or self._conn.closed:
            self._conn = await AsyncConnection.connect(
                self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            )
        async with self._conn.cursor() as cur:
            await cur.execute(
                "SELECT id, kind, actor, payload FROM ha_inbox WHERE id <> ALL(%s) "
                "ORDER BY received_at, id LIMIT %s",
                ([*self._flight, *self._dropping], BATCH),
            )
            rows = await cur.fetchall()
        for r in rows:
            if self._stopping:
                break
            try:
                self._take(Row(r[0], r[1], r[2], json.loads(r[3])))
            except (OutagedError, ValueError, KeyError, TypeError, AttributeError) as exc:
                self._give_up(GivenUp(r[0], _shown(r[1]), UNREADABLE, READ, _why(exc), 0))
        await self._finish()

    def _take(self, row: Row) -> None:
        p = row.payload
        idem = IdemKey(*p["idem"]) if p.get("idem") else None
        if row.kind == SIGNALS:
            signals = [codec.signal_from_row(k, at, el, text) for k, at, el, text in p["signals"]]
            ext_ids = list(p["ext_ids"])
            if len(ext_ids) != len(signals) or not all(isinstance(e, str | None) for e in ext_ids):
                raise ValueError(f"{len(signals)} signals but ext_ids {_shown(repr(ext_ids))}")
            reply = self.pipeline.queue_signals(
                signals, ext_ids, row.actor or None, idem, inbox=row.id
            )
        elif row.kind == ACTION:
            action, fields = Action(p["action"]), dict(p["fields"])
            if action in INTERNAL or not all(isinstance(v, str) for v in fields.values()):
                raise ValueError(f"not an action a person requests: {_shown(repr(p))}")
            request = ActionRequest(action, fields)
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
        tries = self._tries.pop(row.id, 0)
        found = verdict(exc, tries)
        if found == DONE:
            return
        if found == RETRY:
            self._tries[row.id] = tries
            self._wake.set()
        elif found == AGAIN:
            self._tries[row.id] = tries + 1
            why = f"{tries + 1} of {MAX_TRIES} tries"
            log.warning(
                "queued %s %s failed its decision step (%s): %s", row.kind, row.id, why, exc
            )
            self._wake.set()
        elif exc is not None:  # REFUSED or FAILING
            self._give_up(GivenUp(row.id, row.kind, found, DECIDE, _why(exc), tries + 1))

    def _give_up(self, given: GivenUp) -> None:
        self._tries.pop(given.row, None)
        self._dropping[given.row] = given
        self._wake.set()

    async def _finish(self) -> None:
        """The given-up rows' refusals and deletions, in one fenced commit; kept for
        the next read while that cannot be written (fenced: never, by this leader)."""
        if not self._dropping:
            return
        given = list(self._dropping.values())
        now = self.pipeline.clock()
        outcomes = [QueuedOutcome(g.row, g.kind, *self.refuse(g), now) for g in given]
        try:
            await self.pipeline.store.commit(Batch(inbox=[g.row for g in given], outcomes=outcomes))
        except StoreError as exc:
            log.warning("%d inbox rows given up but not finished yet: %s", len(given), exc)
            return
        for g in given:
            del self._dropping[g.row]
            self.given_up[g.reason] += 1
            log.error(
                "queued %s %s given up (%s at the %s stage, %d tries): %s",
                g.kind,
                g.row,
                g.reason,
                g.stage,
                g.tries,
                g.error,
            )

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
