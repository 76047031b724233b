"""SQL and row codecs both stores share (outaged/store/sqlite.py, postgres.py).

The statements are written with SQLite's `?` placeholders; `postgres.py` turns
them into psycopg's `%s` with `pg()`. Each row function maps one core object to
the column tuple both databases store (TEXT JSON, DOUBLE PRECISION times,
64-bit integers) and back.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from outaged.notify.base import Message
from outaged.notify.base import State as Delivery
from outaged.outages.lifecycle import TERMINAL, State
from outaged.outages.model import Status
from outaged.records.model import Deadline, Entry, Record
from outaged.signals import Maintenance
from outaged.store import learned as checkpoint
from outaged.store import outcomes
from outaged.store.base import (
    Batch,
    Idempotent,
    Learned,
    OutageQuery,
    OutageRow,
    QueuedOutcome,
    StoredSignal,
)
from outaged.store.codec import (
    dump,
    outage_from_text,
    outage_to_text,
    signal_from_row,
    signal_kind,
    signal_to_text,
)

T = TypeVar("T")

RECORD_COLUMNS = (
    "state",
    "assignee",
    "dispatched_at",
    "acknowledged_at",
    "arrived_at",
    "diagnosed_at",
    "repair_reported_at",
    "verified_at",
    "callback_at",
    "closed_at",
    "diagnosis_note",
    "external_message",
    "method",
    "result",
    "prevention",
    "cancel_reason",
    "external_message_en",
    "eta",
    "eta_note",
    "calls",
    "updated_at",
)
OUTAGE_COLUMNS = (
    "id",
    "root",
    "area",
    "severity",
    "network_status",
    "occurred_at",
    "opened_at",
    "first_report_at",
    "network_restored_at",
    "cause",
    "core",
    *RECORD_COLUMNS,
)
UPSERT_OUTAGE = (
    f"INSERT INTO outages ({', '.join(OUTAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in OUTAGE_COLUMNS)}) ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in OUTAGE_COLUMNS[1:])
)
SELECT_OUTAGE = f"SELECT area, core, {', '.join(RECORD_COLUMNS)} FROM outages"
TERMINAL_STATES = tuple(s.value for s in TERMINAL)
OUTBOX_COLUMNS = (
    "id",
    "outage_id",
    "seq",
    "event",
    "recipient",
    "channel",
    "address",
    "lang",
    "context",
    "created_at",
    "state",
    "attempts",
    "next_at",
    "sent_at",
    "last_error",
)
INSERT_OUTBOX = (
    f"INSERT INTO outbox ({', '.join(OUTBOX_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in OUTBOX_COLUMNS)}) ON CONFLICT DO NOTHING"
)
UPDATE_OUTBOX = (
    "UPDATE outbox SET channel = ?, address = ?, state = ?, attempts = ?, next_at = ?, "
    "sent_at = ?, last_error = ? WHERE id = ?"
)
DELETE_INBOX = "DELETE FROM ha_inbox WHERE id = ?"  # rows the step decided (outaged.ha)
INSERT_OUTCOME = (  # what they were answered (outaged.store.outcomes reads them)
    "INSERT INTO ha_outcomes (id, kind, status, body, decided_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO NOTHING"
)
SELECT_OUTBOX = f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM outbox"


INSERT_SIGNAL = (
    "INSERT INTO signals (seq, at, received_at, kind, element, ext_id, actor, "
    "until_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SINCE = (
    "FROM signals WHERE (at >= ? OR kind = 'manual' OR (kind = 'maintenance' AND until_at >= ?)) "
    "AND seq > ? ORDER BY seq LIMIT ?"  # a range of the primary key: pages cost their size
)
SIGNALS_SINCE = f"SELECT seq, kind, at, element, payload, received_at, ext_id, actor {_SINCE}"
REPLAY_SINCE = f"SELECT seq, kind, at, element, payload {_SINCE}"
DELETE_DEADLINES = "DELETE FROM deadlines WHERE outage_id = ?"
INSERT_DEADLINE = (
    "INSERT INTO deadlines (outage_id, name, due, met_at, owner, set_at, "
    "reminded_at, missed_at, escalated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_EVENT = (
    "INSERT INTO outage_events (outage_id, seq, at, actor, kind, payload) VALUES (?, ?, ?, ?, ?, ?)"
)
INSERT_IDEMPOTENCY = (
    "INSERT INTO idempotency (key, request_sha256, status, body, created_at) VALUES (?, ?, ?, ?, ?)"
)


def batch_rows(batch: Batch) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The statements that write `batch`, in order, each with its rows (a
    deadline list replaces the outage's: its old rows are deleted first)."""
    found = [
        (INSERT_SIGNAL, [signal_row(s) for s in batch.signals]),
        (UPSERT_OUTAGE, [outage_row(r) for r in batch.outages]),
        (DELETE_DEADLINES, [(oid,) for oid in batch.deadlines]),
        (
            INSERT_DEADLINE,
            [(oid, *deadline_row(d)) for oid, ds in batch.deadlines.items() for d in ds],
        ),
        (INSERT_EVENT, [event_row(e) for e in batch.entries]),
        (INSERT_IDEMPOTENCY, [idempotent_row(i) for i in batch.idempotent]),
        (INSERT_OUTBOX, [outbox_row(m) for m in batch.outbox]),
        (UPDATE_OUTBOX, [outbox_update_row(m) for m in batch.outbox_updates]),
        (DELETE_INBOX, [(i,) for i in batch.inbox]),
        (INSERT_OUTCOME, [(o.id, o.kind, o.status, o.body, o.decided_at) for o in batch.outcomes]),
        *checkpoint.rows(batch.learned),
    ]
    return [(sql, rows) for sql, rows in found if rows]


