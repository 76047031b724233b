"""The daemon's probers: ICMP sweeps, SNMP polls and the trap receiver, feeding one sink.

`Probers(config, topology)` checks the probe settings against the topology
(a ConfigError, before anything starts). `start(sink)` starts each enabled
prober and returns their stop steps in start order; the daemon runs them in
reverse. A prober that cannot start or later dies (no ICMP permission, the
trap port taken) is logged and marked failed; the others and the daemon go on.

Reachability comes from ICMP while it runs: SNMP answers count as up/down only
when ICMP does not run, so a wrong community never marks a pinging element
down. SNMP still reports reboots and uplink states either way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from outaged.config import IcmpConfig, ProbesConfig, SnmpConfig
from outaged.errors import ConfigError, ProbeError, Problem
from outaged.probes.icmp import IcmpEngine, PingResult
from outaged.probes.schedule import ProbeObserver, ProbePlan, ScheduleConfig, Scheduler
from outaged.probes.snmp import ElementStatus, PollerSettings, SnmpPoller, targets_for
from outaged.probes.snmp_client import Target
from outaged.probes.snmp_creds import SnmpV3
from outaged.probes.traps import TrapReceiver
from outaged.signals import ProbeResult, Signal, SignalSink
from outaged.topology.model import Topology

log = logging.getLogger(__name__)

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_V4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")  # what str(IPv4Address) writes

Clock = Callable[[], float]
StopStep = tuple[str, Callable[[], Awaitable[None]]]
PROBERS = ("icmp", "snmp", "traps")  # start order


class ProberState(StrEnum):
    DISABLED = "disabled"
    RUNNING = "running"
    FAILED = "failed"  # could not start, or died: the daemon runs without it
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ProberStatus:
    state: ProberState
    detail: str = ""
    counters: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LastPing:
    at: float
    result: PingResult


@dataclass(frozen=True, slots=True)
class ElementProbes:
    """What the probers last saw of one element."""

    icmp: LastPing | None
    snmp: ElementStatus | None


class PingLog:
    """Scheduler observer: the latest ICMP result of each element (raw, storms included)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.last: dict[str, LastPing] = {}

    def on_result(self, element: str, result: PingResult) -> None:
        self.last[element] = LastPing(self._clock(), result)


def _nowhere(signal: Signal) -> None:
    raise RuntimeError("probers are not started")


