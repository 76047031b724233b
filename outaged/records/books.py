"""What the ledger holds in memory and how it writes a change down.

`Books` is the base of `outaged.records.ledger.Ledger`: the records, deadline rows
and timeline sequence numbers, the changes since the last drain (`Changes`, the
store's unit of commit), who an outage concerns (`route`), and the bookkeeping
every side of the ledger shares: set a record and its deadlines, append a
timeline entry, queue a notice. The sides are `outaged.records.chase` (the
clock), `outaged.records.calls` (the call centre) and the ledger itself (the
network's decisions and people's actions).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from outaged.dispatch import escalation
from outaged.dispatch.escalation import Chain, Policy
from outaged.dispatch.routing import (
    Route,
    escalation_levels,
    next_on_roster,
    route,
)
from outaged.dispatch.wakeups import Wakeups
from outaged.notify.base import Notice
from outaged.notify.summary import summarize
from outaged.outages.engine import Engine
from outaged.outages.model import Decision, Outage
from outaged.records import deadlines as clock
from outaged.records.model import DAEMON, Deadline, Entry, Record
from outaged.signals import Report
from outaged.zones import parse_zone


@dataclass(slots=True)
class Changes:
    """What the ledger changed since the last drain: the store's unit of commit."""

    records: dict[int, Record] = field(default_factory=dict)
    deadlines: dict[int, list[Deadline]] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    outages: dict[int, Outage] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)


class Books:
    def __init__(self, engine: Engine, policy: Policy | None = None, now: float = 0.0) -> None:
        """`policy`: reminders and escalation (outaged.dispatch.escalation)."""
        self.engine = engine
        self.policy = policy or Policy()
        self.wakeups = Wakeups()  # when each open outage next needs the clock
        self._now = now  # the latest time the ledger was told
        self.index = engine.index
        self.records: dict[int, Record] = {}
        self.deadlines: dict[int, clock.Deadlines] = {}
        self.seqs: dict[int, int] = {}
        self._areas: dict[int, str] = {}  # as stored, for roots the topology lost
        self._changes = Changes()
        self._zone: tuple[str | None, tzinfo | None] | None = None
        self._calls: dict[tuple[int, str], list[Report]] = {}  # counted, not yet on a timeline
        # active records whose outage the engine does not hold open (restored and not
        # yet verified or closed, detached): few, so `inside` checks them one by one
        self._aside: set[int] = set()

    def route(self, outage: Outage, now: float) -> Route:
        """Who this outage concerns now (the on-duty interface person first)."""
        topology = self.index.topology
        communities = outage.scope.communities_touched
        return route(topology, outage.root, outage.severity, communities, now, self._tz())

    def _tz(self) -> tzinfo | None:
        """The topology's zone (shifts are written in it); None: the machine's."""
        name = self.index.topology.timezone
        if self._zone is None or self._zone[0] != name:
            self._zone = (name, parse_zone(name))
        return self._zone[1]

    def _tell(
        self,
        outage: Outage,
        now: float,
        people: tuple[str, ...],
        why: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if people:
            text = f"{outage.severity.value} outage at {outage.root}: {outage.reason}"
            self._notify(Notice(outage.id, now, people, why, text), extra)

    def _person_name(self, pid: str | None) -> str:
        person = self.index.topology.people.get(pid or "")
        return person.name if person is not None else (pid or "")

    def _chain(self, oid: int, now: float) -> tuple[Chain, list[tuple[str, ...]]]:
        """The escalation levels as the topology says now (a reload changes who hears),
        and whether the roster has someone to reassign to."""
        r = self.route(self.engine.outages[oid], now)
        levels = escalation_levels(self.index.topology, r, self.policy.chain)
        nxt = next_on_roster(r, self.records[oid].assignee)
        return Chain(len(levels), nxt is not None), levels

    def _set(self, record: Record, deadlines: clock.Deadlines) -> None:
        self.records[record.id] = record
        self.deadlines[record.id] = deadlines
        self._track(record.id)
        self._changes.records[record.id] = record
        self._changes.deadlines[record.id] = list(deadlines.values())
        self._changes.outages[record.id] = self.engine.outages[record.id]
        self._schedule(record.id)

    def _track(self, oid: int) -> None:
        """Keep `_aside` current: called wherever a record or its engine outage moves."""
        record = self.records.get(oid)
        if record is not None and record.active and not self.engine.is_open(oid):
            self._aside.add(oid)
        else:
            self._aside.discard(oid)

    def _schedule(self, oid: int) -> None:
        record = self.records[oid]
        if not record.active:
            self.wakeups.put(oid, None)
            return
        found, _ = self._chain(oid, self._now)
        self.wakeups.put(oid, escalation.next_of(self.deadlines[oid], found, self.policy))

    def _entry(self, oid: int, at: float, actor: str, kind: str, payload: dict[str, Any]) -> None:
        self.seqs[oid] = seq = self.seqs.get(oid, 0) + 1
        self._changes.entries.append(Entry(oid, seq, at, actor, kind, payload))

    def _notify(self, notice: Notice, extra: dict[str, Any] | None = None) -> None:
        oid = notice.outage
        payload = {"to": list(notice.to), "why": notice.why}
        self._entry(oid, notice.at, DAEMON, "notification_queued", payload)
        context = summarize(
            self.engine.outages[oid], self.records[oid], self.deadlines[oid], self.index
        )
        context |= extra or {}
        self._changes.notices.append(
            dataclasses.replace(notice, seq=self.seqs[oid], context=context)
        )
