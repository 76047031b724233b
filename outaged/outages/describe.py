"""How an outage record reads: its confidence, the why of a decision, what
changed between two versions of it. Pure."""

from __future__ import annotations

from outaged.classify.scope import Scope
from outaged.correlate.election import Root
from outaged.outages.model import Decision, Event, Outage
from outaged.outages.reasons import Phrase, Why, english
from outaged.topology.model import Thresholds


def confidence(root: Root, th: Thresholds) -> float:
    if root.degraded:
        return th.degraded_confidence
    if root.own is not None and root.own.hard:
        return 1.0
    if root.hard:
        return 0.9
    return 0.8


def decision(now: float, event: Event, outage: Outage, *why: Phrase) -> Decision:
    return Decision(now, event, outage, english(why), why)


def describe(root: Root, scope: Scope, overrun: bool, flapping: bool) -> Why:
    own = root.own
    if own is None:
        parts = [Phrase.of("inferred", element=root.element, n=len(root.below))]
    else:
        parts = [Phrase.of("evidence", element=root.element, reasons=own.reasons)]
    if not scope.whole:
        parts.append(Phrase.of("partial", parts=tuple(scope.parts[1:]) or (root.element,)))
    if root.degraded:
        parts.append(Phrase.of("degraded"))
    if flapping:
        parts.append(Phrase.of("flapping"))
    if overrun:
        parts.append(Phrase.of("overrun"))
    return tuple(parts)


def changes(old: Outage, new: Outage) -> list[Phrase]:
    why = []
    if old.root != new.root:
        why.append(Phrase.of("rerooted", old=old.root, new=new.root))
    if old.severity != new.severity:
        severities = {"old_severity": old.severity.value, "new_severity": new.severity.value}
        why.append(Phrase.of("severity", **severities))
    if (old.scope.elements, old.scope.subscribers) != (new.scope.elements, new.scope.subscribers):
        grew = (new.scope.subscribers, new.scope.elements) >= (
            old.scope.subscribers,
            old.scope.elements,
        )
        size = {"elements": new.scope.elements, "subscribers": new.scope.subscribers}
        why.append(Phrase.of("scope_grew" if grew else "scope_shrank", **size))
    if old.flapping != new.flapping:
        why.append(Phrase.of("flapping" if new.flapping else "not_flapping"))
    if old.restore_by != new.restore_by and old.severity == new.severity:
        why.append(Phrase.of("restore_moved"))
    if old.confidence != new.confidence:
        why.append(Phrase.of("confidence", confidence=new.confidence))
    if old.quiet != new.quiet:
        why.append(Phrase.of("quiet" if new.quiet else "calling_again"))
    return why
