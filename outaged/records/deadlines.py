"""The lifecycle clock (SPEC §4) as pure functions over an outage's deadlines.

Each function takes the current deadlines (name -> Deadline) and returns the
new ones; `now` is always passed in. Names and meanings are listed in
docs/api.md ("Deadlines").
"""

from __future__ import annotations

import dataclasses

from outaged.classify.severity import ON_SITE_S
from outaged.outages.lifecycle import Action
from outaged.outages.model import Outage
from outaged.records.model import Deadline, Record
from outaged.topology.model import Severity

MIN = 60.0
HOUR = 3600.0
ACK_CHECKS = (("ack_15", 15 * MIN), ("ack_30", 30 * MIN), ("ack_45", 45 * MIN))
LEADERSHIP_SEVERITIES = frozenset({Severity.S1, Severity.S2, Severity.S3})
PROGRESS = "progress_"

Deadlines = dict[str, Deadline]


def meet(deadlines: Deadlines, name: str, now: float) -> None:
    found = deadlines.get(name)
    if found is not None and found.met_at is None:
        deadlines[name] = dataclasses.replace(found, met_at=now)


def _unmeet(deadlines: Deadlines, name: str) -> None:
    found = deadlines.get(name)
    if found is not None:
        deadlines[name] = dataclasses.replace(found, met_at=None)


def _fresh(deadlines: Deadlines, name: str, due: float) -> None:
    deadlines[name] = Deadline(name, due)


def on_open(outage: Outage) -> Deadlines:
    """Judged at once: the NOC assists within 10 min, dispatch within 10, leaders within 20."""
    opened = outage.opened_at
    found = {
        "judge": Deadline("judge", opened + 10 * MIN),
        "dispatch": Deadline("dispatch", opened + 10 * MIN),
    }
    if outage.severity in LEADERSHIP_SEVERITIES:
        found["leadership"] = Deadline("leadership", opened + 20 * MIN)
    if outage.restore_by is not None:
        found["restore"] = Deadline("restore", outage.restore_by)
    return found


def on_update(deadlines: Deadlines, outage: Outage, now: float) -> Deadlines:
    """Severity or cause moved: the restore deadline follows; leaders join from S3 up."""
    found = dict(deadlines)
    restore = found.get("restore")
    if outage.restore_by is None:
        found.pop("restore", None)
    elif restore is None or restore.due != outage.restore_by:
        met = None if restore is None else restore.met_at
        found["restore"] = Deadline("restore", outage.restore_by, met)
    if outage.severity in LEADERSHIP_SEVERITIES and "leadership" not in found:
        found["leadership"] = Deadline("leadership", now + 20 * MIN)
    return found


def _dispatched(deadlines: Deadlines, now: float, severity: Severity) -> None:
    for name, after in ACK_CHECKS:
        _fresh(deadlines, name, now + after)
    _fresh(deadlines, "on_site", now + ON_SITE_S[severity])
    if _pending_progress(deadlines) is None:
        _next_progress(deadlines, now)


def _pending_progress(deadlines: Deadlines) -> str | None:
    return next(
        (n for n, d in deadlines.items() if n.startswith(PROGRESS) and d.met_at is None), None
    )


def _next_progress(deadlines: Deadlines, now: float) -> None:
    """Progress is reported every hour while the outage is worked on: progress_1, _2, ..."""
    number = 1 + sum(1 for n in deadlines if n.startswith(PROGRESS))
    _fresh(deadlines, f"{PROGRESS}{number}", now + HOUR)


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
        _dispatched(found, now, severity)
    elif action is Action.REOPEN:
        _dispatched(found, now, severity)
        _unmeet(found, "restore")
        for name in ("verify", "callback", "record", "report"):
            found.pop(name, None)
    elif action is Action.ACK:
        for name, _ in ACK_CHECKS:
            meet(found, name, now)
    elif action is Action.ARRIVE:
        meet(found, "on_site", now)
        found.setdefault("diagnose", Deadline("diagnose", now + 30 * MIN))
    elif action is Action.DIAGNOSE:
        meet(found, "diagnose", now)
        found.setdefault("external_message", Deadline("external_message", now + 10 * MIN))
    elif action is Action.PROGRESS:
        pending = _pending_progress(found)
        if pending is not None:
            meet(found, pending, now)
        _next_progress(found, now)
    elif action is Action.RESTORE:
        meet(found, "restore", now)
        _fresh(found, "verify", now + 5 * MIN)
        pending = _pending_progress(found)
        if pending is not None:  # repaired: no more hourly updates are owed
            del found[pending]
    elif action is Action.VERIFY:
        meet(found, "verify", now)
        _fresh(found, "callback", now + 10 * MIN)
        _fresh(found, "record", now + 24 * HOUR)
        if report_needed:
            _fresh(found, "report", now + 24 * HOUR)
    elif action is Action.VERIFY_FAILED:
        meet(found, "verify", now)
        _unmeet(found, "restore")
        if _pending_progress(found) is None:
            _next_progress(found, now)
    elif action is Action.CALLBACK_DONE:
        meet(found, "callback", now)
    elif action is Action.CLOSE:
        meet(found, "record", now)
    if record.external_message:
        found.setdefault("external_message", Deadline("external_message", now + 10 * MIN))
        meet(found, "external_message", now)
    if record.method and record.result and record.prevention:
        meet(found, "report", now)
    return found


def next_due(deadlines: Deadlines) -> Deadline | None:
    """The earliest deadline not yet met."""
    pending = [d for d in deadlines.values() if d.met_at is None]
    return min(pending, key=lambda d: (d.due, d.name), default=None)
