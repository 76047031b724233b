"""`outaged.ha.inbox.settle`, pure: what each queued request of a step is answered
goes into the step's batch, next to its inbox row's deletion."""

from __future__ import annotations

import asyncio

from outaged.errors import NotFoundError
from outaged.ha.inbox import ACTION, SIGNALS, settle
from outaged.outages.lifecycle import Action
from outaged.records.actions import ActionRequest
from outaged.steps import Act, IdemKey, Ingested, Intake, Outcome, Step
from outaged.store.base import QueuedOutcome


def render(item: Intake | Act, outcome: Outcome | BaseException) -> tuple[int, str]:
    if isinstance(outcome, BaseException):
        return 404, f"refused: {outcome}"
    return 202, f"ok {type(item).__name__}"


async def test_each_queued_request_gets_its_answer_in_the_batch() -> None:
    loop = asyncio.get_running_loop()
    report = Intake([], [], "cc-1", None, loop.create_future(), inbox="a" * 32)
    probes = Intake([], [], None, None, loop.create_future(), inbox="b" * 32)  # a standby's own
    act = Act(9, ActionRequest(Action.ACK, {}), "ops", None, loop.create_future(), inbox="c" * 32)
    key = IdemKey("k", "sha")
    first = Intake([], [], "cc-1", key, loop.create_future())  # direct, not queued
    twin = Intake([], [], "cc-1", key, loop.create_future(), inbox="d" * 32)
    step = Step(items=[report, probes, act, first, twin], now=100.0)
    ingested = Ingested(1, 0, [])
    assert report.reply and probes.reply and first.reply and twin.reply
    step.done = [
        (report.reply, ingested),
        (probes.reply, ingested),
        (act.reply, NotFoundError("unknown outage 9")),
        (first.reply, ingested),
    ]
    step.twins = [(twin.reply, first)]
    settle(step, render)
    assert step.batch.outcomes == [
        QueuedOutcome("a" * 32, SIGNALS, 202, "ok Intake", 100.0),
        QueuedOutcome("c" * 32, ACTION, 404, "refused: unknown outage 9", 100.0),
        QueuedOutcome("d" * 32, SIGNALS, 202, "ok Intake", 100.0),
    ]
