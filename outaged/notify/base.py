"""One notice, the interface every notifier implements, and the log-only notifier."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("outaged.notify")


@dataclass(frozen=True, slots=True)
class Notice:
    outage: int
    at: float
    to: tuple[str, ...]  # person ids from the topology
    why: str  # "dispatch", "leadership", ...
    text: str


class Notifier(Protocol):
    async def send(self, notice: Notice) -> None: ...


class LogNotifier:
    """Writes each notice to the log: the default when no channel is configured."""

    async def send(self, notice: Notice) -> None:
        log.info(
            "notify outage %d (%s) -> %s: %s",
            notice.outage,
            notice.why,
            ", ".join(notice.to),
            notice.text,
        )