class Probers:
    def __init__(
        self,
        config: ProbesConfig,
        topology: Topology,
        *,
        source: str = "<defaults>",
        clock: Clock = time.time,
        observers: Sequence[ProbeObserver] = (),
    ) -> None:
        self._config = config
        self._observers = tuple(observers)  # besides the ping log: metrics
        self._topology = topology
        self._clock = clock
        self._sink: SignalSink = _nowhere
        self.pings = PingLog(clock)
        self._storms = 0
        self._addresses = address_map(topology)
        self._status: dict[str, ProberStatus] = {}
        self._schedule = schedule_config(config.icmp, topology, source)
        self._targets: list[Target] = []
        if config.snmp.enabled:
            self._targets = snmp_targets(config.snmp, topology, source)
        self._poller: SnmpPoller | None = None
        self._scheduler: Scheduler | None = None
        self._share: frozenset[str] | None = None  # several instances: what ICMP probes here
        self._receiver: TrapReceiver | None = None
        if config.traps.enabled:
            t = config.traps
            users = [config.snmp.credentials[name] for name in t.users]
            self._receiver = TrapReceiver(
                t.listen,
                t.port,
                communities=t.communities,
                users=[u for u in users if isinstance(u, SnmpV3)],
                sink=self._emit,
                address_to_element=self._addresses,
                clock=clock,
            )
        self._status["icmp"] = _initial(config.icmp.enabled, len(self._schedule_elements()))
        self._status["snmp"] = _initial(config.snmp.enabled, len(self._targets))
        self._status["traps"] = _initial(config.traps.enabled, 1)

    # ---- what the API reads ---------------------------------------------

    def statuses(self) -> dict[str, ProberStatus]:
        counters: dict[str, Mapping[str, int]] = {
            "icmp": {"elements": self._icmp_elements(), "storms": self._storms},
            "snmp": self._snmp_counters(),
            "traps": asdict(self._receiver.counters) if self._receiver is not None else {},
        }
        return {
            name: ProberStatus(s.state, s.detail, counters[name])
            for name, s in self._status.items()
        }

    def reshard(self, share: frozenset[str] | None) -> None:
        """ICMP probes and SNMP polls only `share` from now on (outaged.ha.shard);
        None: all. One element's pings and polls are thus on one instance."""
        self._share = share
        if self._scheduler is not None:
            self._scheduler.reshard(share)
        if self._poller is not None:
            self._poller.reshard(share)

    def probed(self) -> list[str]:
        """Every element ICMP would probe, SNMP targets among them (they have an
        address too): what the instances share."""
        return self._schedule_elements()

    def element(self, element: str) -> ElementProbes:
        snmp = self._poller.statuses.get(element) if self._poller is not None else None
        return ElementProbes(self.pings.last.get(element), snmp)

    # ---- lifecycle ------------------------------------------------------

    async def start(self, sink: SignalSink) -> list[StopStep]:
        self._sink = sink
        starters = {"icmp": self._start_icmp, "snmp": self._start_snmp, "traps": self._start_traps}
        steps: list[StopStep] = []
        for name in PROBERS:
            if self._status[name].state is ProberState.DISABLED:
                log.info("%s prober disabled: %s", name, self._status[name].detail)
                continue
            try:
                stop = await starters[name]()
            except ProbeError as exc:
                self._fail(name, str(exc))
                continue
            steps.append((f"{name} prober", stop))
        return steps

    async def _start_icmp(self) -> Callable[[], Awaitable[None]]:
        cfg = self._config.icmp
        engine = IcmpEngine(privileged=cfg.privileged, rate_pps=cfg.rate_pps)
        try:
            for family in sorted(self._families()):
                engine.open(family)
        except ProbeError:
            engine.close()
            raise
        scheduler = Scheduler(
            self._topology,
            engine,
            self._sink,
            config=self._schedule,
            observers=[self.pings, *self._observers],
            on_storm=self._on_storm,
            wall_clock=self._clock,
        )
        scheduler.reshard(self._share)
        self._scheduler = scheduler
        mode = "raw sockets" if engine.privileged else "datagram sockets (unprivileged)"
        n = len(self._schedule_elements())
        task = self._run(
            "icmp", scheduler.run(), f"{n} elements every {cfg.interval_s:g} s, {mode}"
        )

        async def stop() -> None:
            await self._cancel("icmp", task)
            engine.close()

        return stop

    async def _start_snmp(self) -> Callable[[], Awaitable[None]]:
        cfg = self._config.snmp
        settings = PollerSettings(
            timeout_s=cfg.timeout_s, retries=cfg.retries, max_in_flight=cfg.max_in_flight
        )
        poller = SnmpPoller(self._targets, self._emit_snmp, self._clock, settings=settings)
        poller.reshard(self._share)
        self._poller = poller
        detail = f"{len(self._targets)} elements every {cfg.interval_s:g} s, port {cfg.port}"
        task = self._run("snmp", poller.run(cfg.interval_s), detail)

        async def stop() -> None:
            await self._cancel("snmp", task)
            poller.close()

        return stop

    async def _start_traps(self) -> Callable[[], Awaitable[None]]:
        receiver = self._receiver
        assert receiver is not None  # enabled means constructed
        await receiver.start()
        t = self._config.traps
        self._running("traps", f"listening on {t.listen}:{receiver.port}")

        async def stop() -> None:
            await receiver.stop()
            self._status["traps"] = ProberStatus(ProberState.STOPPED)

        return stop

    def _run(self, name: str, work: Awaitable[None], detail: str) -> asyncio.Task[None]:
        self._running(name, detail)
        return asyncio.create_task(self._supervise(name, work), name=f"{name}-prober")

    async def _supervise(self, name: str, work: Awaitable[None]) -> None:
        try:
            await work
        except ProbeError as exc:
            self._fail(name, str(exc))
        except Exception as exc:  # a bug in one prober must not take the daemon down
            log.exception("%s prober crashed", name)
            self._fail(name, f"{type(exc).__name__}: {exc}")

    async def _cancel(self, name: str, task: asyncio.Task[None]) -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if self._status[name].state is ProberState.RUNNING:
            self._status[name] = ProberStatus(ProberState.STOPPED)

    def _running(self, name: str, detail: str) -> None:
        self._status[name] = ProberStatus(ProberState.RUNNING, detail)
        log.info("%s prober running: %s", name, detail)

    def _fail(self, name: str, reason: str) -> None:
        self._status[name] = ProberStatus(ProberState.FAILED, reason)
        log.error("%s prober not running: %s; the daemon goes on without it", name, reason)

    # ---- signals ----------------------------------------------------------

    def _emit(self, signal: Signal) -> None:
        self._sink(signal)

    def _emit_snmp(self, signal: Signal) -> None:
        """SNMP's reachability only counts while ICMP, the better judge, is not running."""
        if isinstance(signal, ProbeResult) and self._status["icmp"].state is ProberState.RUNNING:
            return
        self._sink(signal)

    def _on_storm(self, failed_share: float) -> None:
        self._storms += 1

    # ---- helpers --------------------------------------------------------

    def _icmp_elements(self) -> int:
        everything = self._schedule_elements()
        return len(everything) if self._share is None else len(self._share)

    def _schedule_elements(self) -> list[str]:
        return [e.id for e in self._topology.elements.values() if e.address is not None]

    def _families(self) -> set[socket.AddressFamily]:
        return {_family(e.address) for e in self._topology.elements.values() if e.address}

    def _snmp_counters(self) -> dict[str, int]:
        share = self._share
        polled = [t.element for t in self._targets if share is None or t.element in share]
        counts: dict[str, int] = {"elements": len(polled)}
        if self._poller is not None:
            statuses = self._poller.statuses
            by_status = Counter(statuses[e].status.value for e in polled if e in statuses)
            counts.update(by_status)
        return counts


