"""The leader's lease as seen by its holder: how long it may act (pure).

A renewal that started at monotonic time `t` and succeeded makes the row
expire at the database's `now() + lease_s`, and the database's now() is
after `t`; so the holder may act until `t + lease_s - margin_s`, by its own
clock, and no longer: past that a standby may hold the row. `margin_s`
covers the rate difference of the two clocks and the time between a check
and the write it guards (a write is also checked in its own transaction).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from outaged.errors import StoreUnavailable

Clock = Callable[[], float]


class Fenced(StoreUnavailable):
    """This instance is not (or no longer) the leader: it decides and sends nothing."""


@dataclass(frozen=True, slots=True)
class LeaseTimes:
    lease_s: float = 10.0  # the row's life after each renewal, by the database's clock
    renew_s: float = 2.0  # how often the leader renews (and a standby tries)
    margin_s: float = 2.0  # the leader stops this long before the row can expire

    def __post_init__(self) -> None:
        if not 0 < self.margin_s < self.lease_s:
            raise ValueError("ha: margin_s must be > 0 and below lease_s")
        if not 0 < self.renew_s < self.lease_s - self.margin_s:
            raise ValueError("ha: renew_s must be > 0 and below lease_s - margin_s")

    @property
    def takeover_s(self) -> float:
        """The longest a standby waits after the leader's last renewal: the row
        expires, then the standby's next try takes it."""
        return self.lease_s + self.renew_s


class Fence:
    """Whether this instance may act as leader now, by its own monotonic clock."""

    def __init__(self, times: LeaseTimes, clock: Clock = time.monotonic) -> None:
        self.times = times
        self.clock = clock
        self.epoch: int | None = None
        self.until = float("-inf")
        self.renewed_at = float("-inf")  # when the last successful renewal started

    def granted(self, epoch: int, started: float) -> None:
        """A renewal (or the acquisition) that started at `started` succeeded."""
        if epoch != self.epoch:
            self.epoch = epoch
        self.renewed_at = started
        self.until = started + self.times.lease_s - self.times.margin_s

    def lost(self) -> None:
        self.epoch = None
        self.until = float("-inf")

    def holds(self) -> bool:
        return self.epoch is not None and self.clock() < self.until

    def left_s(self) -> float:
        """How long this instance may still act (0 when it may not)."""
        return max(0.0, self.until - self.clock()) if self.epoch is not None else 0.0

    def check(self) -> int:
        """The epoch to write under; Fenced if this instance may not write now."""
        epoch = self.epoch
        if epoch is None:
            raise Fenced("this instance is not the leader: nothing decided or sent here")
        if self.clock() >= self.until:
            raise Fenced(
                f"the leader's lease (epoch {epoch}) was not renewed in time: "
                "fenced, nothing decided or sent here"
            )
        return epoch