def recoverable_query(restored_since: float) -> tuple[str, tuple[Any, ...]]:
    marks = ", ".join("?" for _ in TERMINAL_STATES)
    sql = (
        f"{SELECT_OUTAGE} WHERE state NOT IN ({marks}) OR network_status IN (?, ?) "
        "OR (network_status = ? AND network_restored_at >= ?) ORDER BY id"
    )
    # RELEASED: ended by a person, its evidence still set aside (outages/release.py)
    held = (Status.OPEN.value, Status.RELEASED.value)
    return sql, (*TERMINAL_STATES, *held, Status.RESTORED.value, restored_since)


def outages_query(query: OutageQuery) -> tuple[str, tuple[Any, ...]]:
    where: list[str] = []
    args: list[Any] = []
    for column, values in (("state", query.states), ("severity", query.severities)):
        if values is not None:
            where.append(f"{column} IN ({', '.join('?' for _ in values)})")
            args += sorted(values)
    for clause, value in (
        ("area = ?", query.area),
        ("opened_at >= ?", query.since),
        ("opened_at < ?", query.until),
    ):
        if value is not None:
            where.append(clause)
            args.append(value)
    sql = SELECT_OUTAGE + (f" WHERE {' AND '.join(where)}" if where else "")
    return sql + " ORDER BY id DESC LIMIT ?", (*args, query.limit)


def pg(sql: str) -> str:
    """A statement of this module with psycopg's placeholders (none of them holds
    a literal `?` or `%`)."""
    return sql.replace("?", "%s")


def event_row(e: Entry) -> tuple[Any, ...]:
    return (e.outage, e.seq, e.at, e.actor, e.kind, dump(e.payload))


def idempotent_row(i: Idempotent) -> tuple[Any, ...]:
    return (i.key, i.request_sha256, i.status, i.body, i.created_at)


def outbox_update_row(m: Message) -> tuple[Any, ...]:
    return (
        m.channel,
        m.address,
        m.state.value,
        m.attempts,
        m.next_at,
        m.sent_at,
        m.last_error,
        m.id,
    )


def row_entry(outage_id: int, row: tuple[Any, ...]) -> Entry:
    seq, at, actor, kind, payload = row
    return Entry(outage_id, seq, at, actor, kind, json.loads(payload))


def chunks(items: list[T], size: int = 500) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def deadline_row(d: Deadline) -> tuple[object, ...]:
    return (d.name, d.due, d.met_at, d.owner, d.set_at, d.reminded_at, d.missed_at, d.escalated)


