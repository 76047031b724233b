"""The ledger: engine decisions and people's actions folded into outage records.

Pure and in memory, clock passed in. The daemon drains what changed after each
step and commits it to the store before acknowledging; `replay` uses the same
ledger with no store at all, so both run exactly the same lifecycle code.

The network's decisions and people's actions are here; the clock's chase is in
outaged.records.chase, the call centre's counting in outaged.records.calls, and
the memory and bookkeeping they share in outaged.records.books.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from outaged.dispatch import verification
from outaged.dispatch.verification import Verdict
from outaged.errors import NetworkStillDown, NotFoundError
from outaged.notify.base import Failed, Message, Result
from outaged.notify.base import State as Delivery
from outaged.outages import reasons
from outaged.outages.lifecycle import AFTER_REPAIR, Action, State, transition
from outaged.outages.model import Decision, Event, Outage
from outaged.outages.orphans import REMOVED, Orphan
from outaged.records import deadlines as clock
from outaged.records.actions import MESSAGE_FIELDS, REPORT_FIELDS, ActionRequest
from outaged.records.books import Changes
from outaged.records.calls import Calls
from outaged.records.chase import Chase
from outaged.records.model import DAEMON, Deadline, Record
from outaged.topology.model import Kind, Severity

__all__ = ["Changes", "Ledger"]

# notices whose delivery (to every recipient) is what meets a deadline
_MEETS = {"dispatch": "dispatch", "assign": "dispatch", "leadership": "leadership"}
_ENDING = frozenset({Action.CANCEL, Action.CLOSE})  # the engine lets go of the outage


class Ledger(Chase, Calls):
    """Engine decisions and people's actions folded into records; see the module doc."""

    def load(
        self, record: Record, deadlines: Iterable[Deadline], last_seq: int, area: str = ""
    ) -> None:
        """Take back a persisted record (its engine outage must be adopted already)."""
        self.records[record.id] = record
        self.deadlines[record.id] = {d.name: d for d in deadlines}
        self.seqs[record.id] = last_seq
        if area:
            self._areas[record.id] = area
        self._track(record.id)
        self._schedule(record.id)

    def area(self, outage_id: int) -> str:
        """The maintenance area of the outage's root (as stored if the root is gone)."""
        root = self.index.topology.elements.get(self.engine.outages[outage_id].root)
        return root.area if root is not None else self._areas.get(outage_id, "")

    def mark_removed(self, orphan: Orphan, now: float) -> None:
        """Say on the outage's timeline that elements it names left the topology."""
        payload = {
            "elements": list(orphan.missing),
            "root": orphan.root,
            "watched": orphan.watched,
        }
        self._entry(orphan.outage, now, DAEMON, REMOVED, payload)

    def evict(self, now: float) -> list[int]:
        """Drop outages finished on both sides from memory: the record closed,
        cancelled or merged, and the engine past its relapse window. The store
        keeps them; the daemon loads one back when someone acts on it. Outages
        with changes not yet drained stay. Returns the ids dropped."""
        pending = self._changes.records.keys() | self._changes.outages.keys()
        done = []
        for oid in self.engine.releasable(now):
            record = self.records.get(oid)
            if oid not in pending and (record is None or not record.active):
                done.append(oid)
        for oid in done:
            self.records.pop(oid, None)
            self.deadlines.pop(oid, None)
            self.seqs.pop(oid, None)
            self._areas.pop(oid, None)
            self._aside.discard(oid)
            self.wakeups.put(oid, None)
        self.engine.forget(done)
        return done

    def drain(self) -> Changes:
        self._flush_calls()
        changes, self._changes = self._changes, Changes()
        return changes

    def decide(self, now: float) -> list[Decision]:
        """Evaluate the engine and record what it decided."""
        self._now = max(self._now, now)
        linked = {o.id: o.follows for o in self.engine.open_outages()}
        decisions = self.engine.evaluate(now)
        for decision in decisions:
            self._on_decision(decision, linked.get(decision.outage.id, ()))
        self.chase(now)
        return decisions

    def _on_decision(self, decision: Decision, linked: tuple[int, ...] = ()) -> None:
        """`linked`: the ended outages it already followed before this decision."""
        outage, now = decision.outage, decision.at
        oid = outage.id
        self._changes.decisions.append(decision)
        self._changes.outages[oid] = outage
        if oid not in self.records:
            self._set(Record(oid), clock.on_open(outage))
            self.seqs[oid] = 0
        self._track(oid)  # the engine may have restored, reopened or merged it
        self._entry(oid, now, DAEMON, decision.event.value, decision.to_json())
        if decision.event is Event.OPENED:
            self._link(outage, outage.follows, now)
            route = self.route(outage, now)
            self._apply(oid, Action.DISPATCH, {"assignee": route.interface or ""}, DAEMON, now)
            self._tell(outage, now, route.noc, "noc")  # the NOC assists the judgement
            self._tell(outage, now, route.service_centres, "service_centre")
            self._tell_leaders(outage, now)
        elif not self.records[oid].active:
            return  # an ended record (what it set aside cleared): its timeline only
        elif decision.event is Event.UPDATED:
            # it grew over ended outages' roots: link those, once
            self._link(outage, [f for f in outage.follows if f not in linked], now)
            self.records[oid] = dataclasses.replace(self.records[oid], updated_at=now)
            before = self.deadlines[oid]
            record = self.records[oid]
            self._set(record, clock.on_update(before, outage, now, record))
            if "leadership" not in before:
                self._tell_leaders(outage, now)
            changed = _severity_change(decision)
            if changed is not None:
                self._tell_severity(outage, changed, "leadership" not in before, now)
            if decision.reason.startswith("relapse") and self.records[oid].state in AFTER_REPAIR:
                why = {"reason_parts": reasons.to_json(decision.why)}
                self._apply(oid, Action.REOPEN, {"note": decision.reason}, DAEMON, now, why)
        elif decision.event is Event.MERGED:
            into = {"into": str(outage.merged_into)}
            self._apply(oid, Action.MERGE, into, DAEMON, now)

    def _link(self, outage: Outage, earlier_ids: Iterable[int], now: float) -> None:
        """An outage in the area of ended ones: each timeline points at the other."""
        for earlier in earlier_ids:
            record = self.records.get(earlier)
            if record is None:
                continue
            payload = {"outage": earlier, "state": record.state.value}
            if record.cancel_reason:
                payload["reason"] = record.cancel_reason
            self._entry(outage.id, now, DAEMON, "follows", payload)
            self._entry(earlier, now, DAEMON, "followed_by", {"outage": outage.id})

    def _tell_leaders(self, outage: Outage, now: float) -> None:
        if "leadership" in self.deadlines[outage.id]:
            self._tell(outage, now, self.route(outage, now).leaders, "leadership")

    def _tell_severity(
        self, outage: Outage, change: tuple[Severity, Severity], leaders_told: bool, now: float
    ) -> None:
        """The severity moved: the people of both levels hear it (a rise widens the audience)."""
        old, new = change
        r = self.route(outage, now)
        topology = self.index.topology
        leaders = (
            ()
            if leaders_told
            else tuple(rule.person for rule in topology.leadership if {old, new} & rule.severities)
        )
        area = topology.areas.get(r.area or "")
        managers = (area.area_manager if area is not None else None, r.manager)
        people = (self.records[outage.id].assignee, *managers, *leaders)
        told = tuple(p for p in dict.fromkeys(people) if p)
        self._tell(outage, now, told, "severity_changed", {"old_severity": old.value})

    def act(self, outage_id: int, request: ActionRequest, actor: str, now: float) -> Record:
        """Apply a person's action; TransitionError (nothing changed) if not allowed now."""
        if outage_id not in self.records:
            raise NotFoundError(f"unknown outage {outage_id}")
        self._now = max(self._now, now)
        fields = dict(request.fields)
        before = self.records[outage_id].state
        extra: dict[str, Any] | None = None
        if request.action is Action.VERIFY and actor != DAEMON:
            transition(before, request.action)  # a state that does not allow it comes first
            down = verification.showing_fault(self.engine.outages[outage_id], self.engine.health)
            why = verification.refusal(down, fields)
            if why is not None:
                raise NetworkStillDown(why, before.value, tuple(down))
            extra = {"still_down": down} if down else None  # forced: on the timeline
        self._apply(outage_id, request.action, fields, actor, now, extra)
        if request.action in _ENDING:
            released = self.engine.release(outage_id, now)
            if released is not None:
                self._on_decision(released)
        elif request.action is Action.REOPEN and before is State.CLOSED:
            self.engine.resume(outage_id)
            self._changes.outages[outage_id] = self.engine.outages[outage_id]
        cause = fields.get("cause")
        outage = self.engine.outages[outage_id]
        if request.action is Action.SEVERITY:
            level, reason = Severity(fields["severity"]), fields["reason"]
            self._on_decision(self.engine.set_severity(outage_id, level, reason, now))
        elif request.action is Action.DIAGNOSE and cause is not None and cause != outage.cause:
            self._on_decision(self.engine.set_cause(outage_id, cause, now))
        elif request.action is Action.RESTORE:  # the positive sign report-only faults need
            self.engine.confirm_restored(outage_id, now)
        elif request.action in (Action.CANCEL, Action.CLOSE):  # nothing left to remember
            self.engine.confirm_restored(outage_id, now, repaired=False)
        self._track(outage_id)
        return self.records[outage_id]

    def _apply(
        self,
        oid: int,
        action: Action,
        fields: dict[str, str],
        actor: str,
        now: float,
        extra: dict[str, Any] | None = None,
    ) -> Record:
        before = self.records[oid]
        state = transition(before.state, action)
        record = _fill(dataclasses.replace(before, state=state), action, fields, now)
        outage = self.engine.outages[oid]
        root = self.index.topology.elements.get(outage.root)
        found = clock.after_action(
            self.deadlines[oid],
            action,
            human=actor != DAEMON,
            record=record,
            severity=outage.severity,
            report_needed=root is None or root.kind is not Kind.ACCESS,
            now=now,
        )
        self._set(record, found)
        payload: dict[str, Any] = {"from": before.state.value, "to": state.value, **fields}
        payload |= extra or {}
        self._entry(oid, now, actor, action.value, payload)
        if action in (Action.DISPATCH, Action.ASSIGN, Action.REOPEN) and record.assignee:
            self._tell(outage, now, (record.assignee,), action.value)
        if record.external_message and (
            record.external_message != before.external_message or action is Action.ETA
        ):
            call_centre = self.index.topology.call_centre  # the unified external message
            self._tell(outage, now, call_centre, "external_message")
        return record

    def network_check(self, oid: int, verdict: Verdict, now: float, *, auto: bool) -> None:
        """The re-probe after a repair report answered (issue 10 §4): restored ->
        verified (`auto`) or proposed to the NOC; still down -> back to work, and
        whoever has it is told. Ignored if someone acted on the outage meanwhile."""
        record = self.records.get(oid)
        if record is None or record.state is not State.RESTORED:
            return
        outage = self.engine.outages[oid]
        found = verdict.to_json()
        if verdict.down:
            note = "the network still shows the fault: " + ", ".join(verdict.down)
            self._apply(oid, Action.VERIFY_FAILED, {"note": note}, DAEMON, now, found)
            if record.assignee:
                self._tell(outage, now, (record.assignee,), "verify_failed")
        elif verdict.restored and auto:
            note = "the network answers again: " + ", ".join(verdict.checked)
            self._apply(oid, Action.VERIFY, {"note": note}, DAEMON, now, found)
        else:  # restored with auto off, or nothing could be probed: the NOC decides
            self._entry(oid, now, DAEMON, "verify_proposed", found)
            self._tell(outage, now, self.route(outage, now).noc, "verify_proposed")

    def delivery(self, message: Message, result: Result, complete: bool, now: float) -> None:
        """Record what the outbox did with a message; a notice delivered to every
        recipient meets the deadline it stands for ("notified" means delivered)."""
        oid = message.outage
        if oid not in self.records:
            return
        payload: dict[str, Any] = {
            "id": message.id,
            "to": message.recipient,
            "channel": message.channel,
            "event": message.event,
            "attempt": message.attempts,
        }
        if isinstance(result, Failed):
            retry = message.next_at if message.state is Delivery.QUEUED else None
            payload.update(reason=result.reason.value, detail=result.detail, retry_at=retry)
            self._entry(oid, now, DAEMON, "notification_failed", payload)
            return
        at = message.sent_at if message.sent_at is not None else now
        self._entry(oid, at, DAEMON, "notification_sent", payload)
        name = _MEETS.get(message.event)
        if complete and name is not None:
            found = dict(self.deadlines[oid])
            clock.meet(found, name, at)
            self._set(self.records[oid], found)


