"""Keep the garbage collector off the long-lived heap.

A loaded city network is hundreds of thousands of long-lived objects (elements,
the graph, the index's dicts). Python's cyclic collector walks every tracked
object at each full (generation 2) collection: on the 100k-element network a
pause of about half a second, on the decision loop. `gc.freeze()` moves what
is alive into a permanent generation those collections skip.

What is frozen: the topology once loaded (`freeze_loaded`, again after each
reload), what recovery rebuilt (`freeze_recovered`), and, while the daemon
runs, whatever long-lived state piles up outside the frozen heap (`Keeper`):
each probed element's `Health` made at its first probe (~96k objects in the
first probe cycle on the 100k network), a storm's evidence and summaries
(~150k more with 4 metros down).

Why the keeper looks at the size of what is not frozen, and not at the pauses:
a full collection costs ~0.1-0.5 us per object it walks (measured on the 100k
network: 96k `Health` 8 ms of CPU; those plus a 4-metro storm's state, 250k
objects, 60 ms). Freezing only after a slow one (the earlier freezer) paid that
pause first, and the storm's state grew past the goal (50 ms) between two
freezes. The oldest generation grows only when a young (generation 1)
collection ends, so the keeper counts it then (a list of pointers: ~0.5 ms per
25k; a couple of times a second in a storm) and, when it holds FREEZE_AT objects
or more, collects on the event loop's next turn (a walk of about that many
objects: 3-15 ms measured) and freezes what is alive. CPython's own full
collections, which wait for 10 young ones, then walk about that many at most.

Bounded: a frozen object that later dies by reference counting is freed as
usual (and leaves the frozen count); only one that dies inside a reference
cycle is kept until the next reload, which unfreezes and collects everything.
Nothing is frozen without a collection just before, so no garbage is; and the
frozen heap may grow by at most FREEZE_BUDGET objects over the count at the
last `rebase()` (after load, recovery and each reload): past that the keeper
stops freezing (and counting) until the next rebase, says so once, and full
collections walk the rest again.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

log = logging.getLogger("outaged.heap")

FREEZE_AT = 20_000  # objects outside the frozen heap that make a full collection ~5-10 ms
FREEZE_BUDGET = 1_000_000  # objects the keeper may add to the frozen heap (~100 MB)


def freeze_loaded() -> None:
    """Call after the topology is loaded, and again after each reload.

    Unfreezes first, so what a reload left behind (the old topology's cycles) is
    collected once, then freezes everything alive now."""
    began = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    log.info(
        "heap frozen: %d objects out of the collector's way (%.0f ms)",
        gc.get_freeze_count(),
        (time.perf_counter() - began) * 1e3,
    )


def freeze_recovered() -> None:
    """Call once recovery has rebuilt the engine from the store: what it re-ingested
    (per-element health, report windows; ~10^6 signals' worth) joins the frozen
    heap, so the running loop's full collections do not walk it again and again.
    Collects first (only what is not frozen yet) so no garbage is frozen."""
    began = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.info(
        "recovered state frozen: %d objects (%.0f ms)",
        gc.get_freeze_count(),
        (time.perf_counter() - began) * 1e3,
    )


class Keeper:
    """Freezes the long-lived objects made since the last freeze once there are
    `at` of them, within `budget` objects over the last `rebase()` (module doc).

    `gc.get_freeze_count()` walks the whole frozen heap (~20 ms for 500k objects),
    so the keeper counts what it froze itself, an upper bound (frozen objects
    that die leave the real count), and asks the real count only when that bound
    passes the budget."""

    def __init__(self, *, at: int = FREEZE_AT, budget: int = FREEZE_BUDGET) -> None:
        self.at = at
        self.budget = budget
        self.freezes = 0  # how often it froze (for tests and the log)
        self._ceiling = 0
        self._frozen = 0  # at most this many frozen (the real count, plus what it froze since)
        self._spent = False  # past the budget: nothing more until the next rebase()
        self._loop: asyncio.AbstractEventLoop | None = None  # where `install` freezes
        self._due = False  # a freeze is scheduled on the loop
        self.rebase()

    def rebase(self) -> None:
        """The frozen heap as it is now (after load, recovery, a reload) is the base
        the budget counts from."""
        self._frozen = gc.get_freeze_count()
        self._ceiling = self._frozen + self.budget
        self._spent = False

    def check(self) -> int:
        """Freeze what is alive outside the frozen heap if it is `at` objects or more;
        returns how many objects were frozen (0: none)."""
        if self._spent:  # said once; no recount (a walk of the frozen heap) per call
            return 0
        old = len(gc.get_objects(generation=2))
        if old < self.at:
            return 0
        if self._frozen + old > self._ceiling:
            self._frozen = gc.get_freeze_count()  # what died since was counted as frozen
            if self._frozen + old > self._ceiling:
                log.warning(
                    "garbage-collector freeze budget spent: %d objects frozen; "
                    "full collections walk the remaining %d",
                    self._frozen,
                    old,
                )
                self._spent = True
                return 0
        began = time.perf_counter()
        gc.collect()  # only what is not frozen: no garbage goes into the frozen heap
        alive = len(gc.get_objects(generation=2))
        gc.freeze()
        self.freezes += 1
        self._frozen += alive
        log.info(
            "froze %d long-lived objects (at most %d frozen; %.1f ms)",
            alive,
            self._frozen,
            (time.perf_counter() - began) * 1e3,
        )
        return alive

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Count the oldest generation each time a young collection has added to it
        (from `gc.callbacks`, in whichever thread collected), and freeze on `loop`."""
        self._loop = loop
        gc.callbacks.append(self._on_gc)

    async def remove(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        # Only a generation-1 collection moves objects into the oldest generation;
        # the collector cannot collect from inside its own callback, so the freeze
        # (a collection first) runs on the loop's next turn: between two chunks of
        # a step at the latest, before the 10 young collections a full one needs.
        # Once the budget is spent, nothing is counted or scheduled until a rebase.
        if (
            phase != "stop"
            or info["generation"] != 1
            or self._due
            or self._spent
            or self._loop is None
        ):
            return
        if len(gc.get_objects(generation=2)) >= self.at and not self._loop.is_closed():
            self._due = True
            self._loop.call_soon_threadsafe(self._freeze_due)

    def _freeze_due(self) -> None:
        self._due = False
        self.check()
