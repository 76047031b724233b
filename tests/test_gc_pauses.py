"""The process GC-pause histogram (outaged/metrics/gcpause.py) on a real collection
(what freezes the long-lived heap: tests/test_heap_keeper.py)."""

from __future__ import annotations

import gc

from prometheus_client import CollectorRegistry

from outaged.metrics.gcpause import GcPauses


async def test_each_collection_is_timed_by_generation_until_removed() -> None:
    registry = CollectorRegistry()
    pauses = GcPauses(registry)

    def count(generation: str) -> float:
        found = registry.get_sample_value(
            "outaged_gc_pause_seconds_count", {"generation": generation}
        )
        assert found is not None
        return found

    assert count("2") == 0
    pauses.install()
    try:
        gc.collect()
        gc.collect(1)
    finally:
        await pauses.remove()
    assert count("2") == 1 and count("1") >= 1
    took = registry.get_sample_value("outaged_gc_pause_seconds_sum", {"generation": "2"})
    assert took is not None and 0 < took < 10
    gc.collect()
    assert count("2") == 1  # removed: no longer timed
