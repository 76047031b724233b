"""Turn JSON objects (replay lines, API bodies) into typed signals, or say what is wrong.

One parser for every edge, so the API, the CLI and `replay` agree on the format.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from outaged.errors import Problem, SignalError
from outaged.signals import (
    CODE_CATEGORY,
    Category,
    Maintenance,
    ManualFault,
    ProbeResult,
    Report,
    Signal,
    Trap,
    TrapKind,
)
from outaged.topology.model import Topology

SIGNAL_KINDS = ("report", "probe", "trap", "manual", "maintenance")


def parse_time(value: object) -> float:
    """ISO-8601 with a timezone (…Z or …+08:00) to POSIX seconds."""
    if not isinstance(value, str):
        raise ValueError("expected an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO-8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no timezone; add Z or +08:00")
    return parsed.timestamp()


class _Fields:
    """Typed access to a JSON object that collects problems instead of raising."""

    def __init__(self, obj: Mapping[str, Any], source: str, line: int | None) -> None:
        self.obj = obj
        self.source = source
        self.line = line
        self.problems: list[Problem] = []

    def problem(self, field: str, message: str) -> None:
        self.problems.append(Problem(self.source, self.line, field, message))

    def text(self, name: str, *, required: bool = True) -> str | None:
        value = self.obj.get(name)
        if value is None:
            if required:
                self.problem(name, "missing")
            return None
        if not isinstance(value, str) or not value:
            self.problem(name, f"expected a non-empty string, got {value!r}")
            return None
        return value

    def time(self, name: str) -> float:
        if name not in self.obj:
            self.problem(name, "missing")
            return 0.0
        try:
            return parse_time(self.obj[name])
        except ValueError as exc:
            self.problem(name, str(exc))
            return 0.0

    def integer(self, name: str) -> int | None:
        value = self.obj.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.isdigit():
                return int(value)
            self.problem(name, f"expected an integer, got {value!r}")
            return None
        return value

    def element(self, topology: Topology, name: str = "element") -> str:
        value = self.text(name)
        if value is not None and value not in topology.elements:
            self.problem(name, f"unknown element {value!r}")
        return value or ""


def parse_signal(
    obj: object, topology: Topology, *, source: str = "input", line: int | None = None
) -> Signal:
    """Parse one signal object; raise SignalError naming every bad field."""
    if not isinstance(obj, Mapping):
        raise SignalError([Problem(source, line, "", "expected a JSON object")])
    f = _Fields(obj, source, line)
    at = f.time("at")
    kind = obj.get("kind")
    signal: Signal | None = None
    if kind == "report":
        signal = _report(f, topology, at)
    elif kind == "probe":
        element = f.element(topology)
        ok = obj.get("ok")
        if not isinstance(ok, bool):
            f.problem("ok", f"expected true or false, got {ok!r}")
        rtt = obj.get("rtt_ms")
        if rtt is not None and (isinstance(rtt, bool) or not isinstance(rtt, int | float)):
            f.problem("rtt_ms", f"expected a number, got {rtt!r}")
            rtt = None
        signal = ProbeResult(at, element, bool(ok), None if rtt is None else float(rtt))
    elif kind == "trap":
        element = f.element(topology)
        name = obj.get("trap")
        try:
            trap = TrapKind(str(name))
        except ValueError:
            choices = ", ".join(t.value for t in TrapKind)
            f.problem("trap", f"unknown trap {name!r}; one of {choices}")
            trap = TrapKind.LINK_DOWN
        signal = Trap(at, element, trap, f.integer("ifindex"))
    elif kind == "manual":
        element = f.element(topology)
        note = f.text("note", required=False) or ""
        actor = f.text("actor", required=False) or ""
        signal = ManualFault(at, element, note, actor, bool(obj.get("cleared", False)))
    elif kind == "maintenance":
        element = f.element(topology)
        start, end = f.time("start"), f.time("end")
        if not f.problems and end <= start:
            f.problem("end", "must be after start")
        signal = Maintenance(at, element, start, end, f.text("note", required=False) or "")
    else:
        f.problem("kind", f"unknown kind {kind!r}; one of {', '.join(SIGNAL_KINDS)}")
    if f.problems or signal is None:
        raise SignalError(f.problems)
    return signal


def _report(f: _Fields, topology: Topology, at: float) -> Report:
    subscriber = f.text("subscriber", required=False)
    element = f.text("element", required=False)
    if subscriber is not None:
        mapped = topology.subscribers.get(subscriber)
        if mapped is None:
            f.problem("subscriber", f"unknown subscriber {subscriber!r}")
        elif element is not None and element != mapped:
            f.problem("element", f"subscriber {subscriber!r} is on {mapped!r}, not {element!r}")
        element = mapped
    elif element is None:
        f.problem("subscriber", "a report needs a subscriber or an element")
    elif element not in topology.elements:
        f.problem("element", f"unknown element {element!r}")
    code = f.integer("code")
    raw = f.obj.get("category")
    category: Category | None = None
    if raw is not None:
        try:
            category = Category(raw)
        except ValueError:
            choices = ", ".join(c.value for c in Category)
            f.problem("category", f"unknown category {raw!r}; one of {choices}")
    if code is not None and code in CODE_CATEGORY:
        category = category or CODE_CATEGORY[code]
    if category is None and raw is None:
        f.problem("category", "missing (or give an error code 678/815/769/691)")
    return Report(at, element or "", category or Category.DOWN, subscriber, code)
