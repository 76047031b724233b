"""Global packet-rate cap: a token bucket driven by the caller's clock."""

from __future__ import annotations


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; starts full."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, not {rate} and {burst}")
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = now

    def take(self, wanted: int, now: float) -> int:
        """Take up to `wanted` whole tokens; return how many were granted."""
        self._refill(now)
        granted = min(wanted, int(self._tokens))
        self._tokens -= granted
        return granted

    def wait_s(self, now: float) -> float:
        """Seconds until at least one whole token is available."""
        self._refill(now)
        return max(0.0, (1.0 - self._tokens) / self._rate)

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
