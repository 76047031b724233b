"""The clock's side of the ledger: what the deadline rows owe now, sent.

`Chase.chase` runs after each evaluation for the outages whose time came
(`Wakeups`): reminders, the one recorded miss per deadline (`_missed`),
escalation along the chain, and reassignment to the next on the roster when the
45-minute check finds the outage not accepted (outaged.dispatch.escalation).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from outaged.dispatch import escalation
from outaged.dispatch.escalation import Firing, Step
from outaged.dispatch.routing import (
    next_on_roster,
    owed_by,
)
from outaged.outages.lifecycle import RULES, Action, State
from outaged.records import deadlines as clock
from outaged.records.books import Books
from outaged.records.model import DAEMON

log = logging.getLogger("outaged.ledger")


class Chase(Books):
    def next_wakeup(self) -> float | None:
        """When the clock next owes a reminder, a miss, an escalation or a reassignment."""
        return self.wakeups.next()

    def chase(self, now: float) -> None:
        """Send what the clock owes now (escalation.chase) for every outage whose time came."""
        for oid in self.wakeups.due(now):
            record = self.records.get(oid)
            if record is None or not record.active:
                continue
            found, levels = self._chain(oid, now)
            before = {name: d.escalated for name, d in self.deadlines[oid].items()}
            fired, marked = escalation.chase(self.deadlines[oid], found, now, self.policy)
            self._set(record, marked)
            grouped: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}
            for firing in fired:
                self._fire(oid, firing, levels, before, now, grouped)
            outage = self.engine.outages[oid]
            for (why, people), steps in grouped.items():  # one message per person and kind
                self._tell(outage, now, people, why, {**steps[0], "steps": steps})
            after = self.wakeups.when(oid)
            if after is not None and after <= now:  # never spin on a step it cannot take
                log.error("outage %d: the clock owes a step it cannot take; retry in 60 s", oid)
                self.wakeups.put(oid, now + 60.0)

    def _fire(
        self,
        oid: int,
        firing: Firing,
        levels: list[tuple[str, ...]],
        before: dict[str, int],
        now: float,
        grouped: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]],
    ) -> None:
        d = self.deadlines[oid][firing.deadline]
        payload: dict[str, Any] = {
            "deadline": d.name,
            "due": d.due,
            "owner": d.owner,
            "scheduled_at": firing.at,
            "late": firing.late,
        }
        extra = {
            "deadline": d.name,
            "deadline_due": d.due,
            "owner": self._person_name(d.owner),
            "late": firing.late,
            "scheduled_at": firing.at,
            "level": firing.level,
        }
        if firing.step is Step.MISSED:
            self._missed(oid, payload, now)
        elif firing.step is Step.REMINDER:
            person = self.records[oid].assignee or d.owner
            people = owed_by(self.index.topology, clock.role(d.name), person)
            self._entry(oid, now, DAEMON, Step.REMINDER.value, {**payload, "to": list(people)})
            if people:
                grouped.setdefault(("reminder", people), []).append(extra)
        elif firing.step is Step.ESCALATION:
            start = min(before.get(d.name, 0), firing.level)
            people = tuple(p for level in levels[start : firing.level] for p in level)
            entry = {**payload, "level": firing.level, "to": list(people)}
            self._entry(oid, now, DAEMON, Step.ESCALATION.value, entry)
            if people:
                grouped.setdefault(("escalation", people), []).append(extra)
        else:
            self._reassign(oid, payload, extra, now)

    def _missed(self, oid: int, payload: dict[str, Any], now: float) -> None:
        """The one place a missed deadline is recorded (its timeline entry)."""
        self._entry(oid, now, DAEMON, Step.MISSED.value, payload)

    def _reassign(
        self, oid: int, payload: dict[str, Any], extra: dict[str, Any], now: float
    ) -> None:
        """Not accepted by the 45-minute check: the next on the roster, who must answer
        within 15 min; the centre manager (and whoever had it) are told."""
        record = self.records[oid]
        outage = self.engine.outages[oid]
        r = self.route(outage, now)
        nxt = next_on_roster(r, record.assignee)
        if nxt is None or record.state not in RULES[Action.ASSIGN][0]:
            return
        previous = record.assignee
        moved = dataclasses.replace(record, state=State.DISPATCHED, assignee=nxt)
        self._set(moved, clock.reassigned(self.deadlines[oid], nxt, now))
        answer_by = self.deadlines[oid][clock.ACK_NEXT].due
        state = {"from": record.state.value, "to": State.DISPATCHED.value}  # states, as for actions
        entry = {**payload, **state, "previous": previous, "assignee": nxt, "answer_by": answer_by}
        self._entry(oid, now, DAEMON, Step.REASSIGN.value, entry)
        told = {**extra, "previous": self._person_name(previous), "answer_by": answer_by}
        self._tell(outage, now, (nxt,), "assign", told)
        others = tuple(p for p in (r.manager, previous) if p and p != nxt)
        self._tell(outage, now, others, "reassigned", told)
