"""`outaged replay`: feed a time-ordered JSONL of signals through the core in simulated time.

Decisions are taken at the end of each distinct timestamp (all signals that
arrived "at once" are in), and at every time the engine asks to be woken
(a report burst going quiet, a maintenance window ending, flapping settling).

Lines of kind "action" are dispatcher actions on an outage ("@3" or its root
element); they go through the same ledger and lifecycle code as the daemon's
API, after everything before them has been decided.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from outaged.correlate.spikes import Suspicion
from outaged.errors import NotFoundError, OutagedError, Problem, SignalError
from outaged.intake import parse_signal, parse_time
from outaged.notify.base import Message, Notice, Sent
from outaged.notify.base import State as Delivery
from outaged.notify.render import template_name
from outaged.outages.engine import Engine
from outaged.outages.model import Decision, iso, suspicion_json
from outaged.records.actions import ActionRequest, parse_action
from outaged.records.ledger import Changes, Ledger
from outaged.signals import Signal
from outaged.topology.graph import GraphIndex
from outaged.topology.model import Person

ACTION_FIELDS = ("at", "kind", "outage", "actor")
_SHOWN = ("deadline", "level", "late", "previous", "old_severity")
CLOCK_STEPS = frozenset({"reminder", "escalation", "reassigned"})  # notices shown as themselves


@dataclass(frozen=True, slots=True)
class ActionLine:
    """A dispatcher action in a replay file."""

    at: float
    outage: str  # "@3" (outage id) or a root element id
    request: ActionRequest
    actor: str
    source: str
    line: int | None


@dataclass(frozen=True, slots=True)
class ActionDone:
    at: float
    outage: int
    action: str
    actor: str
    before: str
    state: str
    fields: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "event": "action",
            "outage": self.outage,
            "action": self.action,
            "actor": self.actor,
            "from": self.before,
            "state": self.state,
            **self.fields,
        }


@dataclass(slots=True)
class ReplayResult:
    decisions: list[Decision] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    engine: Engine | None = None
    actions: list[ActionDone] = field(default_factory=list)


def read_signals(
    lines: Iterable[str], index: GraphIndex, source: str, problem: Callable[[Problem], None]
) -> Iterator[Signal | ActionLine]:
    """Parse JSONL, skipping (and recording) bad lines and lines that go back in time."""
    last = float("-inf")
    for number, text in enumerate(lines, start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            problem(Problem(source, number, "", f"invalid JSON: {exc.msg}"))
            continue
        try:
            signal = _parse_line(obj, index, source, number)
        except SignalError as exc:
            for each in exc.problems:
                problem(each)
            continue
        if signal.at < last:
            problem(Problem(source, number, "at", "earlier than the line before"))
            continue
        last = signal.at
        yield signal


def _parse_line(obj: object, index: GraphIndex, source: str, line: int) -> Signal | ActionLine:
    if not isinstance(obj, dict) or obj.get("kind") != "action":
        return parse_signal(obj, index.topology, source=source, line=line)
    problems: list[Problem] = []
    at = 0.0
    try:
        at = parse_time(obj.get("at"))
    except ValueError as exc:
        problems.append(Problem(source, line, "at", str(exc)))
    ref = obj.get("outage")
    if not isinstance(ref, str) or not ref:
        problems.append(Problem(source, line, "outage", 'expected "@<id>" or a root element id'))
    actor = obj.get("actor", "replay")
    if not isinstance(actor, str) or not actor:
        problems.append(Problem(source, line, "actor", "expected a non-empty string"))
    try:
        request = parse_action(obj, index.topology, source=source, line=line, ignore=ACTION_FIELDS)
    except SignalError as exc:
        problems += exc.problems
    if problems:
        raise SignalError(problems)
    return ActionLine(at, str(ref), request, str(actor), source, line)


def replay(
    signals: Iterable[Signal | ActionLine],
    engine: Engine,
    *,
    until: float | None = None,
    emit: Callable[[Decision], None] | None = None,
    on_action: Callable[[ActionDone], None] | None = None,
    problem: Callable[[Problem], None] | None = None,
    on_suspected: Callable[[Suspicion], None] | None = None,
    on_clock: Callable[[dict[str, Any]], None] | None = None,
) -> list[Decision]:
    out: list[Decision] = []
    ledger = Ledger(engine)

    def publish(changes: Changes) -> None:
        for decision in changes.decisions:
            out.append(decision)
            if emit is not None:
                emit(decision)
        if on_clock is not None:
            for line in clock_lines(changes, engine.index.topology.people):
                on_clock(line)
        for notice in changes.notices:  # simulated time: every message is accepted at once
            for n, pid in enumerate(notice.to, start=1):
                message = _accepted(notice, pid)
                ledger.delivery(message, Sent(message.id), n == len(notice.to), notice.at)

    def decide(at: float) -> None:
        ledger.decide(at)
        publish(ledger.drain())
        for found in engine.drain_suspicions():
            if on_suspected is not None:
                on_suspected(found)

    def act(line: ActionLine) -> None:
        try:
            outage_id = _resolve(ledger, line.outage)
            before = ledger.records[outage_id].state
            record = ledger.act(outage_id, line.request, line.actor, line.at)
        except NotFoundError as exc:
            if problem is not None:
                problem(Problem(line.source, line.line, "outage", str(exc)))
            return
        except OutagedError as exc:  # not allowed in the outage's state
            if problem is not None:
                problem(Problem(line.source, line.line, "action", str(exc)))
            return
        done = ActionDone(
            line.at,
            outage_id,
            line.request.action.value,
            line.actor,
            before.value,
            record.state.value,
            line.request.fields,
        )
        if on_action is not None:
            on_action(done)
        publish(ledger.drain())  # a diagnosed cause re-classifies the outage

    def next_wakeup() -> float | None:
        wakes = [w for w in (engine.next_wakeup(), ledger.next_wakeup()) if w is not None]
        return min(wakes, default=None)

    def wake_until(limit: float) -> None:
        while (wake := next_wakeup()) is not None and wake <= limit:
            decide(wake)

    now: float | None = None
    for signal in signals:
        if now is not None and signal.at > now:
            decide(now)
            wake_until(signal.at)
        now = signal.at
        if isinstance(signal, ActionLine):
            decide(now)  # everything that arrived before the action is decided
            act(signal)
        else:
            engine.ingest(signal)
    if now is not None:
        decide(now)
        if until is not None:
            wake_until(until)
            decide(until)
    return out


def run_replay(
    index: GraphIndex,
    stream: TextIO,
    source: str,
    out: TextIO,
    err: TextIO,
    until: str | None = None,
    interval: float = 1.0,
    notify: bool = False,
) -> ReplayResult:
    """`notify`: print the clock's lines too (clock_lines)."""
    result = ReplayResult(engine=Engine(index, min_interval=interval))
    assert result.engine is not None

    def emit(decision: Decision) -> None:
        out.write(json.dumps(decision.to_json(), ensure_ascii=False) + "\n")

    def on_action(done: ActionDone) -> None:
        result.actions.append(done)
        out.write(json.dumps(done.to_json(), ensure_ascii=False) + "\n")

    def problem(found: Problem) -> None:
        result.problems.append(found)
        err.write(f"error: {found}\n")

    def on_suspected(found: Suspicion) -> None:
        out.write(json.dumps(suspicion_json(found), ensure_ascii=False) + "\n")

    def on_clock(line: dict[str, Any]) -> None:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")

    limit = parse_time(until) if until is not None else None
    signals = read_signals(stream, index, source, problem)
    result.decisions = replay(
        signals,
        result.engine,
        until=limit,
        emit=emit,
        on_action=on_action,
        problem=problem,
        on_suspected=on_suspected,
        on_clock=on_clock if notify else None,
    )
    return result


