"""When to probe what: jittered cycles, topology-ordered re-probes, a storm guard.

Every element with an address is probed once per `interval_s`, at a fixed phase
inside the interval taken from a hash of its id, so a cycle is spread evenly and
the same element keeps its slot across restarts.

Topology order: when an element's result changes (a first failure, or up -> down,
down -> up), the neighbours that tell where the fault is are probed at once
instead of at their next slot: on a failure its nearest probed parents, siblings
and children; on a recovery its children (before the core can declare anything
from stale child results). These "suspects", and the element itself, are then
probed every `interval_s / suspect_speedup` until `settle_after` equal results
in a row. Unprobed elements (fibre, splitters) are looked through. Regular
slots go on unchanged meanwhile.

Storm guard: results are collected in windows of `storm_window_s` and handed to
the sink in order one window later (so 1 to 2 windows late). If more than
`storm_share` of the elements probed in their *regular* slot during a window
failed, the prober's own uplink is probably down: `on_storm` is called, a
warning logged, fast re-probing stops until results change again, and the
failures of that window and of the windows on either side are dropped (their
successes still go out): an uplink lost late in a window, or back early in
one, leaves that window mostly good. We drop rather than report
because a storm of failures from a blind prober would open outages for the
whole city; the core sees silence instead, and the next good results.
Only regular slots count towards the share: they are an even sample of the
whole network, whereas re-probes gather around a fault and would make a large
but real outage (a metro switch) look like a storm. A window with fewer than
`storm_min_sample` regular results is never a storm (on a small network the
guard is then effectively off); `storm_share=1.0` turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from outaged.probes.icmp import PingResult
from outaged.signals import ProbeResult, SignalSink
from outaged.topology.model import Topology

log = logging.getLogger(__name__)

_TICK_S = 0.05  # at most one round of ping_many calls per tick: batches, not a call per element


@dataclass(frozen=True, slots=True)
class ProbePlan:
    interval_s: float = 60.0
    count: int = 3  # echo requests per cycle; one reply is enough for "ok"
    spacing_s: float = 0.2  # between the requests of a cycle
    timeout_s: float = 1.0

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.count < 1 or self.spacing_s < 0 or self.timeout_s <= 0:
            raise ValueError(f"invalid probe plan {self}")


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    plan: ProbePlan = ProbePlan()
    overrides: Mapping[str, ProbePlan] = field(default_factory=dict)  # by element id
    suspect_speedup: float = 6.0
    settle_after: int = 3
    storm_share: float = 0.5
    storm_window_s: float = 5.0
    storm_min_sample: int = 10

    def __post_init__(self) -> None:
        if self.suspect_speedup < 1 or self.settle_after < 1 or self.storm_window_s <= 0:
            raise ValueError(f"invalid schedule {self}")

    def plan_for(self, element: str) -> ProbePlan:
        return self.overrides.get(element, self.plan)


class Pinger(Protocol):
    async def ping_many(
        self, addresses: Sequence[str], *, count: int, interval: float, timeout: float
    ) -> Mapping[str, PingResult]: ...


class ProbeObserver(Protocol):
    """Sees every raw result as it comes, storms included (RTT and loss metrics)."""

    def on_result(self, element: str, result: PingResult) -> None: ...


@dataclass(frozen=True, slots=True)
class Due:
    element: str
    address: str
    plan: ProbePlan
    regular: bool  # its cycle slot, not a topology-ordered re-probe


class _Entry:
    __slots__ = (
        "address",
        "element",
        "in_flight",
        "last_ok",
        "next_extra",
        "next_regular",
        "plan",
        "probed_at",
        "streak",
        "suspect",
    )

    def __init__(self, element: str, address: str, plan: ProbePlan, first: float) -> None:
        self.element = element
        self.address = address
        self.plan = plan
        self.next_regular = first
        self.next_extra: float | None = None
        self.probed_at: float | None = None  # the last result's time
        self.in_flight = False
        self.last_ok: bool | None = None
        self.streak = 0
        self.suspect = False


class Agenda:
    """Pure scheduling state: what is due when, given results and `now`."""

    def __init__(self, topology: Topology, config: ScheduleConfig, now: float) -> None:
        self._config = config
        self._elements = topology.elements
        self._children: dict[str, list[str]] = defaultdict(list)
        for element in self._elements.values():
            for parent in element.parents:
                self._children[parent].append(element.id)
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, bool, str]] = []  # (at, regular, element), lazily stale
        # Several instances (outaged.ha.shard): the elements this one probes; None: all.
        # The others keep their slots, unprobed here, ready to be taken over.
        self.share: frozenset[str] | None = None
        for element in self._elements.values():
            if element.address is not None:
                plan = config.plan_for(element.id)
                first = now + plan.interval_s * phase(element.id)
                self._entries[element.id] = _Entry(element.id, element.address, plan, first)
                heapq.heappush(self._heap, (first, True, element.id))

    def __len__(self) -> int:
        return len(self._entries)

    def due(self, now: float) -> list[Due]:
        """Probes to start now; they are in flight until `record`ed."""
        due: list[Due] = []
        while self._heap and self._heap[0][0] <= now:
            at, regular, element = heapq.heappop(self._heap)
            entry = self._entries[element]
            if regular and at == entry.next_regular:
                entry.next_regular = _next_slot(at, entry.plan.interval_s, now)
                heapq.heappush(self._heap, (entry.next_regular, True, element))
            elif regular or at != entry.next_extra:
                continue  # superseded
            entry.next_extra = None
            if self.share is not None and element not in self.share:
                continue  # another instance probes it
            if not entry.in_flight:  # a slot that comes while in flight is skipped
                entry.in_flight = True
                due.append(Due(element, entry.address, entry.plan, regular))
        return due

    def next_at(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def reshard(self, share: frozenset[str] | None, now: float) -> None:
        """Probe `share` from now on. What it newly holds and this agenda has not
        probed within a cycle is probed at once, not at its next slot: the member
        that probed it until now may have done so up to a cycle ago."""
        old, self.share = self.share, share
        for element in share if share is not None else self._entries:
            entry = self._entries.get(element)
            if entry is None or entry.in_flight or (old is not None and element in old):
                continue
            if entry.probed_at is None or now - entry.probed_at >= entry.plan.interval_s:
                self._schedule_extra(entry, now)

    def record(self, element: str, ok: bool, now: float) -> None:
        entry = self._entries[element]
        entry.in_flight = False
        entry.probed_at = now
        changed = not ok if entry.last_ok is None else ok != entry.last_ok
        entry.streak = entry.streak + 1 if ok == entry.last_ok else 1
        entry.last_ok = ok
        if changed:
            entry.suspect = True
            entry.streak = 1
            neighbours = self._neighbours(element) if not ok else self._below(element)
            for other in neighbours:
                self._suspect(self._entries[other], now)
        if entry.suspect and entry.streak >= self._config.settle_after:
            entry.suspect = False
        if entry.suspect:
            self._schedule_extra(entry, now + entry.plan.interval_s / self._config.suspect_speedup)

    def calm(self) -> None:
        """Stop every fast re-probe (a storm: probing faster tells nothing)."""
        for entry in self._entries.values():
            entry.suspect = False
            entry.next_extra = None

    def suspects(self) -> set[str]:
        return {e.element for e in self._entries.values() if e.suspect}

    def _suspect(self, entry: _Entry, now: float) -> None:
        if entry.suspect:
            return  # already probed fast: re-triggering would ping-pong between siblings
        entry.suspect = True
        entry.streak = 0
        if not entry.in_flight:  # else its coming result is fresh enough
            self._schedule_extra(entry, now)

    def _schedule_extra(self, entry: _Entry, at: float) -> None:
        entry.next_extra = at
        heapq.heappush(self._heap, (at, False, entry.element))

    def _neighbours(self, element: str) -> set[str]:
        """Nearest probed parents, siblings (through unprobed parents) and children."""
        found = self._above(element) | self._below(element)
        for parent in self._elements[element].parents:
            found |= self._below(parent)
        found.discard(element)
        return found

    def _above(self, element: str) -> set[str]:
        return self._nearest_probed(self._elements[element].parents, self._parents_of)

    def _below(self, element: str) -> set[str]:
        return self._nearest_probed(self._children.get(element, ()), self._children_of)

    def _parents_of(self, element: str) -> Sequence[str]:
        return self._elements[element].parents

    def _children_of(self, element: str) -> Sequence[str]:
        return self._children.get(element, ())

    def _nearest_probed(
        self, start: Sequence[str], step: Callable[[str], Sequence[str]]
    ) -> set[str]:
        found: set[str] = set()
        seen: set[str] = set()
        todo = [e for e in start if e in self._elements]
        while todo:
            element = todo.pop()
            if element in seen:
                continue
            seen.add(element)
            if element in self._entries:
                found.add(element)
            else:
                todo.extend(e for e in step(element) if e in self._elements)
        return found


def phase(element: str) -> float:
    """Where in its interval an element's slot lies, in [0, 1): stable across runs."""
    digest = hashlib.blake2b(element.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _next_slot(slot: float, interval: float, now: float) -> float:
    """The first slot after `now` on the element's grid (slots missed are skipped)."""
    if slot + interval > now:
        return slot + interval
    return slot + interval * (int((now - slot) / interval) + 1)


@dataclass(frozen=True, slots=True)
class WindowOutcome:
    emit: tuple[ProbeResult, ...]  # the results now handed over, in arrival order
    storm_share: float | None  # the failed share, when the window just closed was a storm


class StormGuard:
    """Judges windows of results. A window's failures go out only when neither it
    nor a window next to it was a storm: an uplink lost late in a window, or back
    early in one, leaves that window mostly good although its failures are the
    uplink's too."""

    def __init__(self, share: float, min_sample: int) -> None:
        self._share = share
        self._min_sample = min_sample
        self._held: list[ProbeResult] = []
        self._regular: dict[str, bool] = {}  # element -> ok, latest regular result
        self._previous: list[ProbeResult] = []  # closed, not handed over yet
        self._storms = (False, False)  # the window before the previous one, the previous

    def add(self, result: ProbeResult, *, regular: bool) -> None:
        self._held.append(result)
        if regular:
            self._regular[result.element] = result.ok

    def close(self) -> WindowOutcome:
        """End the current window; hand over the previous one."""
        share = self._storm_share()
        storm = share is not None
        emit = _keep(self._previous, not any((*self._storms, storm)))
        self._previous, self._storms = self._held, (self._storms[1], storm)
        self._held, self._regular = [], {}
        return WindowOutcome(emit, share)

    def flush(self) -> tuple[ProbeResult, ...]:
        """Hand over everything held (the prober stops)."""
        storm = self._storm_share() is not None
        emit = _keep(self._previous, not any((*self._storms, storm)))
        emit += _keep(self._held, not (self._storms[1] or storm))
        self._previous, self._storms, self._held, self._regular = [], (False, False), [], {}
        return emit

    def _storm_share(self) -> float | None:
        failed = sum(not ok for ok in self._regular.values())
        sample = len(self._regular)
        if sample >= self._min_sample and failed > self._share * sample:
            return failed / sample
        return None


def _keep(results: list[ProbeResult], failures: bool) -> tuple[ProbeResult, ...]:
    return tuple(results) if failures else tuple(r for r in results if r.ok)


def _ignore_storm(failed_share: float) -> None:
    """The default `on_storm`: the scheduler logs the storm anyway."""


class Scheduler:
    """Probes a topology until cancelled, handing `ProbeResult`s to `sink`.

    `clock` is monotonic seconds (scheduling); `wall_clock` stamps the signals.
    """

    def __init__(
        self,
        topology: Topology,
        pinger: Pinger,
        sink: SignalSink,
        *,
        config: ScheduleConfig | None = None,
        observers: Sequence[ProbeObserver] = (),
        on_storm: Callable[[float], None] = _ignore_storm,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._topology = topology
        self._pinger = pinger
        self._sink = sink
        self._config = config or ScheduleConfig()
        self._observers = tuple(observers)
        self._on_storm = on_storm
        self._clock = clock
        self._wall_clock = wall_clock
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self._share: frozenset[str] | None = None
        self._agenda: Agenda | None = None

    def reshard(self, share: frozenset[str] | None) -> None:
        """Probe only `share` (several instances); None: every element."""
        self._share = share
        if self._agenda is not None:
            self._agenda.reshard(share, self._clock())
            self._wake.set()

    async def run(self) -> None:
        """Probe until cancelled; a probe engine failure (ProbeError) is raised here."""
        self._failure = None
        agenda = Agenda(self._topology, self._config, self._clock())
        agenda.share = self._share
        self._agenda = agenda
        guard = StormGuard(self._config.storm_share, self._config.storm_min_sample)
        window_end = self._clock() + self._config.storm_window_s
        try:
            while self._failure is None:
                now = self._clock()
                for plan, dues in _by_plan(agenda.due(now)):
                    self._start(self._probe(agenda, guard, plan, dues))
                if now >= window_end:
                    self._close_window(agenda, guard)
                    window_end = now + self._config.storm_window_s
                self._wake.clear()
                next_at = agenda.next_at()
                wake_at = window_end if next_at is None else min(next_at, window_end)
                await _wait(self._wake, max(0.0, wake_at - now))  # sooner if results made some due
                await asyncio.sleep(max(0.0, now + _TICK_S - self._clock()))
            raise self._failure
        finally:
            await self._stop()
            for signal in guard.flush():  # what was held is judged and handed over
                self._sink(signal)

    def _start(self, probe: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(probe)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    async def _probe(
        self, agenda: Agenda, guard: StormGuard, plan: ProbePlan, dues: list[Due]
    ) -> None:
        results = await self._pinger.ping_many(
            [d.address for d in dues],
            count=plan.count,
            interval=plan.spacing_s,
            timeout=plan.timeout_s,
        )
        at, now = self._wall_clock(), self._clock()
        for due in dues:
            result = results[due.address]
            for observer in self._observers:
                observer.on_result(due.element, result)
            signal = ProbeResult(at=at, element=due.element, ok=result.ok, rtt_ms=result.avg_rtt_ms)
            guard.add(signal, regular=due.regular)
            agenda.record(due.element, result.ok, now)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()
        self._wake.set()  # results may have made neighbours due

    def _close_window(self, agenda: Agenda, guard: StormGuard) -> None:
        outcome = guard.close()
        if outcome.storm_share is not None:
            log.warning(
                "probe storm: %.0f%% of the elements probed in the last %g s failed; the "
                "prober's own uplink is probably down, so these failures are not reported",
                outcome.storm_share * 100,
                self._config.storm_window_s,
            )
            agenda.calm()
            self._on_storm(outcome.storm_share)
        for signal in outcome.emit:
            self._sink(signal)

    async def _stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _by_plan(dues: list[Due]) -> Iterator[tuple[ProbePlan, list[Due]]]:
    groups: dict[ProbePlan, list[Due]] = defaultdict(list)
    for due in dues:
        groups[due.plan].append(due)
    yield from groups.items()


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