def stored_signal(row: tuple[Any, ...]) -> StoredSignal:
    """A row of SIGNALS_SINCE decoded."""
    seq, kind, at, element, payload, received, ext_id, actor = row
    return StoredSignal(seq, signal_from_row(kind, at, element, payload), received, ext_id, actor)


def signal_row(stored: StoredSignal) -> tuple[Any, ...]:
    signal = stored.signal
    until = signal.end if isinstance(signal, Maintenance) else None
    return (
        stored.seq,
        signal.at,
        stored.received_at,
        signal_kind(signal),
        signal.element,
        stored.ext_id,
        stored.actor,
        until,
        signal_to_text(signal),
    )


def outage_row(row: OutageRow) -> tuple[Any, ...]:
    o, r = row.outage, row.record
    values: list[Any] = [
        o.id,
        o.root,
        row.area,
        o.severity.value,
        o.status.value,
        o.occurred_at,
        o.opened_at,
        o.first_report_at,
        o.restored_at,
        o.cause,
        outage_to_text(o),
    ]
    values += [getattr(r, c) for c in RECORD_COLUMNS]
    values[len(OUTAGE_COLUMNS) - len(RECORD_COLUMNS)] = r.state.value
    return tuple(values)


def row_outage(row: tuple[Any, ...]) -> OutageRow:
    area, core, *record = row
    outage = outage_from_text(core)
    fields = dict(zip(RECORD_COLUMNS, record, strict=True))
    fields["state"] = State(fields["state"])
    return OutageRow(outage, Record(id=outage.id, **fields), area)


def outbox_row(m: Message) -> tuple[Any, ...]:
    return (
        m.id,
        m.outage,
        m.seq,
        m.event,
        m.recipient,
        m.channel,
        m.address,
        m.lang,
        dump(m.context),
        m.created_at,
        m.state.value,
        m.attempts,
        m.next_at,
        m.sent_at,
        m.last_error,
    )


def row_message(row: tuple[Any, ...]) -> Message:
    (mid, outage, seq, event, recipient, channel, address, lang, context) = row[:9]
    created_at, state, attempts, next_at, sent_at, last_error = row[9:]
    return Message(
        outage=outage,
        seq=seq,
        event=event,
        recipient=recipient,
        channel=channel,
        address=address,
        lang=lang,
        context=json.loads(context),
        created_at=created_at,
        state=Delivery(state),
        attempts=attempts,
        next_at=next_at,
        sent_at=sent_at,
        last_error=last_error,
        id=mid,
    )


