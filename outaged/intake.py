"""Turn JSON objects (replay lines, API bodies) into typed signals, or say what is wrong.

One parser for every edge, so the API, the CLI and `replay` agree on the format.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
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
from outaged.topology.model import Element, Kind, Topology

SIGNAL_KINDS = ("report", "probe", "trap", "manual", "maintenance")
# The fields of each kind; an API request naming any other is refused (a typo there
# would otherwise be dropped silently).
KIND_FIELDS: dict[str, frozenset[str]] = {
    "report": frozenset({"kind", "at", "subscriber", "element", "category", "code"}),
    "probe": frozenset({"kind", "at", "element", "ok", "rtt_ms"}),
    "trap": frozenset({"kind", "at", "element", "trap", "ifindex"}),
    "manual": frozenset({"kind", "at", "element", "note", "actor", "cleared"}),
    "maintenance": frozenset(
        {"kind", "at", "element", "start", "end", "note", "actor", "cancelled"}
    ),
}
# RFC 3339 date-time (a space may stand for the T); docs/openapi.yaml `Time` says the same.
TIME_FORMAT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)
# Times the daemon can hold and print: from the POSIX epoch to the end of year 9999 (UTC).
MIN_TIME = 0.0
MAX_TIME = 253402300800.0  # 10000-01-01T00:00:00Z
ACCESS_KINDS = frozenset({Kind.BUILDING, Kind.ACCESS})  # subscribers hang off them
MAX_ID_TEXT = 200  # characters in an id (element, subscriber, ticket, actor)
MAX_INT32 = 2**31 - 1
MAX_RTT_MS = 3_600_000.0
_ASCII_DIGITS = re.compile(r"[0-9]{1,30}")
# C0 controls but tab, newline and carriage return; and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
MAX_TEXT = 10_000  # characters in any one string (a note, a message)


def text_problem(text: str, limit: int = MAX_TEXT) -> str | None:
    """What makes `text` unfit to store and show, if anything."""
    if _SURROGATE.search(text):
        return "contains a lone UTF-16 surrogate (not a character)"
    found = _CONTROL.search(text)
    if found:
        return f"contains the control character U+{ord(found.group()):04X}"
    if len(text) > limit:
        return f"longer than {limit} characters"
    return None


def parse_time(value: object) -> float:
    """ISO-8601 with a timezone (…Z or …+08:00) to POSIX seconds, 1970 to 9999."""
    if not isinstance(value, str):
        raise ValueError("expected an ISO-8601 string")
    shown = _short(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO-8601 time: {shown}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{shown} has no timezone; add Z or +08:00")
    if not TIME_FORMAT.fullmatch(value):
        raise ValueError(
            f"not an ISO-8601 time: {shown} (write YYYY-MM-DDTHH:MM:SS with Z or +08:00)"
        )
    try:
        at = parsed.timestamp()
    except (OverflowError, ValueError):
        at = math.nan
    if not MIN_TIME <= at < MAX_TIME:
        raise ValueError(f"{shown} is out of range (1970-01-01 to 9999-12-31 UTC)")
    return at


def received(now: float) -> float:
    """`now` in whole milliseconds: what `parse_time` gives for it written as ISO-8601
    (outaged.outages.model.iso), without writing and parsing it."""
    return math.floor(now * 1000) / 1000


def span(seconds: float) -> str:
    """A duration as people write it: 24 h, 10 min, 90 s."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


# The furthest ahead planned work may start: a year covers any 割接 an ISP schedules;
# beyond it is a typo (year 9999) that would sit in every listing.
MAINTENANCE_AHEAD_S = 365 * 86400.0


@dataclass(frozen=True, slots=True)
class Limits:
    """How far from now a signal arriving live may be dated (docs/config.md `api`)."""

    horizon_s: float = 86400.0  # older than this: refused (a late sender, a wrong clock)
    skew_s: float = 300.0  # later than now by more than this: refused
    max_maintenance_s: float = 86400.0  # the longest planned-work window


def check_limits(signal: Signal, now: float, limits: Limits) -> list[tuple[str, str]]:
    """(field, message) for each way a live signal falls outside `limits`."""
    found: list[tuple[str, str]] = []
    horizon = span(limits.horizon_s)
    if signal.at < now - limits.horizon_s:
        found.append(("at", f"older than the signal horizon ({horizon}); check the sender's clock"))
    elif signal.at > now + limits.skew_s:
        found.append(("at", "in the future; check the sender's clock"))
    if isinstance(signal, Maintenance):
        if signal.start < now - limits.horizon_s:
            found.append(("start", f"more than {horizon} in the past (the signal horizon)"))
        elif signal.start > now + MAINTENANCE_AHEAD_S:
            ahead = f"{MAINTENANCE_AHEAD_S / 86400:g} days"
            found.append(
                ("start", f"more than {ahead} ahead; planned work is declared within a year")
            )
        if signal.end - signal.start > limits.max_maintenance_s:
            longest = span(limits.max_maintenance_s)
            found.append(("end", f"the window is longer than the maximum of {longest}"))
    return found


