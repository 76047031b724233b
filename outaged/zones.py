"""The display time zone: parsing a zone name and printing a time with its zone marked.

One zone for everything people read (outagectl's list/show/stats, the fault report,
later the notification templates): the topology's `timezone`, unless the reader asks
for another with `--tz` (or `?tz=` on the report). Pure.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_OFFSET = re.compile(r"^(?:UTC)?([+-])(\d{1,2})(?::?(\d{2}))?$")


def parse_zone(text: str | None) -> tzinfo | None:
    """An IANA zone (`Asia/Shanghai`), `UTC`, an offset (`+08:00`), or None/`local`
    (the machine's zone); ValueError names a zone that is none of these."""
    if text is None or text == "local":
        return None
    match = _OFFSET.match(text)
    if match:
        sign = -1 if match[1] == "-" else 1
        hours, minutes = int(match[2]), int(match[3] or 0)
        if hours > 23 or minutes > 59:
            raise ValueError(f"unknown time zone {text!r}")
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {text!r}") from exc


def offset(at: datetime) -> str:
    """`+08:00`, the UTC offset of an aware time (`+00:00` for UTC)."""
    delta = at.utcoffset() or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def zone_name(tz: tzinfo | None, at: datetime) -> str:
    """`Asia/Shanghai` for an IANA zone, else `UTC+08:00` (the machine's zone too)."""
    if isinstance(tz, ZoneInfo):
        return tz.key
    return f"UTC{offset(at.astimezone(tz))}"


def moment(ts: float) -> datetime | None:
    """POSIX seconds as an aware UTC time; None for a number no datetime holds
    (past year 9999, NaN): shown as "-" rather than an error."""
    try:
        return datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def localize(at: datetime, tz: tzinfo | None) -> datetime:
    """`at` in `tz`; in UTC (its offset shown, so still unambiguous) when `tz` would
    carry it past a datetime's range (UTC+8 late on 9999-12-31)."""
    try:
        return at.astimezone(tz)
    except (OverflowError, ValueError):
        return at.astimezone(UTC)


def local_time(at: datetime, tz: tzinfo | None) -> str:
    """`2026-11-22 16:01:10 +08:00`: the time in `tz` with its offset, never ambiguous."""
    local = localize(at, tz)
    return f"{local:%Y-%m-%d %H:%M:%S} {offset(local)}"


def short_time(at: datetime, now: datetime, tz: tzinfo | None) -> str:
    """What a person reads at a glance: `16:01` on today's date in `tz`, `11-21 16:01`
    this year, `2027-01-05 16:01` in another; `9999-12-31 23:59 UTC` past the range."""
    try:
        local = at.astimezone(tz)
    except (OverflowError, ValueError):
        return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    today = localize(now, tz)
    if local.date() == today.date():
        return f"{local:%H:%M}"
    return f"{local:%m-%d %H:%M}" if local.year == today.year else f"{local:%Y-%m-%d %H:%M}"
