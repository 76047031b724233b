"""What the decision loop does when a step fails (the base of `Pipeline`).

When a step fails, the engine and ledger it changed are thrown away and rebuilt
from the store exactly as a restart builds them (outaged.recovery), so memory
equals the store again; then, unless the store itself is unavailable, the
step's requests are retried one by one (probe and trap signals together), so
a bad one fails alone and every other commits. While the store is unavailable (locked by another
process, I/O), the loop asks it whether a write could start before touching
memory, answers 503 at once while it cannot, and rests between failed steps
(doubling, at most MAX_PAUSE_S), so a long lock neither rebuilds in a loop nor
spins.

`StepFailures` holds that state (consecutive failures, whether memory is stale
or the store suspect, the pause, the backlog of one-shot signals) and the
handling; `outaged.pipeline.Pipeline` runs the steps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from outaged.errors import StoreError, StoreUnavailable
from outaged.records.ledger import Ledger
from outaged.recovery import recover
from outaged.signals import ProbeResult, Signal
from outaged.steps import Check, Delivery, Intake, Item, Step
from outaged.store.base import Store

log = logging.getLogger("outaged.pipeline")

FAILING_AFTER = 3  # consecutive failed steps after which the daemon says it is not ready
FIRST_PAUSE_S = 0.1  # rest after a failed step, doubling while steps keep failing
MAX_PAUSE_S = 5.0
# The daemon's own signals that do not repeat (traps, ...) kept for the next step
# while the store is unavailable; past this the oldest are dropped, with a warning.
MAX_BACKLOG = 10_000


class StepFailures:
    """The failure state of the decision loop and what it does about a failed step."""

    # the pipeline's, used here
    ledger: Ledger
    store: Store
    clock: Callable[[], float]
    lookback_s: float | None
    _seq: int
    _queue: asyncio.Queue[Item | object]

    def __init__(self) -> None:
        self.failed_steps = 0  # consecutive; reset by a step that commits
        self.last_failure: str | None = None
        self.rebuilds = 0  # times memory was rebuilt from the store after a failed step
        self._stale = False  # memory holds a failed step's changes: rebuild before the next
        self._suspect = False  # the store was unavailable: ask it before touching memory
        self._pause = 0.0  # rest before the next step after a failure
        # The daemon's own one-shot signals refused while the store was unavailable,
        # in arrival order: the next step takes them first.
        self._backlog: list[Signal] = []

    async def step(self, items: list[Item], *, gather: bool = False) -> bool:
        """One decision step (the pipeline's); a failed one retries through it."""
        raise NotImplementedError

    @property
    def failing(self) -> str | None:
        """Why the decision loop cannot be trusted now, or None while it works."""
        if self.failed_steps < FAILING_AFTER:
            return None
        return f"the last {self.failed_steps} decision steps failed: {self.last_failure}"

    async def _usable(self, items: list[Item]) -> bool:
        """Whether memory is sound and the store could take a write; if not, the
        items are refused (nothing acknowledged) and memory is left alone."""
        if self._suspect and not await self._writable():
            self._refused(
                items,
                StoreUnavailable(
                    "the database is locked by another process or cannot be written; "
                    "nothing acknowledged, retry"
                ),
            )
            return False
        if self._stale and not await self._rebuild():
            self._refused(
                items,
                StoreUnavailable(
                    f"the decision state cannot be reloaded from the store "
                    f"({self.last_failure}); nothing acknowledged, retry"
                ),
            )
            return False
        return True

    async def _writable(self) -> bool:
        try:
            return await self.store.writable()
        except Exception:
            return False

    def _refused(self, items: list[Item], error: BaseException) -> None:
        self._failing(str(error))
        self._refused_quietly(items, error)

    def _failing(self, why: str) -> None:
        self.failed_steps += 1
        self.last_failure = why
        self._pause = min(MAX_PAUSE_S, max(FIRST_PAUSE_S, self._pause * 2))

    async def _failed(self, step: Step, exc: Exception) -> None:
        """Memory back to what the store holds; then each request again alone
        (probe, trap and delivery reports as one), unless the store is what
        failed: then all of them get a 503. A rebuild costs as much as a restart
        minus loading the topology, so a bad request costs two: the step's and
        its own."""
        if isinstance(exc, StoreUnavailable):
            log.error("decision step failed: %s", exc)
        else:
            log.exception("decision step failed")
        self._failing(f"{type(exc).__name__}: {exc}")
        self._suspect = isinstance(exc, StoreUnavailable)
        self._stale = True
        rebuilt = await self._rebuild()
        items = step.items
        units: list[list[Item]] = [[i] for i in items if i.reply is not None]  # alone
        quiet: list[Item] = [i for i in items if i.reply is None]  # probes, traps, delivery reports
        if quiet:
            units.append(quiet)  # checked before the step like the rest: together
        if len(units) <= 1 or not rebuilt or self._suspect:
            error: BaseException = exc
            if not isinstance(exc, StoreError):  # a bug: retrying may help
                error = StoreError(f"decision step: {type(exc).__name__}: {exc}")
            if not rebuilt:
                error = StoreUnavailable(f"{error}; and the state cannot be reloaded now")
            self._refused_quietly(items, error)
            return
        failures = self.failed_steps
        await self.step([])  # the daemon's own changes (timers) first, with no request
        if self.failed_steps > failures:  # not the requests' fault: none is to blame
            # Not the requests' fault: StoreUnavailable, so a caller (the HA inbox
            # reader) retries them without counting a try; HTTP answers 503 either way.
            own = StoreUnavailable(f"decision step: the daemon's own changes failed: {exc}")
            self._refused_quietly(items, own)
            return
        log.warning("retrying the failed step's %d requests one by one", len(units))
        for n, unit in enumerate(units):
            if self._stale or self._suspect:  # the store itself failed meanwhile
                rest: list[Item] = [i for u in units[n:] for i in u]
                self._refused(rest, StoreUnavailable(f"{self.last_failure}; nothing acknowledged"))
                return
            await self.step(unit)

    def _refused_quietly(self, items: list[Item], error: BaseException) -> None:
        """Answer `error` (the failure was counted already). A delivery report
        waits for the store to come back (the message went out; its deadline is
        met by recording that); so does the daemon's own signal that does not
        repeat (a trap: a linkDown is sent once), up to MAX_BACKLOG of them; a probe
        result is dropped (the next probe cycle sees the same)."""
        dropped = 0
        unavailable = isinstance(error, StoreUnavailable)
        for item in items:
            if isinstance(item, Delivery | Check) and unavailable:
                self._queue.put_nowait(item)
            elif isinstance(item, Intake) and item.reply is None:
                for signal in item.signals:
                    if unavailable and not isinstance(signal, ProbeResult):
                        self._backlog.append(signal)
                    else:
                        dropped += 1
            elif item.reply is None:
                dropped += 1
            elif not item.reply.done():
                item.reply.set_exception(error)
        if dropped:
            log.warning("%d of the daemon's own signals dropped: %s", dropped, error)
        over = len(self._backlog) - MAX_BACKLOG
        if over > 0:
            del self._backlog[:over]
            log.warning(
                "%d queued trap/daemon signals dropped (the oldest): more than %d wait "
                "for the store: %s",
                over,
                MAX_BACKLOG,
                error,
            )

    async def _rebuild(self) -> bool:
        """The engine and ledger as a restart would build them from the store."""
        began = time.monotonic()
        try:
            index, policy = self.ledger.engine.index, self.ledger.policy  # the clock's policy stays
            done = await recover(self.store, index, self.clock(), self.lookback_s, policy)
        except Exception as exc:
            log.error("cannot reload the decision state from the store (will retry): %s", exc)
            self._stale = True
            return False
        self.ledger = done.ledger
        self._seq = done.next_signal_seq
        self._stale = False
        self.rebuilds += 1
        log.warning(
            "decision state reloaded from the store after a failed step in %.2f s",
            time.monotonic() - began,
        )
        return True
