"""The lifecycle clock (SPEC §4) as pure functions over an outage's deadlines.

Each function takes the current deadlines (name -> Deadline) and returns the
new ones; `now` is always passed in. Names and meanings are listed in
docs/api.md ("Deadlines").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from outaged.classify.severity import ON_SITE_S
from outaged.outages.lifecycle import Action
from outaged.outages.model import Outage
from outaged.records.model import Deadline, Record
from outaged.topology.model import Severity

MIN = 60.0
HOUR = 3600.0
ACK_CHECKS = (("ack_15", 15 * MIN), ("ack_30", 30 * MIN), ("ack_45", 45 * MIN))
ACK_NEXT = "ack_next"  # the next person on the roster answers within 15 min
ANSWER_S = 15 * MIN
ACKS = (*(name for name, _ in ACK_CHECKS), ACK_NEXT)
LEADERSHIP_SEVERITIES = frozenset({Severity.S1, Severity.S2, Severity.S3})
PROGRESS = "progress_"

Deadlines = dict[str, Deadline]

# Who owes each step (SPEC §4 "who"); any other step is the interface person's.
INTERFACE, NOC, DISPATCHER, DAEMON = "interface", "noc", "dispatcher", "daemon"
ROLES = {
    "judge": NOC,
    "dispatch": DAEMON,
    "leadership": DAEMON,
    "verify": NOC,
    "external_message": DISPATCHER,
    "callback": DISPATCHER,
    "record": DISPATCHER,
}


def role(name: str) -> str:
    return ROLES.get(name, INTERFACE)


def owner(name: str, assignee: str | None) -> str:
    """Who owes `name`: the person it is assigned to for the interface person's steps."""
    found = role(name)
    return (assignee or found) if found == INTERFACE else found


def meet(deadlines: Deadlines, name: str, now: float) -> None:
    found = deadlines.get(name)
    if found is not None and found.met_at is None:
        deadlines[name] = dataclasses.replace(found, met_at=now)


def _unmeet(deadlines: Deadlines, name: str) -> None:
    found = deadlines.get(name)
    if found is not None:
        deadlines[name] = dataclasses.replace(found, met_at=None)


def _fresh(
    deadlines: Deadlines, name: str, due: float, now: float, assignee: str | None = None
) -> None:
    deadlines[name] = Deadline(name, due, owner=owner(name, assignee), set_at=now)


def redue(found: Deadline, due: float) -> Deadline:
    """The same step with a new due time: what was done about the old one no longer counts."""
    if found.due == due:
        return found
    return dataclasses.replace(found, due=due, reminded_at=None, missed_at=None, escalated=0)


def _owe(deadlines: Deadlines, assignee: str | None) -> None:
    """The interface person's open steps pass to whoever it is assigned to now."""
    if not assignee:
        return
    for name, d in deadlines.items():
        if d.met_at is None and role(name) == INTERFACE and d.owner != assignee:
            deadlines[name] = dataclasses.replace(d, owner=assignee)


def on_open(outage: Outage) -> Deadlines:
    """Judged at once: the NOC assists within 10 min, dispatch within 10, leaders within 20."""
    opened = outage.opened_at
    found: Deadlines = {}
    _fresh(found, "judge", opened + 10 * MIN, opened)
    _fresh(found, "dispatch", opened + 10 * MIN, opened)
    if outage.severity in LEADERSHIP_SEVERITIES:
        _fresh(found, "leadership", opened + 20 * MIN, opened)
    if outage.restore_by is not None:
        _fresh(found, "restore", outage.restore_by, opened)
    return found


def on_update(
    deadlines: Deadlines, outage: Outage, now: float, record: Record | None = None
) -> Deadlines:
    """Severity or cause moved: the restore deadline follows, so does being on site
    (S1: 30 min after dispatch) while nobody is there; leaders join from S3 up."""
    found = dict(deadlines)
    restore = found.get("restore")
    assignee = None if record is None else record.assignee
    if outage.restore_by is None:
        found.pop("restore", None)
    elif restore is None:
        _fresh(found, "restore", outage.restore_by, now, assignee)
    else:
        found["restore"] = redue(restore, outage.restore_by)
    on_site = found.get("on_site")
    dispatched = None if record is None else record.dispatched_at
    if on_site is not None and on_site.met_at is None and dispatched is not None:
        found["on_site"] = redue(on_site, dispatched + ON_SITE_S[outage.severity])
    if outage.severity in LEADERSHIP_SEVERITIES and "leadership" not in found:
        _fresh(found, "leadership", now + 20 * MIN, now)
    return found


