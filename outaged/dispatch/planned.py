"""Planned work (割接) notices (issue 10 §5), pure.

A declared window tells customer service (the call centre) and the NOC twice:
`LEAD_S` before it starts (at once if that is already past) and when it ends.
Both are outbox rows written with the window, due at those times, so they
survive a restart like any undelivered notification. They belong to no outage
(`outage` 0) and are keyed by the window's stored signal number (`seq`).
Calling the window off withdraws what has not gone out yet.
"""

from __future__ import annotations

import hashlib
from typing import Any

from outaged.notify.base import Notice
from outaged.signals import Maintenance
from outaged.topology.model import Topology

LEAD_S = 600.0  # the notice before the work: 10 min
BEFORE, AFTER = "maint_before", "maint_after"
EVENTS = (BEFORE, AFTER)
NO_OUTAGE = 0


def window_key(window: Maintenance) -> str:
    element, start, end = window.key
    return f"{element}@{start:.3f}-{end:.3f}"


def notices(seq: int, window: Maintenance, topology: Topology, now: float) -> list[Notice]:
    people = tuple(dict.fromkeys((*topology.call_centre, *topology.noc)))
    if not people or window.cancelled or window.end <= now:
        return []
    element = topology.elements.get(window.element)
    context: dict[str, Any] = {
        "window": window_key(window),
        "element": window.element,
        "element_name": element.name if element is not None and element.name else window.element,
        "start": window.start,
        "end": window.end,
        "note": window.note,
        "declared_by": window.actor,
        "late": window.start - LEAD_S < now,
    }
    text = f"planned work at {window.element}"
    before = max(now, window.start - LEAD_S)
    return [
        Notice(NO_OUTAGE, before, people, BEFORE, text, seq, context),
        Notice(NO_OUTAGE, window.end, people, AFTER, text, seq, context),
    ]


def window_id(window: Maintenance) -> str:
    """A stable short id for a window (the same after a restart): for `maint cancel`."""
    return hashlib.sha256(window_key(window).encode()).hexdigest()[:12]


def listed(windows: list[Maintenance], now: float) -> list[Maintenance]:
    """Windows under way or to come, in order of start (one per element, start and end)."""
    found = {w.key: w for w in windows if w.end > now and not w.cancelled}
    return sorted(found.values(), key=lambda w: (w.start, w.element))
