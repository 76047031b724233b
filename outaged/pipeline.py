"""The decision loop: signals and actions in, committed decisions out.

One task owns the engine and the ledger. Each step takes everything queued,
folds signals into the engine and actions into the ledger, evaluates (at most
every `interval_s` while work arrives, and whenever the engine asks to be
woken), commits the whole step to the store in one transaction, and only then
answers the callers and hands the step's messages to the outbox. The messages
are rows of that same transaction, and so are the outbox's delivery reports
that come back through the queue:

    queue -> engine.ingest / ledger.act / ledger.delivery -> ledger.decide(now)
          -> store.commit (decisions + outbox rows) -> reply, outbox.add

A step is atomic: its changes to memory count only once the commit succeeds.
Before that, each item is checked for what the store cannot hold and for a
repeated Idempotency-Key (outaged.admission) and refused or answered alone,
naming the field. What a failed step does (rebuild memory from the store, retry
the requests one by one, rest while the store is unavailable) is in
outaged.step_failures; what a step does with each item, and how the ledger's
changes become the batch it commits, in outaged.step_items. This module runs
the steps: the callers' queue, when a step starts and gathers, its commit.

A step holds the event loop for at most its budget in one go (outaged.steps.
STEP_BUDGET_S): past it, it stands aside between chunks of
outaged.step_items.CHUNK signals; an election (tens to hundreds of ms in a
city-wide storm) runs on a worker thread, the loop answering meanwhile (the GIL
passes between them every few ms). Nothing on the loop iterates memory while it
runs: a read of memory (the bulletin, the board, planned work, an element's
state) waits in `settled` for the step's commit, so it never shows what a failed
commit takes back; /readyz, /metrics and the status wait in `quiet` for the
election only; reads of the store and /healthz do not wait. A step whose work
took longer than its budget says where the time went in one "slow decision
step" log line and counts in outaged_decision_steps_over_budget_total.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping

from outaged.correlate.spikes import Suspicion
from outaged.dispatch.verification import Verdict
from outaged.errors import StoreUnavailable
from outaged.metrics.observe import NoObserver, StepObserver
from outaged.notify.base import Message, Result
from outaged.outages.model import iso
from outaged.records.actions import ActionRequest
from outaged.records.ledger import Changes, Ledger
from outaged.signals import Signal
from outaged.step_failures import StepFailures
from outaged.step_items import StepItems
from outaged.steps import (
    STEP_BUDGET_S,
    STOP,
    YIELD_TURNS,
    Act,
    Check,
    Delivery,
    IdemKey,
    IdempotencyConflict,
    Ingested,
    Intake,
    Item,
    OutboxPort,
    Outcome,
    Replayed,
    Step,
)
from outaged.store.base import Learned, Store

__all__ = ["Clock", "IdemKey", "IdempotencyConflict", "Ingested", "Outcome", "Pipeline", "Replayed"]

log = logging.getLogger("outaged.pipeline")

Clock = Callable[[], float]
MAX_STEP_SIGNALS = 20_000  # bound one step's work so replies keep flowing
MAX_IDLE_S = 60.0
EVICT_EVERY_S = 60.0  # of the clock: how often finished outages leave memory
SETTLE_WAIT_S = 5.0  # a read of memory waits at most this for the step in flight


class Pipeline(StepItems, StepFailures):
    def __init__(
        self,
        ledger: Ledger,
        store: Store,
        outbox: OutboxPort,
        *,
        next_signal_seq: int,
        interval_s: float = 0.05,
        clock: Clock = time.time,
        evict: bool = True,
        lookback_s: float | None = None,
        verify_auto: bool = True,
        observer: StepObserver | None = None,
        budget_s: float = STEP_BUDGET_S,
    ) -> None:
        """`evict`: drop finished outages from memory (`Ledger.evict`); the store
        keeps them and an action on one loads it back. `lookback_s`: what a
        rebuild after a failed step re-ingests (as the daemon's start does).
        `observer` hears of each step after its commit (metrics). `budget_s`: how
        long a step may hold the event loop in one go (outaged.steps)."""
        super().__init__()
        self.budget_s = budget_s
        self.observer: StepObserver = observer or NoObserver()
        self._turn = asyncio.Lock()  # held by a step; a reload takes it between steps
        self._settled = asyncio.Event()  # set while no step has memory ahead of the store
        self._settled.set()
        self._quiet = asyncio.Event()  # set while no election runs on a worker thread
        self._quiet.set()
        self._observed: tuple[Changes, list[Suspicion]] | None = None  # the last attempt's
        self.ledger = ledger
        self.store = store
        self.outbox = outbox
        self.interval_s = interval_s
        self.clock = clock
        self._seq = next_signal_seq
        self._queue: asyncio.Queue[Item | object] = asyncio.Queue()
        self._last_eval = float("-inf")  # monotonic time of the last evaluation with work
        self._evict = evict
        self._next_evict = float("-inf")  # clock time
        self.lookback_s = lookback_s
        self._stop_asked = asyncio.Event()
        self.verify_auto = verify_auto
        self.on_repaired: Callable[[int], None] = lambda _: None  # after the commit
        # what a re-probe would ping; nothing: proposed to the NOC in the same step
        self.reprobe_targets: Callable[[int], Mapping[str, str]] = lambda _: {}
        # several instances (outaged.ha.inbox.settle): each queued request's answer,
        # put in the batch of the commit that decides it
        self.settle: Callable[[Step], None] = lambda _: None
        self.on_committed: Callable[[], None] = lambda: None  # a step wrote something

    # ---- the callers' side ----------------------------------------------

    def sink(self, signal: Signal) -> None:
        """SignalSink for probes and traps: queued, persisted if it matters, no reply."""
        self._queue.put_nowait(Intake([signal], [None], None, None, None))

    async def ingest(
        self,
        signals: list[Signal],
        ext_ids: list[str | None],
        actor: str,
        idem: IdemKey | None = None,
        render: Callable[[Ingested], str] | None = None,
    ) -> Outcome:
        """Queue signals; returns once they and the decisions they led to are committed.

        `render` turns the outcome into the response body kept for `idem`."""
        return await self.queue_signals(signals, ext_ids, actor, idem, render)

    def queue_signals(
        self,
        signals: list[Signal],
        ext_ids: list[str | None],
        actor: str | None,
        idem: IdemKey | None = None,
        render: Callable[[Ingested], str] | None = None,
        inbox: str | None = None,
    ) -> asyncio.Future[Outcome]:
        """`ingest` without waiting: queued now, in call order; `inbox`: the row
        it came from, deleted by the commit that decides it."""
        reply: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(Intake(signals, ext_ids, actor, idem, reply, render, inbox))
        return reply

    async def act(
        self, outage_id: int, request: ActionRequest, actor: str, idem: IdemKey | None = None
    ) -> Outcome:
        return await self.queue_act(outage_id, request, actor, idem)

    def queue_act(
        self,
        outage_id: int,
        request: ActionRequest,
        actor: str,
        idem: IdemKey | None = None,
        inbox: str | None = None,
    ) -> asyncio.Future[Outcome]:
        reply: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(Act(outage_id, request, actor, idem, reply, inbox))
        return reply

    def delivered(self, message: Message, result: Result, complete: bool) -> None:
        """The outbox did something with a message: record it in the next step."""
        self._queue.put_nowait(Delivery(message, result, complete))

    def network_checked(self, outage_id: int, signals: list[Signal], verdict: Verdict) -> None:
        """The re-probe after a repair report is back: folded in the next step."""
        self._queue.put_nowait(Check(outage_id, signals, verdict))

    def wake(self) -> None:
        """Run a step soon even if nothing arrives (it commits what the ledger holds)."""
        self._queue.put_nowait(Intake([], [], None, None, None))

    def stop(self) -> None:
        """Finish what is queued, then end `run`."""
        self._queue.put_nowait(STOP)
        self._stop_asked.set()

    # ---- the loop ---------------------------------------------------------

    async def run(self) -> None:
        while True:
            items, stopping = self._drain(await self._next())
            async with self._turn:
                done = await self.step(items, gather=not stopping)
            if done or stopping:
                return
            await asyncio.sleep(0)  # reads waiting in `settled` are answered before the next
            if self._pause > 0:  # the last step failed: let the store breathe
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_asked.wait(), self._pause)

    async def _off_loop(self, decide: Callable[[float], object], now: float) -> None:
        """`decide(now)` on a worker thread; `quiet` is clear until the thread is
        done (not merely until this await ends: a cancelled step leaves it running)."""
        self._quiet.clear()
        done = asyncio.get_running_loop().run_in_executor(None, decide, now)
        done.add_done_callback(lambda _: self._quiet.set())
        await asyncio.shield(done)  # a cancel would cancel `done` itself, quiet too early

    async def quiet(self) -> None:
        """Return when no election runs on its thread: what iterates memory on the
        loop (/readyz, /metrics, the status) awaits this right before it reads, with
        no await in between; a read that must also be committed awaits `settled`."""
        while not self._quiet.is_set():
            await self._quiet.wait()

    async def settled(self) -> None:
        """Return when memory holds only what the store holds: no step is between
        taking its items in and its commit (or its rollback after a failure). A
        read of memory (the bulletin, the board, planned work, an element's state)
        awaits this right before it reads, with no await in between, so it never
        shows a decision that may not be committed. StoreUnavailable (a 503) when
        that takes over SETTLE_WAIT_S (memory waits for a rebuild from a store
        that failed, or steps follow each other without a gap)."""
        try:
            async with asyncio.timeout(SETTLE_WAIT_S):
                while not self._settled.is_set():  # set, then cleared by the next step
                    await self._settled.wait()
                await self.quiet()  # the thread of a step cancelled on the way out
        except TimeoutError:
            why = self.last_failure or "decision steps without a gap"
            raise StoreUnavailable(
                f"the decision state is not settled with the store within {SETTLE_WAIT_S:g} s "
                f"({why}); retry"
            ) from None

    @contextlib.asynccontextmanager
    async def between_steps(self) -> AsyncIterator[None]:
        """No step runs inside: everything decided so far is committed (for a reload)."""
        async with self._turn:
            yield

    def swap(self, ledger: Ledger) -> None:
        """Decide on `ledger` (and its engine) from the next step on; call between steps."""
        self.ledger = ledger

    async def _next(self) -> object:
        if self._backlog:  # signals waiting for the store: step now (run paused already)
            return None
        wakes = [w for w in (self.engine.next_wakeup(), self.ledger.next_wakeup()) if w is not None]
        wake = min(wakes, default=None)  # the engine's timers, the clock's next step
        timeout = MAX_IDLE_S if wake is None else min(MAX_IDLE_S, max(0.0, wake - self.clock()))
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None  # time passed: evaluate anyway

    def _drain(self, first: object) -> tuple[list[Item], bool]:
        """`first` and what is queued behind it (bounded); True if a stop was requested."""
        items: list[Item] = []
        if self._backlog:  # before what arrived since: an interface's downs and ups in order
            kept, self._backlog = self._backlog, []
            items.append(Intake(kept, [None] * len(kept), None, None, None))
        stopping = False
        count = 0
        item = first
        while True:
            if item is STOP:
                stopping = True
            elif isinstance(item, Intake | Act | Delivery | Check):
                items.append(item)
                count += len(item.signals) if isinstance(item, Intake) else 1
            if stopping or count >= MAX_STEP_SIGNALS or self._queue.empty():
                return items, stopping
            item = self._queue.get_nowait()

    async def step(self, items: list[Item], *, gather: bool = False) -> bool:
        """One decision step; never raises (failures go to the callers and the log).

        With `gather`, when the signals leave the engine with something to weigh
        and the last such evaluation was under `interval_s` ago, wait out the
        interval and take in what arrived meanwhile: at most one real evaluation
        per interval in a storm, and one commit for the whole burst. Returns True
        when a stop request was taken in that way.

        Atomic: if anything fails before the commit has succeeded, memory is
        rebuilt from the store and the requests are retried alone (module doc)."""
        items = list(items)
        if not await self._usable(items):
            return False
        self._settled.clear()
        try:
            return await self._step(items, gather)
        finally:
            if not self._stale:  # else memory waits for a rebuild from the store
                self._settled.set()

    async def _step(self, items: list[Item], gather: bool) -> bool:
        step = Step(items=items, budget_s=self.budget_s)
        started, began = self.clock(), time.perf_counter()
        try:
            await self._attempt(step, gather)
        except Exception as exc:
            self.observer.failed(time.perf_counter() - began)
            await self._failed(step, exc)
            return step.stopping
        self._committed(step)
        step.gave_back()
        self.observer.paced(step.held, step.over_budget())
        if self._observed is not None:
            changes, suspicions = self._observed
            signals = (s for intake, _, _, _ in step.intakes for s in intake.signals)
            spent = time.perf_counter() - began
            self.observer.committed(changes, signals, suspicions, started, spent)
        return step.stopping

    async def _attempt(self, step: Step, gather: bool) -> None:
        step.before = dict(self.engine.outages)
        await self._take(step.items, step)
        pause = self._last_eval + self.interval_s - time.monotonic()
        if gather and pause > 0 and self.engine.dirty:
            await step.aside(asyncio.sleep(pause))
            step.waited += pause
            more, step.stopping = self._drain(None)
            step.items += more
            await self._take(more, step)
        elect = self.engine.dirty
        if elect:  # an election follows: what waits is served before it starts
            self._last_eval = time.monotonic()
            await step.aside(_turns())
        else:
            await step.pace()
        step.now = now = self.clock()
        step.taken = time.monotonic()
        if elect:  # on a thread of its own: the loop answers meanwhile (module doc)
            await step.aside(self._off_loop(self.ledger.decide, now))
        else:  # the clock's and the engine's timers: cheap
            self.ledger.decide(now)
        step.decided = time.monotonic()
        for check in step.checks:  # after the evaluation that took its probes in
            self.ledger.network_check(check.outage, check.verdict, now, auto=self.verify_auto)
        suspicions = self.engine.drain_suspicions()
        for found in suspicions:  # the NOC's list: GET /suspected
            log.warning(
                "suspected concentration at %s: %d %s callers since %s; NOC to confirm",
                found.element,
                found.reporters,
                found.cls.value,
                iso(found.first_at),
            )
        changes = self.ledger.drain()
        self._collect(changes, step, now)
        # about once a minute, when something was learned or a signal stored since
        learned = self.engine.spikes.baselines.export(now, self._seq - 1)
        if learned is not None:  # after every signal up to the last seq given out
            step.batch.learned = Learned(self._seq - 1, learned)
        self.settle(step)
        self._observed = None
        await step.aside(self.store.commit(step.batch))  # on the store's thread
        step.committed = time.monotonic()
        self._observed = (changes, suspicions)

    def _committed(self, step: Step) -> None:
        self._suspect = False
        self._pause = 0.0
        if step.items or step.batch:  # a timer step that wrote nothing proves nothing
            self.failed_steps = 0
        for reply, outcome in step.done:
            _answer(reply, outcome)
        for reply, twin in step.twins:
            if twin.reply is not None and twin.reply.done() and not twin.reply.cancelled():
                _answer(reply, twin.reply.exception() or twin.reply.result())
        self.outbox.drop(step.withdrawn)
        self.outbox.add(step.batch.outbox)
        if step.batch:
            self.on_committed()
        for oid in step.repaired:
            self.on_repaired(oid)
        now = step.now
        if self._evict and now >= self._next_evict:  # committed: memory may let go
            self._next_evict = now + EVICT_EVERY_S
            evicted = self.ledger.evict(now)
            if evicted:
                log.debug("outages %s finished: out of memory", evicted)


async def _turns() -> None:
    for _ in range(YIELD_TURNS):
        await asyncio.sleep(0)


def _answer(reply: asyncio.Future[Outcome], outcome: Outcome | BaseException) -> None:
    if reply.done():  # the caller went away
        return
    if isinstance(outcome, BaseException):
        reply.set_exception(outcome)
    else:
        reply.set_result(outcome)
