"""What one decision step takes in and gives back (outaged.pipeline runs the steps).

Callers queue an Intake (signals), an Act (a person's action), a Delivery
(the outbox's report on a message) or a Check (a re-probe after a repair
report); each Intake and Act is answered with an Outcome or an error once its
step has committed. A Step gathers what one
step collects on its way to the store's one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from outaged.dispatch.verification import Verdict
from outaged.errors import OutagedError
from outaged.notify.base import Message, Notice, Result
from outaged.outages.model import Decision, Outage
from outaged.records.actions import ActionRequest
from outaged.records.model import Record
from outaged.signals import Maintenance, Signal
from outaged.store.base import Batch, Idempotent
from outaged.topology.model import Person

T = TypeVar("T")
log = logging.getLogger("outaged.pipeline")  # the decision loop's log

# Wall time a step may hold the event loop in one go: past it, it lets the loop
# answer the API and health checks between chunks of signals (and before the
# election), and a step whose work took longer says so in the log and a metric.
STEP_BUDGET_S = 0.02
# How many turns of the event loop a step past its budget stands aside for. Not
# one: a request needs a few (read it, run the handler, write), and after one the
# step's next chunk would run first. Not a timed sleep either: with nothing else
# to do the loop would sleep in the kernel, and a loaded machine wakes it late.
YIELD_TURNS = 3


class IdempotencyConflict(OutagedError):
    """An Idempotency-Key was reused for a different request."""


@dataclass(frozen=True, slots=True)
class IdemKey:
    key: str
    request_sha256: str


@dataclass(frozen=True, slots=True)
class Ingested:
    accepted: int
    duplicates: int
    decisions: list[Decision]
    # (position in the request, outage id): calls counted on an open outage
    inside: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Replayed:
    """The stored first response to an Idempotency-Key."""

    status: int
    body: str


Outcome = Ingested | Record | Replayed


@dataclass(frozen=True, slots=True)
class Queued:
    """Stored durably for the leader to decide (several instances, outaged.ha): the
    answer of an instance that does not lead, with the inbox row's id."""

    id: str


@dataclass(slots=True)
class Intake:
    signals: list[Signal]
    ext_ids: list[str | None]
    actor: str | None
    idem: IdemKey | None
    reply: asyncio.Future[Outcome] | None
    render: Callable[[Ingested], str] | None = None
    inbox: str | None = None  # the inbox row it came from (deleted by the step's commit)


@dataclass(slots=True)
class Act:
    outage_id: int
    request: ActionRequest
    actor: str
    idem: IdemKey | None
    reply: asyncio.Future[Outcome]
    inbox: str | None = None


@dataclass(slots=True)
class Delivery:
    """The outbox's report on one message; nobody waits for it."""

    message: Message
    result: Result
    complete: bool
    reply: None = None


@dataclass(slots=True)
class Check:
    """The re-probe after a repair report: its results and what they say."""

    outage: int
    signals: list[Signal]
    verdict: Verdict
    reply: None = None


class OutboxPort(Protocol):
    """What the loop needs from the outbox (outaged.notify.outbox.Outbox)."""

    def compose(self, notice: Notice, people: Mapping[str, Person]) -> list[Message]: ...

    def add(self, messages: Iterable[Message]) -> None: ...

    def withdrawn(self, window: str) -> list[Message]: ...

    def drop(self, ids: Iterable[str]) -> None: ...


@dataclass(slots=True)
class Step:
    batch: Batch = field(default_factory=Batch)
    done: list[tuple[asyncio.Future[Outcome], Outcome | BaseException]] = field(
        default_factory=list
    )
    intakes: list[tuple[Intake, int, int, list[tuple[int, int]]]] = field(default_factory=list)
    seen_keys: dict[str, Idempotent] = field(default_factory=dict)  # stored before
    pending: dict[str, Intake | Act] = field(default_factory=dict)  # first use this step
    twins: list[tuple[asyncio.Future[Outcome], Intake | Act]] = field(default_factory=list)
    seen_ext: set[str] = field(default_factory=set)
    items: list[Item] = field(default_factory=list)  # taken in, gathered ones too
    stopping: bool = False
    now: float = 0.0
    before: dict[int, Outage] = field(default_factory=dict)  # the engine's, as the step began
    checks: list[Check] = field(default_factory=list)
    repaired: list[int] = field(default_factory=list)  # repair reported: re-probe
    planned: list[tuple[int, Maintenance]] = field(default_factory=list)  # stored windows
    withdrawn: list[str] = field(default_factory=list)  # outbox rows of called-off ones
    began: float = field(default_factory=time.monotonic)
    held_since: float = field(default_factory=time.monotonic)  # last gave the loop back
    held: float = 0.0  # the longest the step held the loop in one go, seconds
    waited: float = 0.0  # seconds the step waited on purpose (gathering a burst)
    signals: int = 0
    yields: int = 0
    budget_s: float = STEP_BUDGET_S
    taken: float = 0.0  # time.monotonic() when the signals were in, the election began
    decided: float = 0.0  # ... when it ended
    committed: float = 0.0  # ... when the commit was done

    async def pace(self) -> None:
        """Past the budget, stand aside for YIELD_TURNS turns of the event loop so
        it serves what waits (the API, /healthz) before the next chunk."""
        if time.monotonic() - self.held_since > self.budget_s:
            self.gave_back()
            self.yields += 1
            for _ in range(YIELD_TURNS):
                await asyncio.sleep(0)
            self.held_since = time.monotonic()

    def gave_back(self) -> None:
        """The step lets the loop run now (a yield, or an await on the store)."""
        self.held = max(self.held, time.monotonic() - self.held_since)

    def over_budget(self) -> bool:
        """Whether the step's work (its wall time to the commit, less what it waited
        on purpose) took longer than its budget; if so, say in one line where."""
        work = self.committed - self.began - self.waited
        if work <= self.budget_s:
            return False
        log.warning(
            "slow decision step: %.0f ms (%d signals in %.0f ms, yielded %d times;"
            " decisions %.0f ms; commit %.0f ms; held the loop %.0f ms at most)",
            work * 1e3,
            self.signals,
            (self.taken - self.began - self.waited) * 1e3,
            self.yields,
            (self.decided - self.taken) * 1e3,
            (self.committed - self.decided) * 1e3,
            self.held * 1e3,
        )
        return True

    async def aside(self, pending: Awaitable[T]) -> T:
        """Await `pending` (the store's thread, a pause): the loop runs meanwhile."""
        self.gave_back()
        try:
            return await pending
        finally:
            self.held_since = time.monotonic()


STOP = object()
Item = Intake | Act | Delivery | Check
