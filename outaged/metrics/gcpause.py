"""The process's garbage-collection pauses: a histogram by generation, and a log
line for each pause long enough to hold up the decision loop and the API.

What keeps the full collections short (the frozen heap and the keeper that
freezes long-lived state as it grows) is `outaged.heap`.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

log = logging.getLogger("outaged.gc")

SLOW_PAUSE_S = 0.05  # a pause over this is logged (the daemon's goal: none)
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class GcPauses:
    """Times every collection (`gc.callbacks`) while installed."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.pauses = Histogram(
            "outaged_gc_pause_seconds",
            "Time the process stood still in one garbage collection, by generation",
            ["generation"],
            buckets=BUCKETS,
            registry=registry,
        )
        for generation in ("0", "1", "2"):
            self.pauses.labels(generation)
        self._began = 0.0

    def install(self) -> None:
        gc.callbacks.append(self._on_gc)

    async def remove(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        spent = time.perf_counter() - self._began
        generation = int(info["generation"])
        self.pauses.labels(str(generation)).observe(spent)
        if spent > SLOW_PAUSE_S:
            log.warning(
                "slow garbage collection: generation %d, %.1f ms, %d objects collected",
                generation,
                spent * 1e3,
                info.get("collected", 0),
            )
