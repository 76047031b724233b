"""What notifiers exchange: a notice, one queued message, and a delivery outcome.

The ledger emits a `Notice` (who must hear what about an outage). The outbox
turns it into one `Message` per recipient and channel, stored in the same
transaction as the decision, and hands due messages to the channel's
`Notifier`. A notifier only says what happened to each message (`Sent` or
`Failed` with a `Reason` that says whether trying again may help); the retry
policy (`retry.py`) decides what happens next.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Notice:
    """Someone must be told something about an outage; `seq` is its timeline entry."""

    outage: int
    at: float
    to: tuple[str, ...]  # person ids from the topology
    why: str  # the event: "dispatch", "leadership", ...
    text: str
    seq: int = 0
    context: dict[str, Any] = field(default_factory=dict)  # what templates show


class State(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # given up: not retryable, or out of attempts


class Reason(StrEnum):
    """Why a delivery failed; doubles as a metric label."""

    TIMEOUT = "timeout"
    CONNECT = "connect"  # refused, unreachable, DNS, TLS handshake
    AUTH = "auth"  # the server refused our credentials
    TEMPORARY = "temporary"  # SMTP 4xx, HTTP 5xx / 429
    REJECTED = "rejected"  # SMTP 5xx, HTTP 4xx: the peer said no for good
    BAD_ADDRESS = "bad_address"  # the recipient's address cannot be used
    INTERNAL = "internal"  # a bug or an unexpected exception in the notifier

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = frozenset({Reason.TIMEOUT, Reason.CONNECT, Reason.AUTH, Reason.TEMPORARY})


@dataclass(frozen=True, slots=True)
class Message:
    """One notification to one recipient over one channel: an outbox row."""

    outage: int
    seq: int  # the timeline entry that queued it
    event: str
    recipient: str  # person id
    channel: str  # "email", "webhook", "log"
    address: str  # e-mail address, URL, or "" for the log
    lang: str
    context: dict[str, Any]
    created_at: float
    state: State = State.QUEUED
    attempts: int = 0
    next_at: float = 0.0
    sent_at: float | None = None
    last_error: str | None = None
    id: str = ""  # stable across restarts and re-sends: the dedup key as one string

    def __post_init__(self) -> None:
        if not self.id:
            key = f"{self.outage}.{self.seq}.{self.channel}.{self.recipient}.{self.event}"
            object.__setattr__(self, "id", key)

    @property
    def token(self) -> str:
        """`id` with only characters safe in a Message-ID or an HTTP header."""
        return _UNSAFE.sub("_", self.id)

    @property
    def group(self) -> tuple[int, int]:
        """Messages of one notice share it: the notice is delivered when each
        of its recipients got at least one of them."""
        return (self.outage, self.seq)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str


@dataclass(frozen=True, slots=True)
class Failed:
    message_id: str
    reason: Reason
    detail: str

    @property
    def retryable(self) -> bool:
        return self.reason.retryable


Result = Sent | Failed


class Notifier(Protocol):
    """One channel. `send` never raises for a delivery problem: each message gets
    a result, in order, and is only `Sent` once the peer accepted it."""

    channel: str

    async def send(self, messages: Sequence[Message]) -> list[Result]: ...

    async def close(self) -> None: ...
