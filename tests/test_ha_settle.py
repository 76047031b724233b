"""`outaged.ha.inbox.settle`, pure: what each queued request of a step is answered
goes into the step's batch, next to its inbox row's deletion; and `verdict`:
what a step's answer means for the inbox row."""

from __future__ import annotations

import asyncio

from outaged.errors import (
    NotFoundError,
    StoreError,
    StoreUnavailable,
    TransitionError,
    UnstorableError,
)
from outaged.ha.inbox import (
    ACTION,
    AGAIN,
    DONE,
    FAILING,
    MAX_TRIES,
    REFUSED,
    RETRY,
    SIGNALS,
    settle,
    verdict,
)
from outaged.ha.lease import Fenced
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


def test_what_a_steps_answer_means_for_a_queued_row() -> None:
    """`verdict`, pure: a decided row (a refusal too) is done; the store's or
    the fence's failure is retried uncounted; a refusal the same each time is
    given up at once; a failed step after MAX_TRIES tries."""
    fenced = Fenced("another instance leads")
    assert verdict(None, 0) == DONE
    assert verdict(TransitionError("cannot close"), 2) == DONE  # stored with its commit
    assert verdict(NotFoundError("unknown outage 9"), 0) == DONE
    assert verdict(StoreUnavailable("locked"), MAX_TRIES + 5) == RETRY
    assert verdict(fenced, 0) == RETRY
    assert verdict(UnstorableError("a NUL"), 0) == REFUSED
    bug = StoreError("decision step: ValueError: 'S9' is not a valid Severity")
    assert [verdict(bug, t) for t in range(MAX_TRIES)] == [AGAIN] * (MAX_TRIES - 1) + [FAILING]