class _Fields:
    """Typed access to a JSON object that collects problems instead of raising."""

    def __init__(self, obj: Mapping[str, Any], source: str, line: int | None) -> None:
        self.obj = obj
        self.source = source
        self.line = line
        self.problems: list[Problem] = []

    def problem(self, field: str, message: str) -> None:
        self.problems.append(Problem(self.source, self.line, field, message))

    def text(self, name: str, *, required: bool = True, limit: int = MAX_ID_TEXT) -> str | None:
        value = self.obj.get(name)
        if value is None:
            if required:
                self.problem(name, "missing")
            return None
        if not isinstance(value, str) or not value:
            self.problem(name, f"expected a non-empty string, got {_short(value)}")
            return None
        message = text_problem(value, limit)
        if message is not None:
            self.problem(name, message)
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

    def integer(self, name: str, low: int, high: int) -> int | None:
        value = self.obj.get(name)
        if value is None:
            return None
        if isinstance(value, str) and _ASCII_DIGITS.fullmatch(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(name, f"expected an integer, got {_short(value)}")
            return None
        if not low <= value <= high:
            self.problem(name, f"expected an integer from {low} to {high}, got {_short(value)}")
            return None
        return value

    def element(self, topology: Topology, name: str = "element") -> str:
        value = self.text(name)
        if value is not None and value not in topology.elements:
            self.problem(name, f"unknown element {value!r}")
        return value or ""


def parse_signal(
    obj: object,
    topology: Topology,
    *,
    source: str = "input",
    line: int | None = None,
    strict: bool = False,
    received_at: float | None = None,
) -> Signal:
    """Parse one signal object; raise SignalError naming every bad field.

    `strict` also refuses fields the kind does not have; `received_at` is the time
    of a signal without "at" (`received(now)`), else "at" is required."""
    if not isinstance(obj, Mapping):
        raise SignalError([Problem(source, line, "", "expected a JSON object")])
    f = _Fields(obj, source, line)
    at = received_at if received_at is not None and "at" not in obj else f.time("at")
    kind = obj.get("kind")
    known = KIND_FIELDS.get(kind) if isinstance(kind, str) else None
    if strict and known is not None:
        for name in sorted(set(obj) - known):
            f.problem(str(name), f"not a field of a {kind} (fields: {', '.join(sorted(known))})")
    signal: Signal | None = None
    if kind == "report":
        signal = _report(f, topology, at)
    elif kind == "probe":
        element = f.element(topology)
        ok = obj.get("ok")
        if not isinstance(ok, bool):
            f.problem("ok", f"expected true or false, got {ok!r}")
        rtt = obj.get("rtt_ms")
        if rtt is not None and (
            isinstance(rtt, bool) or not isinstance(rtt, int | float) or not 0 <= rtt <= MAX_RTT_MS
        ):
            f.problem(
                "rtt_ms", f"expected milliseconds from 0 to {MAX_RTT_MS:g}, got {_short(rtt)}"
            )
            rtt = None
        signal = ProbeResult(at, element, bool(ok), None if rtt is None else float(rtt))
    elif kind == "trap":
        element = f.element(topology)
        name = obj.get("trap")
        try:
            trap = TrapKind(str(name))
        except ValueError:
            choices = ", ".join(t.value for t in TrapKind)
            f.problem("trap", f"unknown trap {_short(name)}; one of {choices}")
            trap = TrapKind.LINK_DOWN
        signal = Trap(at, element, trap, f.integer("ifindex", 1, MAX_INT32))
    elif kind == "manual":
        element = f.element(topology)
        note = f.text("note", required=False, limit=MAX_TEXT) or ""
        actor = f.text("actor", required=False) or ""
        cleared = obj.get("cleared", False)
        if not isinstance(cleared, bool):
            f.problem("cleared", f"expected true or false, got {_short(cleared)}")
        signal = ManualFault(at, element, note, actor, cleared is True)
    elif kind == "maintenance":
        element = f.element(topology)
        start, end = f.time("start"), f.time("end")
        if not f.problems and end <= start:
            f.problem("end", "must be after start")
        note = f.text("note", required=False, limit=MAX_TEXT) or ""
        actor = f.text("actor", required=False) or ""
        called_off = obj.get("cancelled", False)
        if not isinstance(called_off, bool):
            f.problem("cancelled", f"expected true or false, got {_short(called_off)}")
        signal = Maintenance(at, element, start, end, note, actor, called_off is True)
    else:
        f.problem("kind", f"unknown kind {_short(kind)}; one of {', '.join(SIGNAL_KINDS)}")
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
    elif not serves_subscribers(topology.elements[element]):
        kind = topology.elements[element].kind.value
        f.problem(
            "element",
            f"{element!r} ({kind}) serves no subscribers: a report names the access element "
            "(building, access switch, or any element with subscribers) the caller is on",
        )
    code = f.integer("code", 0, MAX_INT32)
    raw = f.obj.get("category")
    category: Category | None = None
    if raw is not None:
        try:
            category = Category(raw)
        except ValueError:
            choices = ", ".join(c.value for c in Category)
            f.problem("category", f"unknown category {_short(raw)}; one of {choices}")
    if code is not None and code in CODE_CATEGORY:
        category = category or CODE_CATEGORY[code]
    if category is None and raw is None:
        f.problem("category", "missing (or give an error code 678/815/769/691)")
    return Report(at, element or "", category or Category.DOWN, subscriber, code)


def serves_subscribers(element: Element) -> bool:
    """Whether customers can call about it: subscribers hang off it (counted, or
    mapped by subscribers_csv), or it is of a kind they hang off."""
    return element.subscribers > 0 or element.kind in ACCESS_KINDS


def _short(value: object) -> str:
    """A value quoted in an error message: printable, and never a megabyte long."""
    text = repr(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 80 else text[:77] + "..."
