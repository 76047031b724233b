"""A known divergence between the live engine and one rebuilt from the store.

Found by tests/test_atomic_property.py's state machine when its examples moved
(Hypothesis derives them from the test's source): calls under a building that
an open outage already holds, then more calls 17 minutes later, then a failed
step. The live engine, after the rebuild and its next evaluation, dates the
building's held calls from the first burst; a restart (outaged.recovery, the
stored row plus the re-ingested window) dates them from the second. Only
`Outage.held`'s first time differs (the outage, its record, deadlines and
timeline agree). Not fixed yet: strict xfail, so the fix has to remove it.
"""

from __future__ import annotations

from typing import Any

import pytest

import tests.test_atomic_property as prop
from outaged.outages.lifecycle import Action

B1, B3 = "m1-c1-b1", "m1-c2-b3"


class Draws:
    """What the state machine's `data.draw` calls return, in order."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def draw(self, _strategy: object) -> Any:
        return self.values.pop(0)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="held calls' first time")
def test_recovery_dates_held_calls_as_the_live_engine_does() -> None:
    s = prop.Step()
    try:
        for _ in range(3):
            s.refused_beside_innocent(B1)
        s.bad_report(building=B1, text="x\ud800y", where="id")
        s.while_locked(Draws(B3), Action.ACK, False)
        s.refused_beside_innocent(B1)
        s.time_passes(17)
        for _ in range(5):
            s.refused_beside_innocent(B1)
        s.reports(B3, 7)
        s.memory_is_store()  # still equal here
        (oid,) = s.outages()
        s.timeline_refused(Draws(oid), Action.ACK)
        s.memory_is_store()
    finally:
        s.teardown()