def _severity_change(decision: Decision) -> tuple[Severity, Severity] | None:
    """(old, new) when the decision moved the severity."""
    for phrase in decision.why:
        if phrase.key in ("severity", "severity_set"):
            args = dict(phrase.args)
            old = args.get("old_severity")
            if old is not None and old != decision.outage.severity.value:
                return Severity(str(old)), decision.outage.severity
    return None


def _fill(record: Record, action: Action, fields: dict[str, str], now: float) -> Record:
    """Record the times and texts an action carries."""
    changes: dict[str, Any] = {k: fields[k] for k in REPORT_FIELDS if k in fields}
    for name in MESSAGE_FIELDS:
        if name in fields:
            changes[name] = fields[name]
    changes["updated_at"] = now
    if action in (Action.DISPATCH, Action.ASSIGN):
        changes["assignee"] = fields.get("assignee") or record.assignee
        if record.dispatched_at is None:
            changes["dispatched_at"] = now
    elif action is Action.ACK and record.acknowledged_at is None:
        changes["acknowledged_at"] = now
    elif action is Action.ARRIVE and record.arrived_at is None:
        changes["arrived_at"] = now
    elif action is Action.DIAGNOSE:
        changes["diagnosed_at"] = record.diagnosed_at or now
        changes["diagnosis_note"] = fields.get("note", record.diagnosis_note)
    elif action is Action.RESTORE:
        changes["repair_reported_at"] = now
    elif action is Action.VERIFY:
        changes["verified_at"] = now
    elif action is Action.VERIFY_FAILED:
        changes["repair_reported_at"] = None
    elif action is Action.CALLBACK_DONE:
        changes["callback_at"] = now
    elif action is Action.CLOSE:
        changes["closed_at"] = now
    elif action is Action.REOPEN:
        changes.update(repair_reported_at=None, verified_at=None, callback_at=None, closed_at=None)
    elif action is Action.CANCEL:
        changes["cancel_reason"] = fields.get("reason")
    elif action is Action.ETA:
        changes["eta"] = datetime.fromisoformat(fields["at"]).timestamp()
        changes["eta_note"] = fields.get("note")
    return dataclasses.replace(record, **changes)
