"""The outage records: written through `_put`, built from an elected root. Pure.

A record is classified from its root (scope, severity, deadlines, the why) and
its root's evidence summary; a rebuild keeps what people and the past set (the
cause they diagnosed, the severity they chose, the first call) and says what
changed. A mixin of `outaged.outages.engine.Engine`, which owns the state
declared here.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from outaged.classify.scope import ScopeCalculator
from outaged.classify.severity import on_site_by, restore_by, severity
from outaged.correlate.election import Evidence, Root
from outaged.correlate.incremental import Elector
from outaged.correlate.spikes import ReportClass, SpikeDetector
from outaged.correlate.summary import Summary
from outaged.correlate.summary import of as summary_of
from outaged.outages.describe import changes, confidence, decision, describe
from outaged.outages.matching import OpenIndex
from outaged.outages.model import EVIDENCE_SHOWN, Decision, Event, Outage, Status
from outaged.outages.reasons import Phrase, english
from outaged.outages.release import Releases
from outaged.signals import Maintenance
from outaged.topology.graph import GraphIndex
from outaged.topology.model import Severity, Thresholds


class Records:
    index: GraphIndex
    th: Thresholds
    spikes: SpikeDetector
    maintenance: list[Maintenance]
    outages: dict[int, Outage]
    detached: set[int]
    next_id: int
    _open_ids: set[int]
    _open_index: OpenIndex
    _restored: dict[int, float]
    _releases: Releases
    _scopes: ScopeCalculator
    _elector: Elector
    _healthy_below: defaultdict[str, int]
    _built: dict[int, tuple[Outage, tuple[object, ...]]]
    _held_changed: bool

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
