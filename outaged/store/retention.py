"""Store retention: expired signals and Idempotency-Key answers go, in small batches.

Outages, their timelines and deadlines are kept forever; raw signals only as long
as `retention.signals_s` (never shorter than what a restart re-ingests), and
Idempotency-Key answers and queued requests' outcomes (outaged.ha)
`retention.idempotency_s`. A pass deletes `batch_rows`
rows per transaction and sleeps `pause_s` between transactions, so the decision
loop's commits (same writer thread) wait for one short batch at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from outaged.config import RetentionConfig
from outaged.errors import StoreError
from outaged.store.base import Store

log = logging.getLogger("outaged.retention")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """What is older than these times may go."""

    signals: float
    idempotency: float


def cutoffs(policy: RetentionConfig, now: float, lookback_s: float) -> Cutoffs:
    """Pure: a restart re-ingests `lookback_s` of signals, so those always stay."""
    return Cutoffs(now - max(policy.signals_s, lookback_s), now - policy.idempotency_s)


@dataclass(frozen=True, slots=True)
class Pruned:
    signals: int
    idempotency: int
    batches: int
    outcomes: int = 0


class Pruner:
    def __init__(
        self,
        store: Store,
        policy: RetentionConfig,
        *,
        lookback_s: float,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store = store
        self.policy = policy
        self.lookback_s = lookback_s
        self.clock = clock
        self._sleep = sleep
        self._stop = asyncio.Event()

    async def prune(self, now: float) -> Pruned:
        """One pass until nothing older than the cutoffs is left (or stop is asked)."""
        cut = cutoffs(self.policy, now, self.lookback_s)
        signals, batches_s = await self._drain(self.store.prune_signals, cut.signals)
        keys, batches_k = await self._drain(self.store.prune_idempotency, cut.idempotency)
        done, batches_o = await self._drain(self.store.prune_outcomes, cut.idempotency)
        if signals or keys or done:
            log.info(
                "pruned %d signals, %d idempotency keys and %d queued outcomes",
                signals,
                keys,
                done,
            )
        return Pruned(signals, keys, batches_s + batches_k + batches_o, done)

    async def _drain(
        self, delete: Callable[[float, int], Awaitable[int]], before: float
    ) -> tuple[int, int]:
        limit = self.policy.batch_rows
        total = batches = 0
        while not self._stop.is_set():
            deleted = await delete(before, limit)
            total += deleted
            batches += 1
            if deleted < limit:
                break
            await self._sleep(self.policy.pause_s)  # let decision steps commit
        return total, batches

    async def run(self) -> None:
        """Prune now and every `every_s` until `stop()`; a failed pass is logged."""
        while not self._stop.is_set():
            try:
                await self.prune(self.clock())
            except StoreError as exc:
                log.warning("pruning failed, retrying in %.0f s: %s", self.policy.every_s, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.policy.every_s)

    def stop(self) -> None:
        """End `run` after the batch in progress."""
        self._stop.set()