def _initial(enabled: bool, elements: int) -> ProberStatus:
    if not enabled:
        return ProberStatus(ProberState.DISABLED, "disabled in the configuration")
    if not elements:
        return ProberStatus(ProberState.DISABLED, "no element to probe")
    return ProberStatus(ProberState.STOPPED, "not started")


def _family(address: str) -> socket.AddressFamily:
    version = ipaddress.ip_address(address).version
    return socket.AF_INET if version == 4 else socket.AF_INET6


def address_map(topology: Topology) -> dict[str, str]:
    """Element by address, in the text form a socket reports (for trap sources)."""
    found: dict[str, str] = {}
    for element in topology.elements.values():
        address = element.address
        if address is None:
            continue
        if _CANONICAL_V4.fullmatch(address):  # already its text form: ~5 µs less each
            key = address
        else:
            try:
                key = str(ipaddress.ip_address(address))
            except ValueError:
                key = address
        found.setdefault(key, element.id)
    return found


def schedule_config(cfg: IcmpConfig, topology: Topology, source: str) -> ScheduleConfig:
    """The scheduler's settings; overrides must name addressed elements of the topology."""
    plan = ProbePlan(cfg.interval_s, cfg.count, cfg.spacing_s, cfg.timeout_s)
    overrides: dict[str, ProbePlan] = {}
    problems: list[Problem] = []
    for element, o in cfg.overrides.items() if cfg.enabled else ():
        where = f"probes.icmp.overrides.{element}"
        found = topology.elements.get(element)
        if found is None or found.address is None:
            why = "unknown element" if found is None else "element without an address"
            problems.append(Problem(source, o.line, where, f"{why} in {topology.source}"))
            continue
        overrides[element] = ProbePlan(
            o.interval_s or plan.interval_s,
            o.count or plan.count,
            plan.spacing_s,
            o.timeout_s or plan.timeout_s,
        )
    if problems:
        raise ConfigError(problems)
    return ScheduleConfig(
        plan=plan,
        overrides=overrides,
        storm_share=cfg.storm_share,
        storm_window_s=cfg.storm_window_s,
    )


def snmp_targets(cfg: SnmpConfig, topology: Topology, source: str) -> list[Target]:
    """The polled elements; a credential set the configuration lacks is a ConfigError."""
    try:
        return targets_for(topology.elements.values(), cfg.credentials, cfg.port, topology.source)
    except ConfigError as exc:
        defined = ", ".join(sorted(cfg.credentials)) or "none"
        hint = f" (probes.snmp.credentials in {source} defines: {defined})"
        raise ConfigError(
            [
                Problem(p.source, p.line, p.field, p.message + hint)
                if p.field.endswith(".snmp")
                else p
                for p in exc.problems
            ]
        ) from exc
