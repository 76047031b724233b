"""`outaged replay`: feed a time-ordered JSONL of signals through the core in simulated time.

Decisions are taken at the end of each distinct timestamp (all signals that
arrived "at once" are in), and at every time the engine asks to be woken
(a report burst going quiet, a maintenance window ending, flapping settling).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from outaged.errors import Problem, SignalError
from outaged.intake import parse_signal, parse_time
from outaged.outages.engine import Engine
from outaged.outages.model import Decision
from outaged.signals import Signal
from outaged.topology.graph import GraphIndex


@dataclass(slots=True)
class ReplayResult:
    decisions: list[Decision] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    engine: Engine | None = None


def read_signals(
    lines: Iterable[str], index: GraphIndex, source: str, problem: Callable[[Problem], None]
) -> Iterator[Signal]:
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
            signal = parse_signal(obj, index.topology, source=source, line=number)
        except SignalError as exc:
            for each in exc.problems:
                problem(each)
            continue
        if signal.at < last:
            problem(Problem(source, number, "at", "earlier than the line before"))
            continue
        last = signal.at
        yield signal


def replay(
    signals: Iterable[Signal],
    engine: Engine,
    *,
    until: float | None = None,
    emit: Callable[[Decision], None] | None = None,
) -> list[Decision]:
    out: list[Decision] = []

    def decide(at: float) -> None:
        for decision in engine.evaluate(at):
            out.append(decision)
            if emit is not None:
                emit(decision)

    def wake_until(limit: float) -> None:
        while (wake := engine.next_wakeup()) is not None and wake <= limit:
            decide(wake)

    now: float | None = None
    for signal in signals:
        if now is not None and signal.at > now:
            decide(now)
            wake_until(signal.at)
        now = signal.at
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
) -> ReplayResult:
    result = ReplayResult(engine=Engine(index))
    assert result.engine is not None

    def emit(decision: Decision) -> None:
        out.write(json.dumps(decision.to_json(), ensure_ascii=False) + "\n")

    def problem(found: Problem) -> None:
        result.problems.append(found)
        err.write(f"error: {found}\n")

    limit = parse_time(until) if until is not None else None
    signals = read_signals(stream, index, source, problem)
    result.decisions = replay(signals, result.engine, until=limit, emit=emit)
    return result
