"""The durable outbox: notices become stored messages, a worker delivers them.

    ledger notice --compose--> Message rows (committed with the decision)
        --add--> per-channel lane --notifier.send--> Sent | Failed
        --report--> decision loop (timeline entry, deadline met, row updated)

The store is the source of truth: `load` takes back every undelivered row at
start, so after a crash nothing is lost; a row is only marked sent once its
channel accepted it, so nothing goes twice except a send that was in flight
at the crash (it goes again with the same Message-ID / webhook-id). Each
channel has its own lane and task: a dead SMTP server delays only e-mail,
and never the decision loop or the API. In a storm, what is due for one
recipient goes as one digest (digest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from outaged.errors import StoreError
from outaged.notify import digest
from outaged.notify.base import Failed, Message, Notice, Notifier, Reason, Result, Sent, State
from outaged.notify.digest import DigestPolicy
from outaged.notify.retry import RetryPolicy
from outaged.topology.model import Person

log = logging.getLogger("outaged.notify")

BURST = 100  # messages handed to a notifier at once (one SMTP connection)
CLAIM_RETRY_S = 1.0  # after a claim the store refused: nothing was sent, try again then


@dataclass(frozen=True, slots=True)
class Report:
    """What happened to one message, for the decision loop to record."""

    message: Message  # the row as it is now (state, attempts, next_at, sent_at)
    result: Result
    complete: bool  # this made every recipient of its notice reached


@dataclass(slots=True)
class _Group:
    reached: dict[str, bool] = field(default_factory=dict)  # recipient -> got one
    open: int = 0  # messages of the notice still queued

    @property
    def complete(self) -> bool:
        return all(self.reached.values())


@dataclass(slots=True)
class _Lane:
    notifier: Notifier
    heap: list[tuple[float, str]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    reached: dict[tuple[str, str], float] = field(default_factory=dict)  # digest key -> sent at


class Counters:
    """Read by metrics: queued, sent and failed attempts per channel and reason."""

    def __init__(self) -> None:
        self.queued: dict[str, int] = {}
        self.sent: dict[str, int] = {}
        self.failed: dict[tuple[str, str], int] = {}  # (channel, reason)
        self.given_up: dict[str, int] = {}
        self.latency_s: list[float] = []  # queued -> accepted, the last LATENCY_KEPT

    def count(self, table: dict[str, int], channel: str) -> None:
        table[channel] = table.get(channel, 0) + 1


LATENCY_KEPT = 10_000


class Outbox:
    def __init__(
        self,
        notifiers: Mapping[str, Notifier],
        policy: RetryPolicy | None = None,
        *,
        webhook_url: str | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        burst: int = BURST,
        digests: DigestPolicy | None = None,
    ) -> None:
        if "log" not in notifiers:
            raise ValueError("the log notifier is required (the fallback channel)")
        self.notifiers = dict(notifiers)
        self.policy = policy or RetryPolicy()
        self.webhook_url = webhook_url
        self.clock = clock
        self.rng = rng or random.Random()
        self.burst = burst
        self.digests = digests or DigestPolicy()
        self.counters = Counters()
        self.report: Callable[[Report], None] = lambda _: None
        # Several instances (outaged.ha): the ids of the messages this instance may
        # send now, claimed in the store under the leader's epoch; None: all of them.
        self.claim: Callable[[Sequence[Message]], Awaitable[set[str]]] | None = None
        self._messages: dict[str, Message] = {}
        self._groups: dict[tuple[int, int], _Group] = {}
        self._lanes = {channel: _Lane(n) for channel, n in self.notifiers.items()}
        self._stopping = False

    # ---- composing (pure) ---------------------------------------------

    def channels_for(self, person: Person | None) -> list[tuple[str, str]]:
        """(channel, address) pairs that reach this person; the log if none does."""
        found: list[tuple[str, str]] = []
        if person is not None:
            if "email" in self.notifiers and person.email:
                found.append(("email", person.email))
            url = person.webhook or self.webhook_url
            if "webhook" in self.notifiers and url:
                found.append(("webhook", url))
        return found or [("log", "")]

    def compose(self, notice: Notice, people: Mapping[str, Person]) -> list[Message]:
        messages: list[Message] = []
        for pid in dict.fromkeys(notice.to):
            person = people.get(pid)
            contact = {
                "id": pid,
                "name": person.name if person is not None else pid,
                "phone": person.phone if person is not None else None,
            }
            for channel, address in self.channels_for(person):
                messages.append(
                    Message(
                        outage=notice.outage,
                        seq=notice.seq,
                        event=notice.why,
                        recipient=pid,
                        channel=channel,
                        address=address,
                        lang=person.lang if person is not None else "zh-CN",
                        context={**notice.context, "recipient": contact},
                        created_at=notice.at,
                        next_at=notice.at,
                    )
                )
        return messages

    # ---- feeding the lanes ---------------------------------------------

    def load(self, rows: Iterable[Message]) -> None:
        """Take back stored rows of undelivered notices (sent ones tell who was reached).
        A row already queued here (added by the recovery step before this load) is skipped:
        it would otherwise go twice."""
        for m in rows:
            if m.id in self._messages:
                continue
            group = self._groups.setdefault(m.group, _Group())
            group.reached[m.recipient] = group.reached.get(m.recipient, False) or (
                m.state is State.SENT
            )
            if m.state is State.QUEUED:
                self._queue(m, group)

    def add(self, messages: Iterable[Message]) -> None:
        """Messages just committed: deliver them."""
        for m in messages:
            if m.id in self._messages:
                continue
            group = self._groups.setdefault(m.group, _Group())
            group.reached.setdefault(m.recipient, False)
            self.counters.count(self.counters.queued, m.channel)
            self._queue(m, group)

    def _queue(self, m: Message, group: _Group) -> None:
        lane = self._lanes.get(m.channel)
        if lane is None:  # a channel no longer configured: the log tells someone
            log.warning("channel %s is not configured; %s goes to the log", m.channel, m.id)
            m = dataclasses.replace(m, channel="log", address="")
            lane = self._lanes["log"]
        self._messages[m.id] = m
        group.open += 1
        heapq.heappush(lane.heap, (m.next_at, m.id))
        lane.wake.set()

    def withdrawn(self, window: str) -> list[Message]:
        """The queued rows of a called-off planned-work window, as given up (for the
        store); `drop` them from the lanes once that is committed."""
        return [
            dataclasses.replace(
                m, state=State.FAILED, last_error="withdrawn: the planned work was called off"
            )
            for m in self._messages.values()
            if not m.outage and m.state is State.QUEUED and m.context.get("window") == window
        ]

    def drop(self, ids: Iterable[str]) -> None:
        for mid in ids:
            m = self._messages.pop(mid, None)
            if m is None:
                continue
            group = self._groups.get(m.group)
            if group is not None:
                group.open -= 1
                if group.open <= 0:
                    self._groups.pop(m.group, None)

    @property
    def pending(self) -> int:
        return len(self._messages)

    def oldest_pending(self) -> float | None:
        """When the oldest undelivered message was created (None when none is)."""
        return min((m.created_at for m in self._messages.values()), default=None)

    # ---- running -------------------------------------------------------

    def start(self) -> None:
        for channel, lane in self._lanes.items():
            if lane.task is None:
                lane.task = asyncio.create_task(self._run(lane), name=f"outbox-{channel}")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Let sends in flight finish (bounded), then end the lanes and close channels."""
        self._stopping = True
        for lane in self._lanes.values():
            lane.wake.set()
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for notifier in self.notifiers.values():
            try:
                await notifier.close()
            except Exception:
                log.exception("closing the %s notifier failed", notifier.channel)

    async def _run(self, lane: _Lane) -> None:
        while not self._stopping:
            due = self._due(lane)
            if not due:
                await self._sleep(lane)
                continue
            due = await self._claimed(lane, due)
            if not due:
                continue
            bundling = self._digesting(lane)
            sends = digest.bundle(due) if bundling else [(m, [m]) for m in due]
            results = await _send(lane.notifier, [sent for sent, _ in sends])
            for (sent, parts), result in zip(sends, results, strict=True):
                if isinstance(result, Sent):
                    lane.reached[digest.key(sent)] = self.clock()
                for part in parts:
                    self._settle(part, result if part is sent else digest.for_part(result, part))

    async def _claimed(self, lane: _Lane, due: list[Message]) -> list[Message]:
        """What of `due` this instance may send (all, unless `claim` is set): a
        message the store says is no longer queued leaves memory; when the store
        refuses the claim (fenced, unavailable) nothing goes, and it is tried again."""
        if self.claim is None:
            return due
        try:
            got = await self.claim(due)
        except StoreError as exc:
            log.warning("not sending %d messages now: %s", len(due), exc)
            retry = self.clock() + CLAIM_RETRY_S
            for m in due:
                heapq.heappush(lane.heap, (retry, m.id))
            return []
        self.drop(m.id for m in due if m.id not in got)
        return [m for m in due if m.id in got]

    def _digesting(self, lane: _Lane) -> bool:
        return self.digests.enabled and lane.notifier.channel in digest.CHANNELS

    def _due(self, lane: _Lane) -> list[Message]:
        """What to send now: a burst, or with digests up to a burst of full
        digests; a recipient reached under `interval_s` ago waits for its end."""
        now = self.clock()
        bundling = self._digesting(lane)
        limit = self.burst * digest.MAX_PARTS if bundling else self.burst
        hold = self.digests.interval_s
        due: list[Message] = []
        held: list[tuple[float, str]] = []
        while lane.heap and lane.heap[0][0] <= now and len(due) < limit:
            _, mid = heapq.heappop(lane.heap)
            m = self._messages.get(mid)
            if m is None or m.state is not State.QUEUED:
                continue
            last = lane.reached.get(digest.key(m)) if bundling else None
            if last is not None and now < last + hold:
                held.append((last + hold, mid))
            else:
                due.append(m)
        for entry in held:
            heapq.heappush(lane.heap, entry)
        self._forget_reached(lane, now)
        return due

    def _forget_reached(self, lane: _Lane, now: float) -> None:
        """Drop recipients whose hold ended long ago (memory stays bounded)."""
        if len(lane.reached) > 10_000:
            ended = now - self.digests.interval_s
            lane.reached = {k: at for k, at in lane.reached.items() if at > ended}

    async def _sleep(self, lane: _Lane) -> None:
        lane.wake.clear()
        timeout = None if not lane.heap else max(0.0, lane.heap[0][0] - self.clock())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lane.wake.wait(), timeout)

    def _settle(self, m: Message, result: Result) -> None:
        now = self.clock()
        group = self._groups.setdefault(m.group, _Group())
        attempts = m.attempts + 1
        complete = False
        if isinstance(result, Sent):
            row = dataclasses.replace(m, state=State.SENT, attempts=attempts, sent_at=now)
            was = group.complete
            group.reached[m.recipient] = True
            complete = group.complete and not was
            self.counters.count(self.counters.sent, m.channel)
            self._latency(now - m.created_at)
        else:
            retry = self.policy.next_try(result, attempts, m.created_at, now, self.rng)
            state = State.QUEUED if retry is not None else State.FAILED
            row = dataclasses.replace(
                m,
                state=state,
                attempts=attempts,
                next_at=retry if retry is not None else now,
                last_error=f"{result.reason.value}: {result.detail}",
            )
            key = (m.channel, result.reason.value)
            self.counters.failed[key] = self.counters.failed.get(key, 0) + 1
            if retry is None:
                self.counters.count(self.counters.given_up, m.channel)
                log.error("giving up on %s after %d attempts: %s", m.id, attempts, row.last_error)
            else:
                log.warning("%s failed (%s); next try in %.1f s", m.id, row.last_error, retry - now)
        if row.state is State.QUEUED:
            self._messages[m.id] = row
            lane = self._lanes[m.channel]
            heapq.heappush(lane.heap, (row.next_at, m.id))
        else:
            del self._messages[m.id]
            group.open -= 1
            if group.open <= 0:
                self._groups.pop(m.group, None)
        self.report(Report(row, result, complete))

    def _latency(self, seconds: float) -> None:
        kept = self.counters.latency_s
        kept.append(seconds)
        if len(kept) > LATENCY_KEPT:
            del kept[: len(kept) - LATENCY_KEPT]


async def _send(notifier: Notifier, due: Sequence[Message]) -> list[Result]:
    """A notifier that raises or miscounts fails the burst, retryably."""
    try:
        results = await notifier.send(due)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("the %s notifier raised", notifier.channel)
        return [Failed(m.id, Reason.INTERNAL, f"{type(exc).__name__}: {exc}") for m in due]
    if len(results) != len(due):
        detail = f"{len(results)} results for {len(due)} messages"
        return [Failed(m.id, Reason.INTERNAL, detail) for m in due]
    return results
