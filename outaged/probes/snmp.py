"""SNMP poller: sysUpTime for reboots, ifOperStatus of each element's watched uplinks.

Every poll is one GET PDU (sysUpTime plus one ifOperStatus per uplink).
Uplinks given by name are resolved to ifIndex once by walking ifName, then
ifDescr, and cached until the element reboots. Outcomes become signals
(`ProbeResult`, `Reboot`, `InterfaceStatus`) and a per-element status that
the daemon and metrics read; no SNMP failure escapes as an exception.

OIDs are numeric throughout: Debian ships no IF-MIB, and resolving names
through pysnmp's MIB layer costs more CPU than the request itself.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from outaged.errors import ConfigError, Problem
from outaged.probes.snmp_client import (
    ABSENT_VALUES,
    Oid,
    PollFailed,
    PollStatus,
    SnmpClient,
    Target,
)
from outaged.probes.snmp_creds import Credential
from outaged.signals import InterfaceStatus, ProbeResult, Reboot, Signal, SignalSink
from outaged.topology.model import Element

log = logging.getLogger(__name__)

SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
IF_OPER_STATUS: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
IF_NAME: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
IF_DESCR: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
OPER_UP = 1
TICKS_WRAP = 2**32  # TimeTicks is 32-bit: sysUpTime wraps after ~497 days


@dataclass(frozen=True, slots=True)
class ElementStatus:
    status: PollStatus
    message: str
    at: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class PollerSettings:
    timeout_s: float = 2.0
    retries: int = 1
    max_in_flight: int = 256  # whole poller: bursts of 1,000 datagrams get dropped
    max_per_agent: int = 1  # an agent busy answering us answers the NOC slower
    max_walk_rows: int = 4096
    rewalk_after_s: float = 600.0  # retry resolving uplink names that were missing


PollObserver = Callable[[str, PollStatus, float], None]


def _no_observer(element: str, status: PollStatus, duration_s: float) -> None:
    pass


def targets_for(
    elements: Iterable[Element],
    credentials: Mapping[str, Credential],
    port: int = 161,
    source: str = "topology.yaml",
) -> list[Target]:
    """The elements that name a credential set; unknown names are a ConfigError."""
    problems: list[Problem] = []
    targets: list[Target] = []
    for el in elements:
        if el.snmp is None:
            continue
        cred = credentials.get(el.snmp)
        if cred is None:
            problems.append(
                Problem(
                    source, el.line, f"elements.{el.id}.snmp", f"unknown credential set {el.snmp!r}"
                )
            )
        elif el.address is None:
            problems.append(
                Problem(
                    source, el.line, f"elements.{el.id}.address", "SNMP polling needs an address"
                )
            )
        else:
            targets.append(Target(el.id, el.address, cred, el.uplinks, port))
    if problems:
        raise ConfigError(problems)
    return targets


def is_reboot(prev_ticks: int, ticks: int, elapsed_s: float) -> bool:
    """sysUpTime went backwards, and not because the 32-bit counter wrapped."""
    if ticks >= prev_ticks:
        return False
    margin = int(elapsed_s * 100) + 6000  # a minute of slack between the two clocks
    wrapped = prev_ticks + margin >= TICKS_WRAP and ticks <= margin
    return not wrapped


@dataclass(slots=True)
class _ElementState:
    uptime_ticks: int | None = None
    polled_at: float = 0.0  # monotonic
    if_index: dict[str, int] = field(default_factory=dict)  # uplink name -> ifIndex
    walked_at: float | None = None  # monotonic; None: names never resolved


class SnmpPoller:
    def __init__(
        self,
        targets: Iterable[Target],
        sink: SignalSink,
        clock: Callable[[], float],
        *,
        settings: PollerSettings | None = None,
        on_poll: PollObserver = _no_observer,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings or PollerSettings()
        self._sink = sink
        self._clock = clock
        self._on_poll = on_poll
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self._targets: dict[str, Target] = {}
        self._state: dict[str, _ElementState] = {}
        self._phase: dict[str, float] = {}
        self._statuses: dict[str, ElementStatus] = {}
        self._client = SnmpClient(self._settings.timeout_s, self._settings.retries)
        self._slots = asyncio.Semaphore(self._settings.max_in_flight)
        self._agent_slots: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._share: frozenset[str] | None = None  # several instances: what is polled here
        self._running: dict[str, asyncio.Task[ElementStatus]] = {}
        self._started: dict[str, float] = {}  # monotonic start of each element's last poll
        self._interval_s: float | None = None  # while `run` runs
        self.replace_targets(targets)

    @property
    def statuses(self) -> Mapping[str, ElementStatus]:
        """Latest status per element (absent until its first poll finishes)."""
        return self._statuses

    def replace_targets(self, targets: Iterable[Target]) -> None:
        """Apply a reloaded topology; elements that stay keep their uptime and ifIndex cache."""
        new = {t.element: t for t in targets}
        for element in set(self._targets) - set(new):
            self._state.pop(element, None)
            self._statuses.pop(element, None)
            self._phase.pop(element, None)
            self._started.pop(element, None)
        for element, target in new.items():
            old = self._targets.get(element)
            if old is not None and (old.address, old.uplinks) != (target.address, target.uplinks):
                self._state.pop(element, None)
            self._phase.setdefault(element, self._rng.random())
        self._targets = new

    async def poll(self, element: str) -> ElementStatus:
        """Poll one element now; never raises except on cancellation."""
        target = self._targets[element]
        started = self._started[element] = self._monotonic()
        try:
            async with self._slot(target):
                status, message = await self._poll_target(target)
        except PollFailed as exc:
            status, message = exc.status, str(exc)
            # Reachability is only claimed when known: an answer (even a USM
            # report) means up, silence means down, a local error says nothing.
            if exc.responded or exc.status is PollStatus.TIMEOUT:
                self._emit(ProbeResult(self._clock(), element, ok=exc.responded))
        except Exception as exc:  # a bug or a pysnmp surprise must not stop the loop
            log.exception("snmp poll of %s failed", element)
            status, message = PollStatus.ERROR, f"{type(exc).__name__}: {exc}"
        duration = self._monotonic() - started
        return self._record(element, status, message, duration)

    async def poll_all(self) -> None:
        """Poll every target once, concurrently within the in-flight bounds."""
        await asyncio.gather(*(self.poll(e) for e in list(self._targets)))

    async def run(self, interval_s: float) -> None:
        """Poll each element once per interval, at a stable random phase, until cancelled.

        An element whose previous poll is still running is skipped for that
        cycle, so the number of tasks never exceeds the number of elements;
        one outside this instance's share (`reshard`) is skipped too.
        """
        loop = asyncio.get_running_loop()
        self._interval_s = interval_s
        try:
            while True:
                cycle_start = loop.time()
                for offset, element in self._schedule(interval_s):
                    delay = cycle_start + offset - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    self._start(element)
                rest = cycle_start + interval_s - loop.time()
                if rest > 0:
                    await asyncio.sleep(rest)
        finally:
            self._interval_s = None
            tasks = list(self._running.values())
            self._running.clear()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def reshard(self, share: frozenset[str] | None) -> None:
        """Poll only `share` from now on (several instances, outaged.ha.shard);
        None: every target. A newly held element not polled here within a cycle
        is polled at once: its previous poller may have done so a cycle ago."""
        old, self._share = self._share, share
        interval = self._interval_s
        if interval is None or old is None:
            return  # not running yet, or it polled everything until now
        now = self._monotonic()
        for element in (share if share is not None else self._targets.keys()) - old:
            last = self._started.get(element)
            if last is None or now - last >= interval:
                self._start(element)

    def _start(self, element: str) -> None:
        """Poll `element` on its own task, unless one runs or it is not ours to poll."""
        previous = self._running.get(element)
        if (previous is not None and not previous.done()) or element not in self._targets:
            return
        if self._share is not None and element not in self._share:
            return
        self._running[element] = asyncio.get_running_loop().create_task(
            self.poll(element), name=f"snmp-poll {element}"
        )

    def close(self) -> None:
        self._client.close()

    def _schedule(self, interval_s: float) -> list[tuple[float, str]]:
        return sorted((self._phase[e] * interval_s, e) for e in self._targets)

    @asynccontextmanager
    async def _slot(self, target: Target) -> AsyncIterator[None]:
        key = (target.address, target.port)
        agent = self._agent_slots.get(key)
        if agent is None:
            agent = self._agent_slots[key] = asyncio.Semaphore(self._settings.max_per_agent)
        async with agent, self._slots:
            yield

    async def _poll_target(self, target: Target) -> tuple[PollStatus, str]:
        state = self._state.setdefault(target.element, _ElementState())
        if_index = await self._if_indexes(target, state)
        watched = [(u, if_index[u]) for u in target.uplinks if u in if_index]
        oids = [SYS_UPTIME, *((*IF_OPER_STATUS, idx) for _, idx in watched)]
        sent = self._monotonic()
        answer = dict(await self._client.get(target, oids))
        rtt_ms = (self._monotonic() - sent) * 1000.0
        at = self._clock()
        self._emit(ProbeResult(at, target.element, ok=True, rtt_ms=rtt_ms))

        uptime = answer.get(SYS_UPTIME)
        if uptime is None or isinstance(uptime, ABSENT_VALUES):
            return PollStatus.NO_SUCH_OBJECT, "sysUpTime absent"
        self._check_reboot(target, state, int(str(uptime)), at)

        missing = [u for u in target.uplinks if u not in if_index]
        for uplink, idx in watched:
            value = answer.get((*IF_OPER_STATUS, idx))
            if value is None or isinstance(value, ABSENT_VALUES):
                missing.append(uplink)
                continue
            self._emit(InterfaceStatus(at, target.element, uplink, int(str(value)) == OPER_UP))
        if missing:
            return PollStatus.NO_SUCH_OBJECT, f"uplinks not on the agent: {', '.join(missing)}"
        return PollStatus.OK, ""

    def _check_reboot(self, target: Target, state: _ElementState, ticks: int, at: float) -> None:
        now = self._monotonic()
        prev = state.uptime_ticks
        if prev is not None and is_reboot(prev, ticks, now - state.polled_at):
            self._emit(Reboot(at, target.element, ticks / 100.0))
            state.if_index.clear()  # some agents renumber interfaces on boot
            state.walked_at = None
        state.uptime_ticks = ticks
        state.polled_at = now

    async def _if_indexes(self, target: Target, state: _ElementState) -> dict[str, int]:
        """Uplink label -> ifIndex; numeric labels are ifIndexes already."""
        result = {u: int(u) for u in target.uplinks if u.isdigit()}
        names = [u for u in target.uplinks if not u.isdigit()]
        unresolved = [n for n in names if n not in state.if_index]
        now = self._monotonic()
        stale = state.walked_at is None or now - state.walked_at >= self._settings.rewalk_after_s
        if unresolved and stale:
            for column in (IF_NAME, IF_DESCR):
                rows = await self._client.walk(target, column, self._settings.max_walk_rows)
                by_name = {text: idx for idx, text in rows.items()}
                for name in unresolved:
                    if name in by_name:
                        state.if_index[name] = by_name[name]
                unresolved = [n for n in unresolved if n not in state.if_index]
                if not unresolved:
                    break
            state.walked_at = now
        result.update((n, state.if_index[n]) for n in names if n in state.if_index)
        return result

    def _emit(self, signal: Signal) -> None:
        try:
            self._sink(signal)
        except Exception:  # the daemon's queue failing is its bug; polling goes on
            log.exception("signal sink refused %s", signal)

    def _record(
        self, element: str, status: PollStatus, message: str, duration_s: float
    ) -> ElementStatus:
        previous = self._statuses.get(element)
        current = ElementStatus(status, message, self._clock(), duration_s)
        self._statuses[element] = current
        if previous is None or previous.status is not status:
            level = logging.INFO if status is PollStatus.OK else logging.WARNING
            log.log(level, "snmp %s: %s %s", element, status.value, message)
        self._on_poll(element, status, duration_s)
        return current
