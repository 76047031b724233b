"""The decision loop never holds the event loop past its budget, and the heap is
frozen once the topology is loaded (and again, collecting the old one, on reload)."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

from outaged.heap import freeze_loaded
from outaged.steps import STEP_BUDGET_S, Step


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


async def test_a_step_past_its_budget_lets_other_tasks_run() -> None:
    ran: list[str] = []

    async def health_check() -> None:
        ran.append("healthz")

    step = Step()
    step.held_since = time.monotonic() - 2 * STEP_BUDGET_S  # held the loop too long
    task = asyncio.create_task(health_check())
    await step.pace()
    assert ran == ["healthz"] and step.yields == 1
    await task


async def test_a_step_within_its_budget_keeps_going() -> None:
    ran: list[str] = []

    async def health_check() -> None:
        ran.append("healthz")

    step = Step()
    step.held_since = time.monotonic() + 3600  # just got the loop back
    task = asyncio.create_task(health_check())
    await step.pace()
    assert ran == [] and step.yields == 0
    await task
    assert ran == ["healthz"]


def test_freeze_keeps_what_is_loaded_and_a_reload_frees_the_old() -> None:
    old = _Node()
    alive = weakref.ref(old)
    try:
        freeze_loaded()
        assert gc.get_freeze_count() > 0
        del old  # the old topology after a reload: garbage, but frozen
        gc.collect()
        assert alive() is not None  # frozen objects are out of the collector's way
        freeze_loaded()  # the reload's freeze collects what the old load left
        assert alive() is None
    finally:
        gc.unfreeze()
