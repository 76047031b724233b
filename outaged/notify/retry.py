"""When to try a failed delivery again: capped exponential backoff with jitter.

Pure: the random source is passed in. Notifiers say whether a failure may
pass by itself (`Reason.retryable`); this policy says when, and when to stop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from outaged.notify.base import Failed


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial_s: float = 5.0
    multiplier: float = 2.0
    max_delay_s: float = 600.0
    jitter: float = 0.2  # each delay is drawn from [d * (1 - jitter), d * (1 + jitter)]
    max_age_s: float = 86400.0  # stop trying a day after the message was queued

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Wait before the next try after `attempts` (>= 1) failed ones."""
        base = min(self.max_delay_s, self.initial_s * self.multiplier ** (attempts - 1))
        return base * rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)

    def next_try(
        self, failure: Failed, attempts: int, created_at: float, now: float, rng: random.Random
    ) -> float | None:
        """When to try again, or None: give up (not retryable, or too old)."""
        if not failure.retryable:
            return None
        at = now + self.delay(attempts, rng)
        return at if at - created_at <= self.max_age_s else None
