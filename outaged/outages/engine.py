"""The decision engine: signals in, outage decisions out, time passed in.

`ingest` folds one signal into per-element state (no decisions yet);
`evaluate(now)` elects root causes from the current evidence and maps them onto
outage records: exactly one per root cause, re-rooted and re-classified as the
scope moves, restored when its evidence is gone. Pure: no I/O, no clock.
The intake of signals is in outaged.outages.intake, the building and writing
of records in outaged.outages.records (mixins over the state kept here).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable

from outaged.classify.scope import ScopeCalculator, covers
from outaged.correlate.election import Root
from outaged.correlate.health import EARLY_S, Health, expire_flap, flap_due, flap_expiry
from outaged.correlate.incremental import Elector
from outaged.correlate.spikes import SpikeDetector, Suspicion
from outaged.outages.describe import decision
from outaged.outages.gather import Gatherer
from outaged.outages.intake import Intake
from outaged.outages.matching import Hold, Match, Merge, Open, OpenIndex, Relapse, match
from outaged.outages.model import Decision, Event, Outage, Status
from outaged.outages.orphans import correlatable, pruned
from outaged.outages.reasons import Phrase
from outaged.outages.records import Records
from outaged.outages.release import Releases, area_of, listed
from outaged.signals import (
    Maintenance,
    ManualFault,
)
from outaged.topology.graph import GraphIndex


class Engine(Intake, Records):
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
        # No clock of the engine's own is due before this (see `_clocks_due`);
        # lowered by what sets a new one between evaluations.
        self._due = float("-inf")

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

    # ---- signals (folded in by outaged.outages.intake) -------------------

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

    def _clocks_due(self, now: float) -> bool:
        """Something of `_expire` may be due at `now` (False: it would change nothing):
        a spike to re-judge or sweep, or a clock of the engine's own (`_due`)."""
        return now >= self._due or now >= self.spikes.due

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
        self._due = self._next_due(now)

    def _next_due(self, now: float) -> float:
        """After `_expire` at `now`, the earliest time its next run can change
        anything with no new signal: the wake-ups `next_wakeup` names for the
        engine's own clocks (flaps settling, planned work starting or ending, holds
        giving up) and the pruning of long-ended planned work; those compared the
        other way round (`t <= now - window`) a little early."""
        th = self.th
        times = [t for w in self.maintenance for t in (w.start, w.end) if t > now]
        times += [w.end + th.relapse_window_s - EARLY_S for w in self.maintenance]
        times += [flap_due(self.health[e], th) for e in self._flapping]
        if self._hold_expiry > now:  # else the election it makes due is wanted already
            times.append(self._hold_expiry)
        return min(times, default=float("inf"))

    # ---- decisions -----------------------------------------------------

    def evaluate(self, now: float) -> list[Decision]:
        """Decisions at `now`. Called once per signal time in a probe cycle, so each
        pass runs only when something in it can be due (`_clocks_due`, and what was
        noted since the last call)."""
        self.spikes.baselines.advance(now)
        if self._clocks_due(now):
            self._expire(now)
        decisions = self._review_releases(now)
        noticed = self.spikes.drain_noticed()
        self._last_eval = now
        if self._first_reports or self._notes:
            decisions += self._notes_to_decisions(now)
        if self._dirty and now >= self._last_election + self.min_interval:
            self._dirty = False
            self._last_election = now
            roots, overruns = self._elect(now)
            decisions += self._reconcile(roots, overruns, now)
            self._due = min(self._due, self._hold_expiry)
        if noticed:
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
