"""The outage record (故障单) as the core sees it, and the decisions about it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from outaged.classify.scope import Scope
from outaged.correlate.spikes import Suspicion
from outaged.outages import reasons
from outaged.outages.reasons import Why
from outaged.topology.model import Severity


class Status(StrEnum):
    """What the engine makes of an outage's fault (the lifecycle is the ledger's)."""

    OPEN = "open"
    RESTORED = "restored"
    MERGED = "merged"
    # Ended by a person (cancel, close) while its evidence was still seen: no longer
    # followed, the evidence it held set aside until it clears (then RESTORED).
    RELEASED = "released"


class Event(StrEnum):
    OPENED = "outage_opened"
    UPDATED = "outage_updated"
    RESTORED = "outage_restored"
    MERGED = "outage_merged"
    RELEASED = "outage_released"  # a person ended it: the engine lets go of it


@dataclass(frozen=True, slots=True)
class Outage:
    id: int
    root: str
    status: Status
    severity: Severity
    occurred_at: float  # the fault's first signal: deadlines run from here
    opened_at: float
    first_report_at: float | None
    restore_by: float | None
    on_site_by: float
    scope: Scope
    confidence: float
    reason: str
    evidence: tuple[str, ...]  # elements whose signals it explains (the first EVIDENCE_SHOWN)
    cause: str | None = None  # "fibre", "power", ... (set by diagnosis or a passive root)
    cause_diagnosed: bool = False  # a person set the cause: it outlives re-rooting
    possible_cause: str | None = None  # a passive element right above the root
    lost_redundancy: tuple[str, ...] = ()
    flapping: bool = False
    degraded: bool = False
    restored_at: float | None = None
    merged_into: int | None = None
    evidence_count: int = 0  # all of them: a storm explains thousands
    why: Why = ()  # `reason` as structured phrases, for readers in other languages
    released_at: float | None = None  # cancelled or closed: no longer followed since
    set_aside: tuple[str, ...] = ()  # elements whose evidence at the release stays aside
    follows: tuple[int, ...] = ()  # ended outages in its area that it came after
    # Report evidence it remembers, (element, reason, first_at): customers who stop
    # calling have not seen a repair, so this goes only on a sign of recovery.
    held: tuple[tuple[str, str, float], ...] = ()
    quiet: bool = False  # only remembered reports left: restoration needs confirming
    # A dispatcher set the severity: what the scope said then. The scope raises it
    # again only by growing past that (SPEC §3: it never falls on its own).
    severity_basis: Severity | None = None


EVIDENCE_SHOWN = 100


@dataclass(frozen=True, slots=True)
class Decision:
    at: float
    event: Event
    outage: Outage
    reason: str
    why: Why = ()  # `reason` as structured phrases (outaged.outages.reasons)

    def to_json(self) -> dict[str, Any]:
        o = self.outage
        return {
            "at": iso(self.at),
            "event": self.event.value,
            "outage": o.id,
            "root": o.root,
            "severity": o.severity.value,
            "restore_by": iso(o.restore_by),
            "on_site_by": iso(o.on_site_by),
            "occurred_at": iso(o.occurred_at),
            "status": o.status.value,
            "affected_elements": o.scope.elements,
            "affected_subscribers": o.scope.subscribers,
            "communities": list(o.scope.communities_touched),
            "partial": not o.scope.whole,
            "parts": list(o.scope.parts),
            "confidence": round(o.confidence, 2),
            "cause": o.cause,
            "possible_cause": o.possible_cause,
            "lost_redundancy": list(o.lost_redundancy),
            "flapping": o.flapping,
            "merged_into": o.merged_into,
            "released_at": iso(o.released_at),
            "follows": list(o.follows),
            "set_aside": list(o.set_aside[:EVIDENCE_SHOWN]),
            "set_aside_count": len(o.set_aside),
            "awaiting_confirmation": o.quiet,
            "reason": self.reason,
            "reason_parts": reasons.to_json(self.why),
        }


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    # Truncate to whole milliseconds first: fromtimestamp() rounds to microseconds,
    # which can carry into the next millisecond and print a time after `ts`.
    # A number no datetime holds (past 9999, NaN) is no time: null, never an error.
    try:
        ms = math.floor(ts * 1000)
        moment = datetime.fromtimestamp(ms // 1000, UTC) + timedelta(milliseconds=ms % 1000)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def suspicion_json(found: Suspicion) -> dict[str, Any]:
    """A suspected concentration as a decision line: the NOC is asked to check."""
    return {
        "at": iso(found.at),
        "event": "suspected",
        "element": found.element,
        "class": found.cls.value,
        "first_at": iso(found.first_at),
        "reporters": found.reporters,
        "subscribers": found.subscribers,
        "p_value": float(f"{found.p_value:.3g}"),
        "reason": "calls concentrate here more than usual, but not beyond chance city-wide: "
        "NOC to confirm",
    }
