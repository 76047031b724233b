"""The decision engine: signals in, outage decisions out, time passed in.

`ingest` folds one signal into per-element state (no decisions yet);
`evaluate(now)` elects root causes from the current evidence and maps them onto
outage records: exactly one per root cause, re-rooted and re-classified as the
scope moves, restored when its evidence is gone. Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable

from outaged.classify.scope import ScopeCalculator, covers
from outaged.classify.severity import on_site_by, restore_by, severity
from outaged.correlate.election import Evidence, Root
from outaged.correlate.health import Health, State, expire_flap, flap_expiry, observe
from outaged.correlate.incremental import Elector
from outaged.correlate.spikes import ReportClass, SpikeDetector, Suspicion, report_class
from outaged.correlate.summary import Summary
from outaged.correlate.summary import of as summary_of
from outaged.errors import Problem, SignalError
from outaged.outages.describe import changes, confidence, decision, describe
from outaged.outages.gather import Gatherer
from outaged.outages.matching import Hold, Match, Merge, Open, OpenIndex, Relapse, match
from outaged.outages.model import EVIDENCE_SHOWN, Decision, Event, Outage, Status
from outaged.outages.orphans import correlatable, pruned
from outaged.outages.reasons import Phrase, english
from outaged.outages.release import Releases, area_of, listed
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
from outaged.topology.model import Severity


class Engine:
    def __init__(self, index: GraphIndex, *, first_id: int = 1, min_interval: float = 0.0) -> None:
        """`min_interval`: elect at most this often (seconds of the caller's clock);
        under a storm every probe cycle flips thousands of elements."""
        self.index = index
        self.th = index.topology.thresholds
        self.health: dict[str, Health] = {}
        self.spikes = SpikeDetector(index, self.th)
        self.manual: dict[str, ManualFault] = {}
        self.uplinks: dict[str, dict[str, tuple[bool, float]]] = {}
        self.maintenance: list[Maintenance] = []
        # open, recently restored, and still worked on; write with _put, drop with forget
        self.outages: dict[int, Outage] = {}
        self._open_ids: set[int] = set()
        self._open_index = OpenIndex(index)  # the open ones by the elements they cover
        self._restored: dict[int, float] = {}  # id -> restored_at, pruned after the relapse window
        # Outages whose root left the topology: kept for the ledger, never correlated
        # again (their evidence cannot be weighed against a missing element).
        self.detached: set[int] = set()
        self._releases = Releases(index, self.th)  # cancelled / closed: evidence set aside
        self.next_id = first_id
        self._scopes = ScopeCalculator(index, self.th)
        self._healthy_below: defaultdict[str, int] = defaultdict(int)
        self._suspects: set[str] = set()
        self._flapping: set[str] = set()
        self._notes: list[tuple[float, str, str]] = []  # (at, element, text) for timelines
        self._probe_evidence: set[str] = set()
        self._holds: dict[str, float] = {}  # root element -> since when its opening waits
        self._hold_expiry = float("inf")  # the first hold to give up waiting
        self._first_reports: dict[int, float] = {}  # outage id -> a first customer call
        # Report evidence open outages remember: element -> (reason, first_at). Only a
        # sign of recovery removes it (an element observed up, a repair reported).
        self._remembered: dict[str, tuple[str, float, int]] = {}  # ... and whose
        self._confirmed: set[int] = set()  # outages whose repair was reported since
        self.suspicions: list[Suspicion] = []  # suspected concentrations, for the NOC
        self._gather = Gatherer(index)  # the evidence, kept current between elections
        self._elector = Elector(index, self.th)  # the election, likewise
        # outage id -> (its record as the last election left it, what it was built from)
        self._built: dict[int, tuple[Outage, tuple[object, ...]]] = {}
        self._held_changed = True  # a record's remembered calls may differ
        self._remembered_built: dict[str, tuple[str, float, int]] = {}
        self._dirty = False
        self._last_eval: float | None = None
        self._last_election = float("-inf")
        self.min_interval = min_interval

    def adopt(self, outages: Iterable[Outage], next_id: int) -> None:
        """Take back persisted outages after a restart, so the evidence that is
        re-ingested matches them instead of opening duplicates. One whose root is
        not in this topology is detached: kept, but not correlated; one that only
        lost parts is adopted without them and still correlated."""
        elements = self.index.topology.elements
        for outage in outages:
            if not correlatable(outage, elements):
                self.detached.add(outage.id)
            else:
                outage = pruned(outage, elements)
            self._put(outage)
            if outage.id in self._open_ids:  # not a detached one: its elements are known
                self._remembered.update((e, (r, t, outage.id)) for e, r, t in outage.held)
        self.next_id = max(self.next_id, next_id)
        self._dirty = True

    def _put(self, outage: Outage) -> None:
        before = self.outages.get(outage.id)
        was_open = outage.id in self._open_ids
        self.outages[outage.id] = outage
        self._open_ids.discard(outage.id)
        self._restored.pop(outage.id, None)
        self._releases.track(outage)
        # detached: its elements left the topology; released: people ended it
        if outage.id not in self.detached and outage.released_at is None:
            if outage.status is Status.OPEN:
                self._open_ids.add(outage.id)
            elif outage.status is Status.RESTORED and outage.restored_at is not None:
                self._restored[outage.id] = outage.restored_at
        is_open = outage.id in self._open_ids
        self._open_index.put(outage, is_open)
        if before is None or is_open != was_open or (is_open and before.held != outage.held):
            self._held_changed = True  # what open outages remember may differ

    def releasable(self, now: float) -> list[int]:
        """Outages the engine is done with: not open, and restored longer ago than
        the relapse window (evidence returning after that opens a new outage);
        an ended one once it sets nothing aside and new outages no longer link it."""
        horizon = now - self.th.relapse_window_s
        found = []
        for oid in self.outages:
            restored = self._restored.get(oid)
            if (
                oid not in self._open_ids
                and (restored is None or restored < horizon)
                and not self._releases.keeps(oid, now)
            ):
                found.append(oid)
        return found

    def forget(self, outage_ids: Iterable[int]) -> None:
        """Drop finished outages from memory (the store keeps them; `adopt` takes one
        back). An open outage is never dropped: its evidence is still being matched."""
        for oid in outage_ids:
            if oid in self._open_ids or self._releases.holds(oid):
                continue
            self._releases.drop(oid)
            self.outages.pop(oid, None)
            self._restored.pop(oid, None)
            self._first_reports.pop(oid, None)
            self.detached.discard(oid)

    def _live(self) -> list[Outage]:
        return [self.outages[i] for i in sorted(self._open_ids)]

    @property
    def dirty(self) -> bool:
        """Signals arrived that the next `evaluate` must weigh (else it is cheap)."""
        return self._dirty

    # ---- signals -------------------------------------------------------

    def ingest(self, signal: Signal) -> None:
        """Fold a signal in. Raises SignalError (and changes nothing) for unknown elements."""
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
            case Maintenance():
                self.maintenance.append(signal)
                self._dirty = True

    def _probe(self, signal: ProbeResult) -> None:
        element = signal.element
        health = self.health.get(element)
        if health is None:
            health = self.health[element] = Health()
        was_healthy, was_state, was_evidence = health.is_healthy, health.state, health.is_evidence
        if not observe(health, signal.ok, signal.at, signal.rtt_ms, self.th):
            return
        self._releases.touch(element)
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

    def confirm_restored(self, outage_id: int, now: float, *, repaired: bool = True) -> None:
        """A person reported the repair (or cancelled or closed the outage): its
        remembered reports are over (customers still calling, or probes still down,
        keep it open)."""
        outage = self.outages.get(outage_id)
        if outage is None or outage.status is not Status.OPEN:
            return
        for element in [e for e, (_, _, o) in self._remembered.items() if o == outage_id]:
            del self._remembered[element]
        if repaired:
            self._confirmed.add(outage_id)
        self._dirty = True

    def drain_suspicions(self) -> list[Suspicion]:
        found, self.suspicions = self.suspicions, []
        return found

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

    # ---- time ----------------------------------------------------------

    def next_wakeup(self) -> float | None:
        """The next time something changes with no new signal (for simulated time)."""
        times = [self.spikes.next_expiry()]
        times += [flap_expiry(self.health[e], self.th) for e in self._flapping]
        after = self._last_eval if self._last_eval is not None else float("-inf")
        for window in self.maintenance:
            times += [t for t in (window.start, window.end) if t > after]
        if self._dirty:
            times.append(self._last_election + self.min_interval)
        if self._holds:
            times.append(self._hold_expiry)
        return min((t for t in times if t is not None), default=None)

    def _expire(self, now: float) -> None:
        if self.spikes.expire(now):
            self._dirty = True
        if now >= self._hold_expiry:
            self._dirty = True
        for element in list(self._flapping):
            health = self.health[element]
            if expire_flap(health, now, self.th):
                self._flapping.discard(element)
                self._dirty = True
                self._releases.touch(element)
                self._gather.touch(element)
                self._gather.shake(element)
                if not health.is_evidence:
                    self._probe_evidence.discard(element)
                if health.is_healthy:
                    self._healthy_below[element] += 1
                    for dom in self.index.dominators(element):
                        self._healthy_below[dom] += 1
        last = self._last_eval if self._last_eval is not None else float("-inf")
        for window in self.maintenance:
            if any(last < t <= now for t in (window.start, window.end)):
                self._dirty = True
        self.maintenance = [w for w in self.maintenance if w.end > now - self.th.relapse_window_s]

    # ---- decisions -----------------------------------------------------

    def evaluate(self, now: float) -> list[Decision]:
        self.spikes.baselines.advance(now)
        self._expire(now)
        decisions = self._review_releases(now)
        noticed = self.spikes.drain_noticed()
        self._last_eval = now
        decisions += self._notes_to_decisions(now)
        if not self._dirty or now < self._last_election + self.min_interval:
            self._suspect(noticed)
            return decisions
        self._dirty = False
        self._last_election = now
        roots, overruns = self._elect(now)
        decisions += self._reconcile(roots, overruns, now)
        self._suspect(noticed)
        return decisions

    def _suspect(self, noticed: list[Suspicion]) -> None:
        """New suspected concentrations for the NOC (see `_unexplained`)."""
        self.suspicions += [found for found in noticed if self._unexplained(found)]

    def suspected_now(self) -> list[Suspicion]:
        """The suspected concentrations still standing, for the NOC's list."""
        current = self.spikes.suspected.values()
        return sorted((s for s in current if self._unexplained(s)), key=lambda s: s.first_at)

    def _unexplained(self, found: Suspicion) -> bool:
        """Not inside a known fault nor already part of a spike: worth asking about."""
        here = found.element
        dominates = self.index.dominates
        return not (
            here in self._probe_evidence
            or any(covers(self.index, o.scope, here) for o in self._live())
            or any(dominates(e, here) or dominates(here, e) for e, _ in self.spikes.active)
        )

    def _elect(self, now: float) -> tuple[list[Root], dict[str, float]]:
        """The roots of the current evidence, and the overruns of planned work: both
        kept current from what changed (outaged.outages.gather, outaged.correlate.incremental)."""
        gather = self._gather
        for element in self._flapping:  # a flapping element that is up: down since now
            gather.touch(element)
        moved, self.spikes.moved = self.spikes.moved, set()
        evidence, overruns, changed = gather.gather(
            lambda element: self._claims_at(element, now),
            moved,
            self._remembered,
            frozenset(self._open_ids),
            self._releases.aside(),
            self.maintenance,
            now,
        )
        return self._elector.elect(evidence, self._healthy_below, changed, self._leaf), overruns

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

    def _reconcile(
        self, roots: list[Root], overruns: dict[str, float], now: float
    ) -> list[Decision]:
        horizon = now - self.th.relapse_window_s
        live = self._live()
        for old in [i for i, at in self._restored.items() if at < horizon]:
            del self._restored[old]
        recent = [self.outages[i] for i in sorted(self._restored, reverse=True)]
        decisions, found, holds = self._matched(roots, live, recent, overruns, now)
        keepers, merged, residuals = found.keepers, found.merged, found.residuals
        self._holds = holds
        self._hold_expiry = min(holds.values(), default=float("inf")) + self.th.hold_max_s
        for outage in live:
            if outage.id in merged:
                continue
            kept = keepers.get(outage.id)
            left = residuals.get(outage.id, [])
            if kept is not None:
                basis: tuple[object, ...] = ("root", kept)
                if left:  # it still answers for symptoms that are not under it
                    basis = ("joined", kept, *left)
                    kept = dataclasses.replace(kept, joined=(*kept.joined, *left))
                decisions += self._update(outage, kept, overruns, now, basis=basis)
            elif left:
                # One fault left: it is the root now (the deepest element explaining
                # the evidence). Several: keep them together under the old root.
                if len(left) == 1:
                    rest, basis = left[0], ("root", left[0])
                else:
                    rest = Root(outage.root, None, tuple(left), residual=True)
                    basis = ("residual", *left)
                decisions += self._update(outage, rest, overruns, now, basis=basis)
            else:
                done = dataclasses.replace(outage, status=Status.RESTORED, restored_at=now)
                self._put(done)
                key = "repair_cleared" if outage.id in self._confirmed else "cleared"
                decisions.append(decision(now, Event.RESTORED, done, Phrase.of(key)))
        self._confirmed.clear()
        self._built = {oid: b for oid, b in self._built.items() if oid in self._open_ids}
        self._remember_reports()
        return decisions

    def _matched(
        self,
        roots: list[Root],
        live: list[Outage],
        recent: list[Outage],
        overruns: dict[str, float],
        now: float,
    ) -> tuple[list[Decision], Match, dict[str, float]]:
        """Match the roots to the records (see outaged.outages.matching) and act on it:
        merges, relapses, new outages; and the roots whose opening waits."""
        decisions: list[Decision] = []
        holds: dict[str, float] = {}
        found = match(
            self.index, roots, live, recent, self._open_index, lambda root: self._held(root, now)
        )
        for step in found.steps:
            match step:
                case Merge(other, into):
                    decisions.append(self._merge(other, into, now))
                case Relapse(outage, root):
                    decisions += self._update(outage, root, overruns, now, relapse=True)
                case Hold(root):
                    holds[root.element] = self._holds.get(root.element, now)
                case Open(root):
                    outage = self._open(root, overruns, now)
                    decisions.append(Decision(now, Event.OPENED, outage, outage.reason, outage.why))
        return decisions, found, holds

    def _remember_reports(self) -> None:
        """What open outages remember, after they were rebuilt from this election
        (built again only when a record was written since)."""
        if self._held_changed:
            remembered: dict[str, tuple[str, float, int]] = {}
            for oid in sorted(self._open_ids):
                for element, tag, first_at in self.outages[oid].held:
                    remembered.setdefault(element, (tag, first_at, oid))
            self._remembered_built = remembered
            self._held_changed = False
        self._remembered = dict(self._remembered_built)

    def _held(self, root: Root, now: float) -> bool:
        """Wait while the picture is still settling, never longer than `hold_max_s`:
        a failing-but-not-yet-down element above may be the real root, or elements
        below a root whose probes just failed have not been probed since."""
        if now - self._holds.get(root.element, now) >= self.th.hold_max_s:
            return False
        own = root.own
        probed_down = own is not None and "down" in own.reasons and "manual" not in own.reasons
        if probed_down and self._healthy_below.get(root.element, 0) > 0:
            return True
        if not self._suspects:
            return False
        index = self.index
        chain = [root.element, *index.dominators(root.element)]
        parents = index.element(root.element).parents
        if len(parents) > 1:  # an uplink failing too would make this a symptom of it
            for parent in parents:
                chain += [parent, *index.dominators(parent)]
        return any(e in self._suspects for e in chain)

    def _open(self, root: Root, overruns: dict[str, float], now: float) -> Outage:
        outage = self._build(root, self.next_id, now, self._first_at(root), None, None, overruns)
        follows = self._releases.follows((*root.elements(), *outage.scope.parts), now)
        outage = dataclasses.replace(outage, follows=follows)
        self.next_id += 1
        self._put(outage)
        return outage

    def _update(
        self,
        outage: Outage,
        root: Root,
        overruns: dict[str, float],
        now: float,
        *,
        relapse: bool = False,
        basis: tuple[object, ...] | None = None,
    ) -> list[Decision]:
        """Rebuild the record from its root now; `basis`: what the root was made of,
        so a record built from the very same roots (nothing under it changed) is
        not rebuilt."""
        if basis is not None and self._unchanged(outage, basis):
            return []
        decisions = self._rebuild(outage, root, overruns, now, relapse)
        if basis is not None:
            self._built[outage.id] = (self.outages[outage.id], basis)
        return decisions

    def _unchanged(self, outage: Outage, basis: tuple[object, ...]) -> bool:
        """The record is as the last election left it and its roots are the same
        objects: the rebuild would be equal (nothing else it reads moved: planned work
        and ended outages, whose links move with time, make it rebuild)."""
        built = self._built.get(outage.id)
        if built is None or built[0] is not outage or self.maintenance:
            return False
        if self._releases.any_ended:
            return False
        last = built[1]
        return (
            len(last) == len(basis)
            and last[0] == basis[0]
            and all(a is b for a, b in zip(last[1:], basis[1:], strict=True))
        )

    def _rebuild(
        self, outage: Outage, root: Root, overruns: dict[str, float], now: float, relapse: bool
    ) -> list[Decision]:
        occurred = min(outage.occurred_at, self._first_at(root))
        updated = self._build(
            root,
            outage.id,
            outage.opened_at,
            occurred,
            outage.cause if outage.cause_diagnosed else None,
            outage.first_report_at,
            overruns,
            diagnosed=outage.cause_diagnosed,
        )
        # grown over an ended outage's root: it follows that one too (ledger links it)
        grown = self._releases.follows((*root.elements(), *updated.scope.parts), now)
        follows = tuple(sorted({*outage.follows, *grown} - {outage.id}))
        updated = _ratchet(outage, dataclasses.replace(updated, follows=follows))
        why = changes(outage, updated)
        if relapse:
            why = [Phrase.of("relapse"), *why]
        if not why:
            if updated.held != outage.held:  # what it remembers, kept current quietly
                self._put(updated)
            return []
        self._put(updated)
        return [decision(now, Event.UPDATED, updated, *why)]

    def _merge(self, outage: Outage, into: int, now: float) -> Decision:
        merged = dataclasses.replace(outage, status=Status.MERGED, merged_into=into)
        self._put(merged)
        return decision(now, Event.MERGED, merged, Phrase.of("merged", into=into))

    def _build(
        self,
        root: Root,
        outage_id: int,
        opened_at: float,
        occurred: float,
        cause: str | None,
        first_report_at: float | None,
        overruns: dict[str, float],
        *,
        diagnosed: bool = False,
    ) -> Outage:
        """Classify a root into an open outage record (new, or replacing one)."""
        index = self.index
        element = index.element(root.element)
        scope = self._scopes.scope(root, self._healthy_below)
        if element.passive and not diagnosed and not root.residual:
            cause = element.kind.value
        sev = severity(index, root.element, scope, self.th, by_kind=not root.residual)
        found = self._summary(root)
        if found is None:
            raise ValueError(f"root {root.element} has no evidence")
        reported = found.reported_at
        if first_report_at is not None:
            reported = first_report_at if reported is None else min(reported, first_report_at)
        overrun = bool(overruns) and any(e.element in overruns for e in root.evidence())
        flapping = found.flapping
        parents = element.parents
        possible = parents[0] if len(parents) == 1 and index.element(parents[0]).passive else None
        why = describe(root, scope, overrun, flapping)
        return Outage(
            id=outage_id,
            root=root.element,
            status=Status.OPEN,
            severity=sev,
            occurred_at=occurred,
            opened_at=opened_at,
            first_report_at=reported,
            restore_by=restore_by(sev, occurred, cause, element.contract),
            on_site_by=on_site_by(sev, occurred),
            scope=scope,
            confidence=confidence(root, self.th),
            reason=english(why),
            why=why,
            evidence=found.smallest[:EVIDENCE_SHOWN],
            evidence_count=found.count,
            cause=cause,
            cause_diagnosed=diagnosed,
            possible_cause=possible,
            lost_redundancy=index.lost_redundancy(root.element) if scope.whole else (),
            flapping=flapping,
            degraded=root.degraded,
            held=found.held,
            quiet=bool(found.held) and not found.live,
        )

    def _summary(self, root: Root) -> Summary | None:
        """All the evidence under the root, summed (kept by the election)."""
        return self._elector.summary(root)

    def _first_at(self, root: Root) -> float:
        found = self._summary(root)
        return root.first_at if found is None else found.first_at

    def _leaf(self, e: Evidence) -> Summary:
        return summary_of(e, self._is_held_only)

    def _is_held_only(self, element: str, reasons: list[str]) -> bool:
        """No live spike backs this element's report evidence any more."""
        return all(
            (element, ReportClass(r.split(":", 1)[1])) not in self.spikes.active for r in reasons
        )

    def set_severity(self, outage_id: int, sev: Severity, reason: str, now: float) -> Decision:
        """A dispatcher sets the severity (lowering it is theirs alone): the restore
        deadline follows it, and the scope raises it again only by growing."""
        outage = self.outages[outage_id]
        element = self.index.topology.elements.get(outage.root)
        basis = outage.severity  # what the scope says now, when the root is still known
        if element is not None:
            basis = severity(self.index, outage.root, outage.scope, self.th)
        restore = outage.restore_by
        if restore is not None:
            restore = restore_by(sev, outage.occurred_at, outage.cause, True)
        updated = dataclasses.replace(
            outage,
            severity=sev,
            severity_basis=basis,
            restore_by=restore,
            on_site_by=on_site_by(sev, outage.occurred_at),
        )
        self._put(updated)
        old = outage.severity.value
        phrase = Phrase.of("severity_set", severity=sev.value, old_severity=old, reason=reason)
        return decision(now, Event.UPDATED, updated, phrase)

    def set_cause(self, outage_id: int, cause: str, now: float) -> Decision:
        """Diagnosis names the cause; a fibre cause moves the restore deadline to 6 h."""
        outage = self.outages[outage_id]
        element = self.index.topology.elements.get(outage.root)
        contract = True if element is None else element.contract  # removed: as it was opened
        if element is None and outage.restore_by is None:
            contract = False
        updated = dataclasses.replace(
            outage,
            cause=cause,
            cause_diagnosed=True,
            restore_by=restore_by(outage.severity, outage.occurred_at, cause, contract),
        )
        self._put(updated)
        return decision(now, Event.UPDATED, updated, Phrase.of("cause_set", cause=cause))

    # ---- people ended it -------------------------------------------------

    def release(self, outage_id: int, now: float) -> Decision | None:
        """A person ended the outage (cancel, close): stop following it, and set aside
        the evidence it holds now (see outaged.outages.release). None if already let go."""
        outage = self.outages.get(outage_id)
        if outage is None or outage.released_at is not None or outage.status is Status.MERGED:
            return None
        tops = area_of(self.index, outage)
        dominates = self.index.dominates

        def inside(element: str) -> bool:
            return any(dominates(top, element) for top in tops)

        self.spikes.forget(now, inside)  # its calls count afresh from now
        aside: tuple[str, ...] = ()
        if outage.status is Status.OPEN:
            aside = tuple(sorted(e for e in self._hard_evidence() if inside(e)))
            if aside:
                outage = dataclasses.replace(outage, status=Status.RELEASED, set_aside=aside)
            else:  # only calls, now set aside: the engine sees no fault any more
                outage = dataclasses.replace(outage, status=Status.RESTORED, restored_at=now)
        released = dataclasses.replace(outage, released_at=now)
        self._put(released)
        self._first_reports.pop(outage_id, None)
        self._dirty = True  # what it explained is judged afresh
        why = [Phrase.of("released")]
        if aside:
            why.append(listed("set_aside", aside))
        return decision(now, Event.RELEASED, released, *why)

    def resume(self, outage_id: int) -> None:
        """A person reopened an ended outage: follow it again, with what it set aside."""
        outage = self.outages.get(outage_id)
        if outage is None or outage.released_at is None:
            return
        status = Status.OPEN if outage.status is Status.RELEASED else outage.status
        self._put(dataclasses.replace(outage, status=status, released_at=None, set_aside=()))
        self._dirty = True

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

    def _review_releases(self, now: float) -> list[Decision]:
        """Ended outages whose set-aside elements were seen clear (checked on a change)."""
        decisions: list[Decision] = []
        if not self._releases.changed:
            return decisions
        for event, outage, why in self._releases.review(now, self._seen_clear):
            self._put(outage)
            decisions.append(decision(now, event, outage, *why))
        return decisions

    def _notes_to_decisions(self, now: float) -> list[Decision]:
        decisions = []
        for outage_id, at in self._first_reports.items():
            outage = self.outages[outage_id]
            if outage_id in self._open_ids:
                outage = dataclasses.replace(outage, first_report_at=at)
                self._put(outage)
                decisions.append(decision(now, Event.UPDATED, outage, Phrase.of("first_report")))
        self._first_reports.clear()
        for _at, element, text in self._notes:
            for outage in self._covering(element):
                decisions.append(decision(now, Event.UPDATED, outage, Phrase.of("note", text=text)))
        self._notes.clear()
        return decisions

    def _covering(self, element: str) -> Iterable[Outage]:
        for outage in self._live():
            if (
                self.index.dominates(outage.root, element)
                or outage.root in self.index.element(element).parents
            ):
                yield outage

    def open_outages(self) -> list[Outage]:
        return self._live()

    def is_open(self, outage_id: int) -> bool:
        return outage_id in self._open_ids

    def may_cover(self, element: str) -> set[int]:
        """Open outages whose scope may hold the element, by lookups (a superset:
        `covers` decides)."""
        return self._open_index.may_cover(element)


def _ratchet(old: Outage, new: Outage) -> Outage:
    """SPEC §3: the severity only rises on its own (past what a dispatcher who set
    it saw), so a shrinking scope never moves the restore deadline earlier; it
    follows the kept severity, the occurrence and the cause."""
    basis = old.severity_basis
    if basis is not None and new.severity.rank >= basis.rank:
        sev = old.severity
    else:
        sev, basis = min(old.severity, new.severity, key=lambda s: s.rank), None
    restore = new.restore_by
    if sev != new.severity:
        off_contract = restore is None
        restore = None if off_contract else restore_by(sev, new.occurred_at, new.cause, True)
    return dataclasses.replace(
        new,
        severity=sev,
        severity_basis=basis,
        restore_by=restore,
        on_site_by=on_site_by(sev, new.occurred_at),
    )
