"""The process GC-pause histogram (outaged/metrics/gcpause.py) on a real collection."""

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


class Held:
    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n


async def test_survivors_of_a_slow_full_collection_are_frozen_within_the_budget() -> None:
    gc.freeze()  # what the test process holds already is not this test's
    try:
        pauses = GcPauses(CollectorRegistry(), freeze_after_s=-1.0, budget=50_000, every_s=0.0)
        pauses.install()
        try:
            kept = [Held(i) for i in range(20_000)]
            garbage: list[list[object]] = [[] for _ in range(1_000)]
            for g in garbage:
                g.append(g)  # cycles: collected by the full collection, never frozen
            del garbage
            base = gc.get_freeze_count()
            gc.collect()
            assert pauses.freezes == 1
            assert base + 20_000 <= gc.get_freeze_count() < base + 21_000  # no garbage in it
            gc.collect()  # nothing new survived: the next full collection walks nearly nothing
            assert len(gc.get_objects(generation=2)) < 1_000

            del kept  # dead by reference counting: freed although frozen
            assert gc.get_freeze_count() < base + 1_000

            more = [Held(i) for i in range(60_000)]  # past the budget: not frozen
            gc.collect()
            assert pauses.freezes == 2  # the second froze its few survivors; this one none
            assert gc.get_freeze_count() < base + 50_000
            assert len(gc.get_objects(generation=2)) >= 60_000
            del more
        finally:
            await pauses.remove()
    finally:
        gc.unfreeze()


async def test_the_freezer_freezes_at_most_once_per_interval() -> None:
    gc.freeze()
    try:
        pauses = GcPauses(CollectorRegistry(), freeze_after_s=-1.0, every_s=3600.0)
        pauses.install()
        try:
            gc.collect()
            kept = [Held(i) for i in range(5_000)]
            gc.collect()
            assert pauses.freezes == 1
            assert len(gc.get_objects(generation=2)) >= 5_000  # not frozen this time
            del kept
        finally:
            await pauses.remove()
    finally:
        gc.unfreeze()
