"""The store interface: what the daemon needs from a database, nothing more.

One implementation per backend (`sqlite.py` now, PostgreSQL next). Writes go
through `commit(batch)`, one transaction per decision step, so a decision and
everything it changed are durable together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from outaged.correlate.baselines import Snapshot
from outaged.notify.base import Message
from outaged.outages.model import Outage
from outaged.records.model import Deadline, Entry, Record
from outaged.signals import Signal


@dataclass(frozen=True, slots=True)
class StoredSignal:
    seq: int
    signal: Signal
    received_at: float
    ext_id: str | None = None  # a report's call-centre id, unique
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class OutageRow:
    """One outage as stored: the engine's network view plus the lifecycle record."""

    outage: Outage
    record: Record
    area: str


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    role: str
    sha256: str
    created_at: float
    revoked_at: float | None = None


@dataclass(frozen=True, slots=True)
class QueuedOutcome:
    """What the leader answered a queued request (outaged.ha.inbox): the status and
    JSON body it would have given directly, stored with the decision."""

    id: str
    kind: str  # "signals" or "action"
    status: int
    body: str
    decided_at: float

    @property
    def refused(self) -> bool:
        return self.status >= 400


@dataclass(frozen=True, slots=True)
class Idempotent:
    """The first response to a request carrying an Idempotency-Key."""

    key: str
    request_sha256: str
    status: int
    body: str
    created_at: float


@dataclass(frozen=True, slots=True)
class OutageQuery:
    states: frozenset[str] | None = None  # lifecycle states; None = any
    severities: frozenset[str] | None = None
    area: str | None = None
    since: float | None = None  # opened at or after
    until: float | None = None  # opened before
    limit: int = 200


@dataclass(frozen=True, slots=True)
class Learned:
    """The learned report baselines as a decision step left them, after the
    signals up to `seq` (outaged.store.learned)."""

    seq: int
    baselines: Snapshot


@dataclass(slots=True)
class Batch:
    """Everything one decision step changed, committed in one transaction."""

    signals: list[StoredSignal] = field(default_factory=list)
    outages: list[OutageRow] = field(default_factory=list)
    deadlines: dict[int, list[Deadline]] = field(default_factory=dict)  # replaces per outage
    entries: list[Entry] = field(default_factory=list)
    idempotent: list[Idempotent] = field(default_factory=list)
    outbox: list[Message] = field(default_factory=list)  # new; a repeated key is kept once
    outbox_updates: list[Message] = field(default_factory=list)  # delivery outcomes
    inbox: list[str] = field(default_factory=list)  # inbox rows decided (outaged.ha), deleted
    outcomes: list[QueuedOutcome] = field(default_factory=list)  # what they were answered
    learned: Learned | None = None  # the baselines' checkpoint, about once a minute

    def __bool__(self) -> bool:
        return bool(
            self.learned
            or self.signals
            or self.outages
            or self.deadlines
            or self.entries
            or self.idempotent
            or self.outbox
            or self.outbox_updates
            or self.inbox
            or self.outcomes
        )


class Store(Protocol):
    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    async def close(self) -> None: ...

    async def commit(self, batch: Batch) -> None:
        """All of `batch` or nothing. StoreUnavailable when the store cannot write
        now (locked, I/O); UnstorableError when it refuses these rows."""

    async def writable(self) -> bool:
        """Whether a write could start now, answered at once (no busy wait)."""

    # ---- recovery ------------------------------------------------------
    async def recoverable(self, restored_since: float) -> list[OutageRow]:
        """Outages still in work, whose fault is still (or was recently) present, or
        released with evidence still set aside."""

    async def signals_since(
        self, since: float, after_seq: int = 0, limit: int | None = None
    ) -> list[StoredSignal]:
        """Signals at or after `since`, plus every manual fault and still-relevant
        maintenance window before it, in the order they were received (by seq);
        only those with a seq above `after_seq`, at most `limit` (None: all), so a
        caller can read them in pages."""

    async def signal_rows_since(
        self, since: float, after_seq: int = 0, limit: int | None = None
    ) -> list[tuple[Any, ...]]:
        """`signals_since` undecoded: (seq, kind, at, element, payload, received_at,
        ext_id, actor) rows, for a reader that decodes only what it needs
        (outaged.store.rows `stored_signal` decodes one)."""

    async def replay_rows_since(
        self, since: float, after_seq: int = 0, limit: int | None = None
    ) -> list[tuple[Any, ...]]:
        """The first five columns of `signal_rows_since`, (seq, kind, at, element,
        payload): what a replay of the signals reads (outaged.recovery.Replay; on
        10^6 rows the three columns fewer save about a third of the read)."""

    async def last_ids(self) -> tuple[int, int]:
        """(highest outage id, highest signal seq), 0 when empty."""

    async def learned(self) -> Learned | None:
        """The last checkpoint of the learned report baselines (None: none yet)."""

    async def last_seqs(self, outage_ids: Sequence[int]) -> dict[int, int]: ...

    async def known_ext_ids(self, ext_ids: Sequence[str]) -> set[str]: ...

    async def outbox_open(self) -> list[Message]:
        """Every message of each notice that still has an undelivered one."""

    # ---- reads ---------------------------------------------------------
    async def outage(self, outage_id: int) -> OutageRow | None: ...

    async def outages(self, query: OutageQuery) -> list[OutageRow]: ...

    async def timeline(self, outage_id: int) -> list[Entry]: ...

    async def deadlines(self, outage_ids: Sequence[int]) -> dict[int, list[Deadline]]: ...

    async def outbox(self, outage_id: int) -> list[Message]: ...

    # ---- tokens and idempotency ---------------------------------------
    async def add_token(self, token: Token) -> None:
        """StoreError if an unrevoked token has that name."""

    async def token_by_hash(self, sha256: str) -> Token | None: ...

    async def tokens(self) -> list[Token]: ...

    async def revoke_token(self, name: str, at: float) -> bool: ...

    async def idempotent(self, key: str) -> Idempotent | None: ...

    # ---- retention -----------------------------------------------------
    async def prune_signals(self, before: float, limit: int) -> int:
        """Delete at most `limit` signals dated before `before` that `signals_since`
        would not return for any `since >= before`: never a manual fault that no
        later "cleared" undoes, a maintenance window still running at `before`,
        or the newest signal (its seq is where numbering resumes). Returns how many."""

    async def prune_idempotency(self, before: float, limit: int) -> int:
        """Delete at most `limit` Idempotency-Key answers created before `before`."""

    # ---- queued requests (outaged.ha) ----------------------------------
    async def queued(self, inbox_id: str) -> QueuedOutcome | bool:
        """The decided outcome of a queued request; True while it waits in the
        inbox, False when the store knows no such id (or pruned its outcome)."""

    async def prune_outcomes(self, before: float, limit: int) -> int:
        """Delete at most `limit` queued outcomes decided before `before`."""