def clock_lines(changes: Changes, people: dict[str, Person]) -> Iterator[dict[str, Any]]:
    """What the people side did in a step, as lines: each missed deadline, and each
    notice per recipient and channel ("reminder", "escalation", "reassigned", or
    "notification" for the others), in the order it happened."""
    notices = iter(changes.notices)
    for entry in changes.entries:
        if entry.kind == "deadline_missed":
            yield {
                "at": iso(entry.at),
                "event": entry.kind,
                "outage": entry.outage,
                **_times(entry.payload),
            }
        elif entry.kind == "notification_queued":
            notice = next(notices, None)
            if notice is not None:
                yield from _notice_lines(notice, people)


def _times(payload: dict[str, Any]) -> dict[str, Any]:
    stamps = ("due", "scheduled_at", "answer_by")
    return {k: iso(v) if k in stamps else v for k, v in payload.items()}


def _notice_lines(notice: Notice, people: dict[str, Person]) -> Iterator[dict[str, Any]]:
    event = notice.why if notice.why in CLOCK_STEPS else "notification"
    context = notice.context
    details: dict[str, Any] = {k: context[k] for k in _SHOWN if k in context}
    if "answer_by" in context:
        details["answer_by"] = iso(context["answer_by"])
    if "deadline_due" in context:
        details["due"] = iso(context["deadline_due"])
    for pid in notice.to:
        for channel in _channels(people.get(pid)):
            yield {
                "at": iso(notice.at),
                "event": event,
                "outage": notice.outage,
                "why": notice.why,
                "recipient": pid,
                "channel": channel,
                "template": template_name(notice.why),
                **details,
            }


def _accepted(notice: Notice, pid: str) -> Message:
    return Message(
        outage=notice.outage,
        seq=notice.seq,
        event=notice.why,
        recipient=pid,
        channel="log",
        address="",
        lang="",
        context={},
        created_at=notice.at,
        state=Delivery.SENT,
        attempts=1,
        sent_at=notice.at,
    )


def _channels(person: Person | None) -> list[str]:
    """The channels the daemon would use with e-mail and webhooks configured."""
    if person is None:
        return ["log"]
    found = [c for c, has in (("email", person.email), ("webhook", person.webhook)) if has]
    return found or ["log"]


def _resolve(ledger: Ledger, ref: str) -> int:
    """ "@3" is outage 3; an element id is the newest outage rooted there, active first."""
    if ref.startswith("@") and ref[1:].isdigit():
        if int(ref[1:]) not in ledger.records:
            raise NotFoundError(f"unknown outage {ref}")
        return int(ref[1:])
    rooted = [o.id for o in ledger.engine.outages.values() if o.root == ref]
    active = [i for i in rooted if ledger.records[i].active]
    if not rooted:
        raise NotFoundError(f"no outage rooted at {ref!r}")
    return max(active or rooted)