class Reads(ABC):
    """The queries both stores ask the same way, over the backend's two threads:
    `_read` runs a statement on the reader connection (the backend's `_read_sync`,
    on `_read_thread`), `_run(self._query, ...)` on the writer (on `_thread`: what
    recovery and the outbox read must see the last commit of this process).
    Statements have `?` placeholders; a lookup of many values is the backend's
    `_among` clause, `IN_CHUNK` values a statement."""

    IN_CHUNK: int
    NO_LIMIT: int | None  # what LIMIT takes for "all rows"
    _thread: ThreadPoolExecutor  # the writer's one thread
    _read_thread: ThreadPoolExecutor  # the reader's one thread

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, fn, *args)

    async def _read(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_thread, self._read_sync, sql, args)

    @abstractmethod
    def _read_sync(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of `sql` on the reader connection (on the reader thread)."""

    @abstractmethod
    def _query(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _among(self, column: str, values: list[Any]) -> tuple[str, tuple[Any, ...]]:
        """The clause "`column` is one of `values`" and its arguments."""

    async def _lookup(
        self, sql: str, column: str, values: Sequence[Any], writer: bool = True
    ) -> list[tuple[Any, ...]]:
        """Rows of `sql` (its `{among}` the clause for `column`), a chunk of
        `values` at a time, on the writer or the reader."""
        found: list[tuple[Any, ...]] = []
        for chunk in chunks(list(values), self.IN_CHUNK):
            clause, args = self._among(column, chunk)
            statement = sql.format(among=clause)
            if writer:
                found += await self._run(self._query, statement, args)
            else:
                found += await self._read(statement, args)
        return found

    async def queued(self, inbox_id: str) -> QueuedOutcome | bool:
        return outcomes.found(await self._read(outcomes.SELECT, (inbox_id, inbox_id)))

    async def recoverable(self, restored_since: float) -> list[OutageRow]:
        rows = await self._run(self._query, *recoverable_query(restored_since))
        return [row_outage(r) for r in rows]

    async def signals_since(
        self, since: float, after_seq: int = 0, limit: int | None = None
    ) -> list[StoredSignal]:
        return [stored_signal(r) for r in await self.signal_rows_since(since, after_seq, limit)]

    async def signal_rows_since(
        self, since: float, after_seq: int = 0, limit: int | None = None
    ) -> list[tuple[Any, ...]]:
        args = (since, since, after_seq, self.NO_LIMIT if limit is None else limit)
        return await self._run(self._query, SIGNALS_SINCE, args)

    async def replay_rows_since(
        self, since: float, after_seq: int = 0, limit: int | None = None
    ) -> list[tuple[Any, ...]]:
        args = (since, since, after_seq, self.NO_LIMIT if limit is None else limit)
        return await self._run(self._query, REPLAY_SINCE, args)

    async def last_ids(self) -> tuple[int, int]:
        sql = "SELECT (SELECT MAX(id) FROM outages), (SELECT MAX(seq) FROM signals)"
        ((outage, seq),) = await self._run(self._query, sql, ())
        return outage or 0, seq or 0

    async def learned(self) -> Learned | None:
        state = await self._run(self._query, checkpoint.SELECT_STATE, ())
        if not state:
            return None
        return checkpoint.found(state, await self._run(self._query, checkpoint.SELECT_COUNTS, ()))

    async def last_seqs(self, outage_ids: Sequence[int]) -> dict[int, int]:
        sql = "SELECT outage_id, MAX(seq) FROM outage_events WHERE {among} GROUP BY outage_id"
        return {oid: seq for oid, seq in await self._lookup(sql, "outage_id", outage_ids)}

    async def known_ext_ids(self, ext_ids: Sequence[str]) -> set[str]:
        sql = "SELECT ext_id FROM signals WHERE {among}"
        return {row[0] for row in await self._lookup(sql, "ext_id", ext_ids)}

    async def outbox_open(self) -> list[Message]:
        sql = (
            f"{SELECT_OUTBOX} WHERE (outage_id, seq) IN "
            "(SELECT outage_id, seq FROM outbox WHERE state = ?) ORDER BY next_at, id"
        )
        rows = await self._run(self._query, sql, (Delivery.QUEUED.value,))
        return [row_message(r) for r in rows]

    async def idempotent(self, key: str) -> Idempotent | None:
        sql = "SELECT key, request_sha256, status, body, created_at FROM idempotency WHERE key = ?"
        rows = await self._run(self._query, sql, (key,))
        return Idempotent(*rows[0]) if rows else None

    async def outage(self, outage_id: int) -> OutageRow | None:
        rows = await self._read(f"{SELECT_OUTAGE} WHERE id = ?", (outage_id,))
        return row_outage(rows[0]) if rows else None

    async def outages(self, query: OutageQuery) -> list[OutageRow]:
        return [row_outage(r) for r in await self._read(*outages_query(query))]

    async def timeline(self, outage_id: int) -> list[Entry]:
        sql = (
            "SELECT seq, at, actor, kind, payload FROM outage_events WHERE outage_id = ? "
            "ORDER BY seq"
        )
        return [row_entry(outage_id, r) for r in await self._read(sql, (outage_id,))]

    async def deadlines(self, outage_ids: Sequence[int]) -> dict[int, list[Deadline]]:
        found: dict[int, list[Deadline]] = {oid: [] for oid in outage_ids}
        sql = (
            "SELECT outage_id, name, due, met_at, owner, set_at, reminded_at, missed_at, "
            "escalated FROM deadlines WHERE {among} ORDER BY due, name"
        )
        for oid, *row in await self._lookup(sql, "outage_id", outage_ids, writer=False):
            found[oid].append(Deadline(*row))
        return found

    async def outbox(self, outage_id: int) -> list[Message]:
        sql = f"{SELECT_OUTBOX} WHERE outage_id = ? ORDER BY seq, id"
        return [row_message(r) for r in await self._read(sql, (outage_id,))]
