"""What the signals say, element by element: the engine's intake. Pure.

`Intake.ingest` folds one signal into per-element state (health, manual faults,
uplinks, report windows) and notes what the next election must read again;
the `_claims_at` family reads that state back as what speaks against an element
now. A mixin of `outaged.outages.engine.Engine`, which owns the state declared here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from outaged.classify.scope import covers
from outaged.correlate.health import Health, State, flap_due, observe, steady
from outaged.correlate.spikes import ReportClass, SpikeDetector, report_class
from outaged.errors import Problem, SignalError
from outaged.outages.gather import Gatherer
from outaged.outages.matching import OpenIndex
from outaged.outages.model import Outage
from outaged.outages.release import Releases
from outaged.signals import (
    InterfaceStatus,
    Maintenance,
    ManualFault,
    ProbeResult,
    Reboot,
    Report,
    Signal,
    Trap,
    TrapKind,
)
from outaged.topology.graph import GraphIndex
from outaged.topology.model import Thresholds


class Intake:
    index: GraphIndex
    th: Thresholds
    health: dict[str, Health]
    spikes: SpikeDetector
    manual: dict[str, ManualFault]
    uplinks: dict[str, dict[str, tuple[bool, float]]]
    maintenance: list[Maintenance]
    outages: dict[int, Outage]
    _open_ids: set[int]
    _open_index: OpenIndex
    _releases: Releases
    _gather: Gatherer
    _healthy_below: defaultdict[str, int]
    _suspects: set[str]
    _flapping: set[str]
    _notes: list[tuple[float, str, str]]
    _probe_evidence: set[str]
    _first_reports: dict[int, float]
    _remembered: dict[str, tuple[str, float, int]]
    _dirty: bool
    _due: float  # see Engine._clocks_due: lowered here when a signal sets a clock

    def ingest(self, signal: Signal) -> None:
        """Fold a signal in. Raises SignalError (and changes nothing) for unknown elements."""
        if type(signal) is ProbeResult and signal.element in self.health:
            self._probe(signal)  # most signals; `health` holds only known elements
            return
        if signal.element not in self.index.topology.elements:
            raise SignalError(
                [Problem("signal", None, "element", f"unknown element {signal.element!r}")]
            )
        match signal:
            case ProbeResult():
                self._probe(signal)
            case Report():
                cls = report_class(signal.category)
                if cls is None or self._releases.muted(
                    signal.element, signal.at, lambda: self.spikes.targets(signal.element, cls)
                ):
                    return
                if self.spikes.add(signal.at, signal.element, cls, signal.subscriber):
                    self._dirty = True
                self._first_report(signal)
            case InterfaceStatus():
                self._interface(signal.at, signal.element, signal.interface, signal.up)
            case Trap():
                self._trap(signal)
            case Reboot():
                self._notes.append((signal.at, signal.element, f"{signal.element} rebooted"))
            case ManualFault():
                self._gather.touch(signal.element)
                if signal.cleared:
                    self.manual.pop(signal.element, None)
                    self._releases.touch(signal.element)
                elif self._releases.renewed(signal.element, signal.at):
                    self.manual[signal.element] = signal  # reported again after a cancel
                else:
                    self.manual.setdefault(signal.element, signal)
                self._dirty = True
            case Maintenance(cancelled=True):  # planned work called off: faults count again
                self.maintenance = [w for w in self.maintenance if w.key != signal.key]
                self._dirty = True
                self._due = float("-inf")
            case Maintenance():
                self.maintenance.append(signal)
                self._dirty = True
                self._due = float("-inf")

    def _probe(self, signal: ProbeResult) -> None:
        element = signal.element
        health = self.health.get(element)
        if health is None:
            health = self.health[element] = Health()
        elif steady(health, signal.ok, signal.rtt_ms):  # nothing else changes
            return
        was_healthy, was_state, was_evidence = health.is_healthy, health.state, health.is_evidence
        if not observe(health, signal.ok, signal.at, signal.rtt_ms, self.th):
            return
        self._releases.touch(element)
        if health.is_evidence or was_evidence:  # else no claim of its probes, before or now
            self._gather.touch(element)
        if health.is_evidence != was_evidence:
            self._dirty = True
            if health.is_evidence:
                self._probe_evidence.add(element)
            else:
                self._probe_evidence.discard(element)
        elif self._has_evidence():  # health above or below evidence changes its reading
            self._dirty = True
        if health.is_healthy != was_healthy:
            self._gather.shake(element)
            step = 1 if health.is_healthy else -1
            self._healthy_below[element] += step
            for dom in self.index.dominators(element):
                self._healthy_below[dom] += step
        if health.state is State.SUSPECT:
            self._suspects.add(element)
        else:
            self._suspects.discard(element)
        if health.flapping:
            self._flapping.add(element)
            self._due = min(self._due, flap_due(health, self.th))
        if was_state is State.DOWN and health.state is State.UP:
            self.spikes.clear_below(element, signal.at)
            self._forget_below(element, signal.at)

    def _forget_below(self, element: str, at: float) -> None:
        """The element was seen recover: remembered report evidence it explains
        (under it, or above it: its cut-off set now holds an element that is up) is over."""
        index = self.index
        remembered = self._remembered
        if index.subtree_size[element] + len(index.dominators(element)) < len(remembered):
            places: Iterable[str] = (*index.dominators(element), *index.cut_off(element))
            candidates = [e for e in places if e in remembered]
        else:
            candidates = [e for e in remembered if self.index.in_line(element, e)]
        gone = [e for e in candidates if remembered[e][1] <= at]
        for e in gone:
            del self._remembered[e]
        if gone:
            self._dirty = True

    def _first_report(self, report: Report) -> None:
        """The seed report's "first report time": the first customer call inside an
        open outage, even one that opened on probes or a person's word. A call made
        before it opened was no call about it (its burst's calls are in the record
        already): else a restart, re-ingesting the window, would date it earlier."""
        for oid in sorted(self._open_index.may_cover(report.element)):
            outage = self.outages[oid]
            if (
                report.at >= outage.opened_at
                and (outage.first_report_at is None or report.at < outage.first_report_at)
                and covers(self.index, outage.scope, report.element)
            ):
                known = self._first_reports.get(outage.id, report.at)
                self._first_reports[outage.id] = min(known, report.at)

    def _has_evidence(self) -> bool:
        return bool(
            self._probe_evidence
            or self.manual
            or self.spikes.active
            or self.uplinks
            or self._remembered
        )

    def _interface(self, at: float, element: str, interface: str, up: bool) -> None:
        watched = self.index.element(element).uplinks
        if interface not in watched:
            return
        states = self.uplinks.setdefault(element, {})
        before = states.get(interface, (True, at))[0]
        if before != up:
            states[interface] = (up, at)
            self._dirty = True
            self._gather.touch(element)
            self._releases.touch(element)
            if not up and len(watched) > 1:
                self._notes.append((at, element, f"{element} uplink {interface} down"))

    def _trap(self, trap: Trap) -> None:
        if trap.trap in (TrapKind.COLD_START, TrapKind.WARM_START):
            self._notes.append((trap.at, trap.element, f"{trap.element} {trap.trap.value}"))
        elif trap.ifindex is not None:
            up = trap.trap is TrapKind.LINK_UP
            self._interface(trap.at, trap.element, str(trap.ifindex), up)

    def _claims_at(self, element: str, now: float) -> list[tuple[str, float]]:
        """What speaks against one element now (see outaged.outages.evidence)."""
        items: list[tuple[str, float]] = []
        if not self._releases.is_aside(element):
            health = self.health.get(element)
            if element in self._probe_evidence and health is not None and health.is_evidence:
                start = health.down_since if health.down_since is not None else now
                items.append(("flapping" if health.flapping else "down", start))
            fault = self.manual.get(element)
            if fault is not None:
                items.append(("manual", fault.at))
            states = self.uplinks.get(element)
            if states:
                watched = self.index.element(element).uplinks
                downs = [states[i][1] for i in watched if i in states and not states[i][0]]
                if len(downs) == len(watched):
                    items.append(("uplinks", max(downs)))
        active = self.spikes.active
        for cls in ReportClass:
            spike = active.get((element, cls))
            if spike is not None:
                tag = "auth" if cls is ReportClass.AUTH else f"reports:{cls.value}"
                items.append((tag, spike.first_at))
        held = self._remembered.get(element)
        if held is not None:
            tag, first_at, oid = held
            if oid in self._open_ids and all(r != tag for r, _ in items):
                items.append((tag, first_at))
        return items

    def _hard_evidence(self) -> set[str]:
        """Elements seen failing themselves: probes, every uplink, a person's word."""
        found = set(self._probe_evidence) | set(self.manual)
        found.update(e for e in self.uplinks if self._uplinks_down(e))
        return found

    def _uplinks_down(self, element: str) -> bool:
        states = self.uplinks.get(element)
        if not states:
            return False
        watched = self.index.element(element).uplinks
        return all(i in states and not states[i][0] for i in watched)

    def _seen_clear(self, element: str) -> bool:
        """Nothing speaks against it any more: no manual fault, an uplink up, and its
        probes (if it has any results) saw it up."""
        if element in self.manual or self._uplinks_down(element):
            return False
        health = self.health.get(element)
        return health is None or health.is_healthy  # None: no probe speaks against it
