"""What the clock owes now: reminders before a deadline, the miss and escalations after it.

Pure: a function of an outage's deadline rows, the time and the policy. The
rows carry what was already done (`reminded_at`, `missed_at`, `escalated`),
so the daemon only persists the marked rows and sends what `chase` returns;
after a restart the same call finds what came due while it was down and
returns each step once, `late`, never the skipped intermediate ones twice.

Per pending deadline, in order:
- a reminder to whoever owes it, `remind_before` ahead (at most half the
  time it was given);
- at its due time the miss, and the first escalation up the chain
  (interface person -> area manager -> centre manager -> leadership; the
  levels that name nobody are left out by the caller), then one level more
  every `escalate_every`;
- the acknowledgement checks (SPEC §4): a check at 15 or 30 min that finds
  the dispatch not accepted is a reminder to the interface person; the one
  at 45 min reassigns to the next person on the roster (when there is one),
  who must answer within 15 min (`ack_next`, escalated like any other).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from outaged.records.deadlines import ACK_NEXT, DAEMON, Deadlines, role
from outaged.records.model import Deadline

MIN = 60.0
CHECKS = frozenset({"ack_15", "ack_30"})  # a miss here is a reminder, no more
REASSIGN_AT = "ack_45"
CHAIN = ("owner", "area_manager", "centre_manager", "leadership")
ROLES = (*CHAIN, "noc")  # what a chain may name (resolved by outaged.records.ledger)


class Step(StrEnum):
    REMINDER = "reminder"
    MISSED = "deadline_missed"
    ESCALATION = "escalation"
    REASSIGN = "reassigned"


@dataclass(frozen=True, slots=True)
class Policy:
    """`chain`: who hears of a missed step, in order (the first is its owner)."""

    remind_before_s: float = 5 * MIN
    remind_before: Mapping[str, float] = field(default_factory=lambda: {"restore": 30 * MIN})
    escalate_every_s: float = 15 * MIN
    chain: tuple[str, ...] = CHAIN
    late_after_s: float = 60.0  # a step this far past its time says it is late


@dataclass(frozen=True, slots=True)
class Firing:
    deadline: str
    step: Step
    at: float  # when it was due to happen
    level: int = 0  # escalation: the chain levels up to this one are told
    late: bool = False


@dataclass(frozen=True, slots=True)
class Chain:
    """The outage's chain as resolved now: how many levels above the owner name someone,
    and whether the roster has someone to reassign to."""

    levels: int
    can_reassign: bool


def remind_at(d: Deadline, policy: Policy) -> float | None:
    """None: no reminder (the daemon owes it, or it is itself a check)."""
    if role(d.name) == DAEMON or d.name in CHECKS or d.name == REASSIGN_AT:
        return None
    ahead = policy.remind_before.get(d.name, policy.remind_before_s)
    if d.set_at is not None:
        ahead = min(ahead, (d.due - d.set_at) / 2)
    return d.due - ahead if ahead > 0 else None


def _escalates(d: Deadline, chain: Chain, reassigned: bool) -> int:
    """How many escalation levels this deadline can climb: the 45-minute check only
    when there was nobody to reassign to (after a reassignment, `ack_next` climbs)."""
    if d.name in CHECKS or (d.name == REASSIGN_AT and (chain.can_reassign or reassigned)):
        return 0
    return chain.levels


def next_at(d: Deadline, chain: Chain, policy: Policy, reassigned: bool = False) -> float | None:
    """When this deadline next needs the daemon; None: never again."""
    if d.met_at is not None:
        return None
    if d.reminded_at is None and d.missed_at is None:
        at = remind_at(d, policy)
        if at is not None and at < d.due:
            return at
    if d.missed_at is None:
        return d.due
    if d.escalated < _escalates(d, chain, reassigned):
        return d.due + d.escalated * policy.escalate_every_s
    return None


def next_of(deadlines: Deadlines, chain: Chain, policy: Policy) -> float | None:
    moved = ACK_NEXT in deadlines
    times = [t for d in deadlines.values() if (t := next_at(d, chain, policy, moved)) is not None]
    return min(times, default=None)


def chase(
    deadlines: Deadlines, chain: Chain, now: float, policy: Policy
) -> tuple[list[Firing], Deadlines]:
    """What is owed at `now`, and the rows marked as done. A step whose time passed
    while nobody looked is returned once and `late`; a reminder whose deadline is
    already past is skipped (the miss says more), and escalation goes straight to the
    level due now."""
    fired: list[Firing] = []
    found = dict(deadlines)
    moved = ACK_NEXT in deadlines
    for name, d in sorted(deadlines.items(), key=lambda item: (item[1].due, item[0])):
        if d.met_at is not None:
            continue
        marked = d
        reminder = remind_at(d, policy)
        if d.reminded_at is None and d.missed_at is None and reminder is not None:
            if now >= d.due:
                marked = dataclasses.replace(marked, reminded_at=now)
            elif now >= reminder:
                fired.append(_firing(name, Step.REMINDER, reminder, 0, now, policy))
                marked = dataclasses.replace(marked, reminded_at=now)
        if now >= d.due and d.missed_at is None:
            fired.append(_firing(name, Step.MISSED, d.due, 0, now, policy))
            marked = dataclasses.replace(marked, missed_at=now)
            if name in CHECKS:
                fired.append(_firing(name, Step.REMINDER, d.due, 0, now, policy))
            elif name == REASSIGN_AT and chain.can_reassign and not moved:
                fired.append(_firing(name, Step.REASSIGN, d.due, 0, now, policy))
        top = _escalates(d, chain, moved)
        if now >= d.due and marked.escalated < top:
            level = min(top, 1 + int((now - d.due) // policy.escalate_every_s))
            if level > marked.escalated:
                at = d.due + (level - 1) * policy.escalate_every_s
                fired.append(_firing(name, Step.ESCALATION, at, level, now, policy))
                marked = dataclasses.replace(marked, escalated=level)
        if marked is not d:
            found[name] = marked
    return fired, found


def _firing(name: str, step: Step, at: float, level: int, now: float, policy: Policy) -> Firing:
    return Firing(name, step, at, level, late=now - at > policy.late_after_s)
