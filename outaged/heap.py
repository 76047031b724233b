"""Keep the garbage collector off the topology.

A loaded city network is hundreds of thousands of long-lived objects (elements,
the graph, the index's dicts). Python's cyclic collector walks every tracked
object at each full (generation 2) collection: on the 100k-element network a
pause of about half a second, on the decision loop. `gc.freeze()` moves what
is alive into a permanent generation those collections skip.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("outaged.heap")


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