def reassigned(deadlines: Deadlines, assignee: str, now: float) -> Deadlines:
    """Nobody accepted by the 45-minute check: the next person must answer within 15 min."""
    found = dict(deadlines)
    _fresh(found, ACK_NEXT, now + ANSWER_S, now, assignee)
    _owe(found, assignee)
    return found


def _dispatched(deadlines: Deadlines, now: float, severity: Severity, assignee: str | None) -> None:
    for name, after in ACK_CHECKS:
        _fresh(deadlines, name, now + after, now, assignee)
    deadlines.pop(ACK_NEXT, None)
    _fresh(deadlines, "on_site", now + ON_SITE_S[severity], now, assignee)
    if _pending_progress(deadlines) is None:
        _next_progress(deadlines, now, assignee)
    _owe(deadlines, assignee)


def _pending_progress(deadlines: Deadlines) -> str | None:
    return next(
        (n for n, d in deadlines.items() if n.startswith(PROGRESS) and d.met_at is None), None
    )


def _next_progress(deadlines: Deadlines, now: float, assignee: str | None) -> None:
    """Progress is reported every hour while the outage is worked on: progress_1, _2, ..."""
    number = 1 + sum(1 for n in deadlines if n.startswith(PROGRESS))
    _fresh(deadlines, f"{PROGRESS}{number}", now + HOUR, now, assignee)


def after_action(
    deadlines: Deadlines,
    action: Action,
    *,
    human: bool,
    record: Record,
    severity: Severity,
    report_needed: bool,
    now: float,
) -> Deadlines:
    """Deadlines after `action` moved the record to `record` (already updated)."""
    found = dict(deadlines)
    if human:
        meet(found, "judge", now)
    if action in (Action.DISPATCH, Action.ASSIGN):  # "dispatch" is met once it is delivered
        _dispatched(found, now, severity, record.assignee)
    elif action is Action.REOPEN:
        _dispatched(found, now, severity, record.assignee)
        _unmeet(found, "restore")
        for name in ("verify", "callback", "record", "report"):
            found.pop(name, None)
    elif action is Action.ACK:
        for name in ACKS:
            meet(found, name, now)
    elif action is Action.ARRIVE:  # being there says the dispatch was taken
        for name in ACKS:
            meet(found, name, now)
        meet(found, "on_site", now)
        if "diagnose" not in found:
            _fresh(found, "diagnose", now + 30 * MIN, now, record.assignee)
    elif action is Action.DIAGNOSE:
        meet(found, "diagnose", now)
        if "external_message" not in found:
            _fresh(found, "external_message", now + 10 * MIN, now)
    elif action is Action.PROGRESS:
        pending = _pending_progress(found)
        if pending is not None:
            meet(found, pending, now)
        _next_progress(found, now, record.assignee)
    elif action is Action.RESTORE:
        meet(found, "restore", now)
        _fresh(found, "verify", now + 5 * MIN, now)
        pending = _pending_progress(found)
        if pending is not None:  # repaired: no more hourly updates are owed
            del found[pending]
    elif action is Action.VERIFY:
        meet(found, "verify", now)
        _fresh(found, "callback", now + 10 * MIN, now)
        _fresh(found, "record", now + 24 * HOUR, now)
        if report_needed:
            _fresh(found, "report", now + 24 * HOUR, now, record.assignee)
    elif action is Action.VERIFY_FAILED:
        meet(found, "verify", now)
        _unmeet(found, "restore")
        if _pending_progress(found) is None:
            _next_progress(found, now, record.assignee)
    elif action is Action.CALLBACK_DONE:
        meet(found, "callback", now)
    elif action is Action.CLOSE:
        meet(found, "record", now)
    if record.external_message:
        if "external_message" not in found:
            _fresh(found, "external_message", now + 10 * MIN, now)
        meet(found, "external_message", now)
    if record.method and record.result and record.prevention:
        meet(found, "report", now)
    return found


AT_RISK_S = 15 * MIN


def at_risk(deadlines: Iterable[Deadline], now: float, within: float = AT_RISK_S) -> list[Deadline]:
    """Open steps already missed or due within `within`: what a dispatcher chases first."""
    found = [d for d in deadlines if d.met_at is None and d.due <= now + within]
    return sorted(found, key=lambda d: (d.due, d.name))


def next_due(deadlines: Deadlines) -> Deadline | None:
    """The earliest deadline not yet met."""
    pending = [d for d in deadlines.values() if d.met_at is None]
    return min(pending, key=lambda d: (d.due, d.name), default=None)
