"""Every time formatter answers for any stored number: a time past what a
datetime holds (an ETA of 9999-12-31T23:59:59Z read in UTC+8, stored before
the 30-day limit) reads as UTC or "-", never an error that answers 500."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

from outaged.cli.render import fmt_short
from outaged.directory.lookup import clock_text
from outaged.outages.model import iso
from outaged.zones import local_time, moment

BEIJING = timezone(timedelta(hours=8))
LAST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC).timestamp()


def test_the_last_second_of_9999_in_utc_plus_8_reads_as_utc() -> None:
    assert clock_text(LAST, NOW, BEIJING) == "9999-12-31 23:59 UTC"
    stamp = moment(LAST)
    assert stamp is not None and local_time(stamp, BEIJING).startswith("9999-12-31 23:59:59")


def test_numbers_no_calendar_holds_are_no_time() -> None:
    for ts in (1e300, math.nan, -1e300):
        assert iso(ts) is None
        assert clock_text(ts, NOW, BEIJING) == "-"


def test_a_time_in_another_year_shows_the_year() -> None:
    ahead = datetime(2100, 1, 1, tzinfo=UTC).timestamp()
    assert clock_text(ahead, NOW, BEIJING) == "2100-01-01 08:00"
    assert clock_text(NOW + 3600, NOW, BEIJING) == "19:00"
    assert clock_text(NOW + 3 * 86400, NOW, BEIJING) == "12-06 18:00"


def test_the_cli_short_time_of_the_last_second_reads_as_utc() -> None:
    stamp, now = moment(LAST), moment(NOW)
    assert stamp is not None and now is not None
    assert fmt_short(stamp, BEIJING, now) == "9999-12-31 23:59 UTC"
