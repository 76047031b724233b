"""When the daemon's own timer changes fail while a failed step's requests are
retried, the requests are not to blame: they get StoreUnavailable, which the HA
inbox reader retries without counting a try (and HTTP answers 503, as before).

The decision logic of `StepFailures._failed` is pure once the step and the
rebuild are given; the real pipeline paths are in tests/test_atomic_step.py."""

from __future__ import annotations

import asyncio

from outaged.errors import StoreError, StoreUnavailable
from outaged.ha.inbox import AGAIN, FAILING, RETRY, verdict
from outaged.step_failures import StepFailures
from outaged.steps import Intake, Item, Step


class OwnChangesFail(StepFailures):
    """A step with requests fails; the daemon's own step (no request) fails too."""

    def __init__(self) -> None:
        super().__init__()
        self._queue = asyncio.Queue()
        self.steps: list[list[Item]] = []

    async def step(self, items: list[Item], *, gather: bool = False) -> bool:
        self.steps.append(items)
        if not items:
            self._failing("StoreError: timer change refused")
            return False
        return True

    async def _rebuild(self) -> bool:
        self._stale = False
        return True


def intake(loop: asyncio.AbstractEventLoop, n: int) -> Intake:
    return Intake(signals=[], ext_ids=[f"T-{n}"], actor=None, idem=None, reply=loop.create_future())


async def test_own_timer_failure_answers_store_unavailable_and_the_inbox_does_not_count_it() -> (
    None
):
    loop = asyncio.get_running_loop()
    failures = OwnChangesFail()
    items: list[Item] = [intake(loop, 1), intake(loop, 2)]
    await failures._failed(Step(items=items), StoreError("a timer row refused"))
    assert failures.steps == [[]]  # the daemon's own changes were tried, no request alone
    for item in items:
        assert isinstance(item, Intake) and item.reply is not None
        error = item.reply.exception()
        assert isinstance(error, StoreUnavailable), error
        assert "own changes failed" in str(error)
        # However often that happens, the HA inbox retries the row and never gives it up.
        assert all(verdict(error, tries) == RETRY for tries in range(10))
    # A plain StoreError (the old answer) would have been counted and given up.
    plain = StoreError("x")
    assert verdict(plain, 0) == AGAIN and verdict(plain, 2) == FAILING
