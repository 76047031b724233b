"""The human side of an outage: its lifecycle record, deadlines and timeline entries."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from outaged.outages.lifecycle import TERMINAL, State

DAEMON = "daemon"  # the actor recorded for what the daemon does by itself


@dataclass(frozen=True, slots=True)
class Record:
    """Lifecycle state of one outage, next to the engine's network view of it."""

    id: int
    state: State = State.OPENED
    assignee: str | None = None
    dispatched_at: float | None = None
    acknowledged_at: float | None = None
    arrived_at: float | None = None
    diagnosed_at: float | None = None
    repair_reported_at: float | None = None
    verified_at: float | None = None
    callback_at: float | None = None
    closed_at: float | None = None
    diagnosis_note: str | None = None
    external_message: str | None = None
    method: str | None = None
    result: str | None = None
    prevention: str | None = None
    cancel_reason: str | None = None
    external_message_en: str | None = None  # the same message for English readers
    eta: float | None = None  # expected restore time, as the interface person said
    eta_note: str | None = None
    calls: int = 0  # customer calls counted on it (from inside its scope, while open)
    updated_at: float | None = None  # the last change people or the network made

    @property
    def active(self) -> bool:
        return self.state not in TERMINAL


class DeadlineStatus(StrEnum):
    PENDING = "pending"
    MET = "met"
    LATE = "late"
    MISSED = "missed"
    VOID = "void"  # the outage was cancelled or merged first


@dataclass(frozen=True, slots=True)
class Deadline:
    """One step of the clock (SPEC §4) as a stored row. `owner` is who owes it
    (a person id, or "noc", "dispatcher", "daemon"); the marks say what the
    daemon already did about it, so a restart sends nothing twice."""

    name: str
    due: float
    met_at: float | None = None
    owner: str = ""
    set_at: float | None = None
    reminded_at: float | None = None  # the reminder went (or was past its use)
    missed_at: float | None = None  # the miss was recorded
    escalated: int = 0  # escalation levels sent (0: none)

    def status(self, now: float, state: State) -> DeadlineStatus:
        if self.met_at is not None:
            return DeadlineStatus.MET if self.met_at <= self.due else DeadlineStatus.LATE
        if state in (State.CANCELLED, State.MERGED):
            return DeadlineStatus.VOID
        return DeadlineStatus.MISSED if now > self.due else DeadlineStatus.PENDING


@dataclass(frozen=True, slots=True)
class Entry:
    """One append-only timeline entry; `seq` counts from 1 per outage."""

    outage: int
    seq: int
    at: float
    actor: str
    kind: str  # an engine event, "notification_queued|sent|failed", or an action name
    payload: dict[str, Any]
