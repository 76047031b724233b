"""The keeper (outaged/heap.py) freezes long-lived state as it piles up: on its
own (real collections) and in the daemon, where a probe cycle's per-element
`Health` ends up frozen and a reload unfreezes, collects and refreezes."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from outaged.heap import Keeper
from outaged.signals import ProbeResult, Signal
from tests.atomic import Daemon
from tests.citygen import write_city
from tests.smallnet import load


class Held:
    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def unfrozen() -> set[int]:
    """Ids of the objects the cyclic collector still walks (the frozen ones are not listed)."""
    return {id(o) for o in gc.get_objects()}


@pytest.fixture
def own_heap() -> Iterator[None]:
    """What the test process holds already is not the test's: frozen before, thawed after."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def promote() -> None:
    """What survives a young collection moves to the oldest generation (as in a
    running process, where young collections come every few hundred allocations)."""
    gc.collect(1)


@pytest.mark.usefixtures("own_heap")
def test_long_lived_objects_are_frozen_once_there_are_enough() -> None:
    keeper = Keeper(at=10_000, budget=50_000)
    base = gc.get_freeze_count()
    kept = [Held(i) for i in range(5_000)]
    promote()
    assert keeper.check() == 0  # too few: the collector may walk them
    assert id(kept[0]) in unfrozen()
    kept += [Held(i) for i in range(10_000)]
    garbage = [Node() for _ in range(1_000)]
    dead = weakref.ref(garbage[0])
    promote()
    del garbage  # cycles, dead before the check: collected by it, never frozen
    added = keeper.check()
    assert 15_000 <= added < 15_500 and keeper.freezes == 1
    assert dead() is None
    assert not {id(h) for h in kept} & unfrozen()
    assert len(gc.get_objects(generation=2)) < 100  # a full collection now walks nearly nothing
    assert base + 15_000 <= gc.get_freeze_count() < base + 15_500
    del kept  # dead by reference counting: freed although frozen
    assert gc.get_freeze_count() < base + 500


@pytest.mark.usefixtures("own_heap")
def test_past_its_budget_the_keeper_freezes_nothing_and_says_so_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    keeper = Keeper(at=1_000, budget=20_000)
    caplog.set_level(logging.WARNING, "outaged.heap")
    kept = [Held(i) for i in range(15_000)]
    promote()
    assert keeper.check() >= 15_000
    kept += [Held(i) for i in range(10_000)]  # 25,000 over the base: past the budget
    promote()
    assert keeper.check() == 0
    walks: list[int] = []  # spent: later checks do not walk the frozen heap again
    count = gc.get_freeze_count

    def counted() -> int:
        walks.append(1)
        return count()

    monkeypatch.setattr(gc, "get_freeze_count", counted)
    assert keeper.check() == 0 and keeper.check() == 0 and not walks
    monkeypatch.undo()
    assert id(kept[-1]) in unfrozen()
    spent = [r for r in caplog.records if "freeze budget spent" in r.getMessage()]
    assert len(spent) == 1
    keeper.rebase()  # a reload: the budget counts from the heap as it is now
    assert keeper.check() >= 10_000
    assert id(kept[-1]) not in unfrozen()


async def test_a_probe_cycle_s_health_ends_up_frozen_and_a_reload_refreezes(
    tmp_path: Path,
) -> None:
    """In the daemon: the per-element state a probe cycle made is frozen by the
    keeper as soon as a young collection has moved it to the oldest generation;
    a reload collects what was frozen and died since (the old engine's cycles)
    and freezes the new state."""
    net = load(write_city(tmp_path / "city", metros=2, communities=3))
    d = Daemon(tmp_path, net)
    app = await d.start()
    try:
        keeper = app.keeper
        keeper.at = 1  # the small city's few hundred objects are "enough"
        engine = app.pipeline.engine
        assert not engine.health
        cycle: list[Signal] = [ProbeResult(d.clock(), e, True, 1.0) for e in net.probed()]
        await d.ingest(cycle)
        assert len(engine.health) == len(cycle)
        frozen_before = keeper.freezes
        promote()  # the young collection that moves them to the oldest generation
        for _ in range(10):  # bounded: the keeper freezes on the loop's next turn
            if keeper.freezes > frozen_before:
                break
            await asyncio.sleep(0)
        assert keeper.freezes > frozen_before
        walked = unfrozen()
        assert not {id(h) for h in engine.health.values()} & walked  # all of them frozen

        cyclic = Node()  # state that dies in a cycle after being frozen
        dead = weakref.ref(cyclic)
        promote()
        assert keeper.check() > 0 and id(cyclic) not in unfrozen()
        del cyclic
        gc.collect()
        assert dead() is not None  # frozen: out of the collector's sight until the reload
        result = await app.reload()
        assert result.ok, result.message
        assert dead() is None  # the reload unfroze and collected it
        health = app.pipeline.engine.health
        assert health and not {id(h) for h in health.values()} & unfrozen()
    finally:
        await d.stop()
        gc.unfreeze()
