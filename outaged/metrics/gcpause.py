"""The process's garbage-collection pauses: a histogram by generation, a log
line for each pause long enough to hold up the decision loop and the API, and
the freezer that keeps full collections short.

Why the freezer: the topology and what recovery rebuilt are frozen at the start
(`outaged.heap`), but per-element state made later (each probed element's
`Health` at its first probe, ~96k on the 100k network, and what a storm keeps)
stays in the collector's sight, and each full collection walks all of it
(87-129 ms on the 100k network). CPython runs a full collection each time the
survivors of the younger generations reach a quarter of the last full
collection's survivors, so the cost of consecutive full collections grows by
about 1.25x at a time. When one takes more than FREEZE_AFTER_S of the
collecting thread's CPU time (not wall time: on a loaded machine a small
collection can stand still for long without being big), whatever
survived it is frozen from inside the collector's own "stop" callback: at that
moment everything tracked is alive (the garbage was just collected), so no
garbage is frozen, and the next full collection starts again from nearly
nothing.

Bounded: a frozen object that later dies by reference counting is freed as
usual (and leaves the frozen count); only one that dies inside a reference
cycle is never collected (measured: forced to freeze after every full
collection, tests/test_retention_long.py's traced memory grows 1.38x over 20
simulated days: ~22 KB in 45 freezes; which objects was not analysed). So the
freezer freezes at most once per FREEZE_EVERY_S (10 s: once a minute let the
full collections of a storm's first minute grow to 100-250 ms on the 100k
network, bench/bench_daemon.py), only after a full collection
that cost FREEZE_AFTER_S (tens of thousands of new long-lived objects), and
the frozen heap may grow by at most FREEZE_BUDGET objects over the count at
the last `rebase()` (after load, recovery and each reload); past that the
freezer stops and says so once, and full collections walk the rest again.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

log = logging.getLogger("outaged.gc")

SLOW_PAUSE_S = 0.05  # a pause over this is logged (the daemon's goal: none)
FREEZE_AFTER_S = 0.02  # a full collection this much CPU: what survived it is frozen
FREEZE_BUDGET = 1_000_000  # objects the freezer may add to the frozen heap (~100 MB)
FREEZE_EVERY_S = 10.0  # at most one freeze per 10 s: each can keep some garbage-to-be
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class GcPauses:
    """Times every collection (`gc.callbacks`) while installed, and freezes the
    survivors of a slow full collection within the budget."""

    def __init__(
        self,
        registry: CollectorRegistry,
        freeze_after_s: float = FREEZE_AFTER_S,
        budget: int = FREEZE_BUDGET,
        every_s: float = FREEZE_EVERY_S,
    ) -> None:
        self.pauses = Histogram(
            "outaged_gc_pause_seconds",
            "Time the process stood still in one garbage collection, by generation",
            ["generation"],
            buckets=BUCKETS,
            registry=registry,
        )
        for generation in ("0", "1", "2"):
            self.pauses.labels(generation)
        self.freeze_after_s = freeze_after_s
        self.budget = budget
        self.every_s = every_s
        self._froze_at = -float("inf")  # time.monotonic() of the last freeze
        self.freezes = 0  # how often the freezer froze (for tests and the log)
        self._ceiling = gc.get_freeze_count() + budget
        self._spent_said = False
        self._began = 0.0
        self._began_cpu = 0.0

    def install(self) -> None:
        gc.callbacks.append(self._on_gc)

    async def remove(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def rebase(self) -> None:
        """The frozen heap as it is now (after load, recovery, a reload) is the base
        the freezer's budget counts from."""
        self._ceiling = gc.get_freeze_count() + self.budget
        self._spent_said = False

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            self._began_cpu = time.thread_time()
            return
        spent = time.perf_counter() - self._began
        cpu = time.thread_time() - self._began_cpu
        generation = int(info["generation"])
        self.pauses.labels(str(generation)).observe(spent)
        if spent > SLOW_PAUSE_S:
            log.warning(
                "slow garbage collection: generation %d, %.1f ms, %d objects collected",
                generation,
                spent * 1e3,
                info.get("collected", 0),
            )
        if generation == 2 and cpu > self.freeze_after_s:
            now = time.monotonic()
            if now - self._froze_at >= self.every_s:
                self._freeze(cpu, now)

    def _freeze(self, cpu: float, now: float) -> None:
        frozen = gc.get_freeze_count()
        alive = len(gc.get_objects(generation=2))  # the survivors (the young ones are empty)
        if frozen + alive > self._ceiling:
            if not self._spent_said:
                log.warning(
                    "garbage-collector freeze budget spent: %d objects frozen; "
                    "full collections walk the remaining %d",
                    frozen,
                    alive,
                )
                self._spent_said = True
            return
        gc.freeze()
        self._froze_at = now
        self.freezes += 1
        log.info(
            "froze %d objects that survived a full collection of %.1f ms CPU (%d frozen)",
            alive,
            cpu * 1e3,
            frozen + alive,
        )
