"""How on-duty shifts are written in topology.yaml: weekdays and "HH:MM" times."""

from __future__ import annotations

from datetime import time

WEEKDAYS = {d: i for i, d in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}


def parse_days(token: str) -> set[int] | None:
    """`mon`, or a range `mon-fri` (`fri-mon` wraps the weekend); None if unknown."""
    first, _, last = token.lower().partition("-")
    if first not in WEEKDAYS or (last and last not in WEEKDAYS):
        return None
    a, b = WEEKDAYS[first], WEEKDAYS[last or first]
    return set(range(a, b + 1)) if a <= b else set(range(a, 7)) | set(range(0, b + 1))


def parse_clock(value: object) -> time | None:
    """ "08:30"; "24:00" is midnight at the end of the day. Unquoted 20:00 is a YAML
    1.1 number (1200), so only strings are taken."""
    text = value if isinstance(value, str) else ""
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        return None
    h, m = int(hours), int(minutes)
    if (h, m) == (24, 0):
        return time(0, 0)
    return time(h, m) if h < 24 and m < 60 else None
