"""Severity S1–S4 from a root's kind and scope, and the deadlines it sets (SPEC §3)."""

from __future__ import annotations

from outaged.classify.scope import Scope
from outaged.topology.graph import GraphIndex
from outaged.topology.model import CITY_KINDS, Kind, Severity, Thresholds

HOUR = 3600.0
RESTORE_S = {
    Severity.S1: 1 * HOUR,
    Severity.S2: 4 * HOUR,
    Severity.S3: 2 * HOUR,
    Severity.S4: 2 * HOUR,
}
FIBRE_RESTORE_S = {Severity.S1: 6 * HOUR, Severity.S2: 6 * HOUR, Severity.S3: 6 * HOUR}
ON_SITE_S = {Severity.S1: 0.5 * HOUR, Severity.S2: HOUR, Severity.S3: HOUR, Severity.S4: HOUR}

FIBRE = "fibre"


def severity(
    index: GraphIndex, root: str, scope: Scope, th: Thresholds, *, by_kind: bool = True
) -> Severity:
    """`by_kind=False` for a root that recovered while some of its scope is still out."""
    kind = index.element(root).kind if by_kind else None
    if kind in CITY_KINDS or scope.subscribers >= th.city_share * index.total_subscribers > 0:
        return Severity.S1
    if kind is Kind.METRO or len(scope.communities_hit) >= 2:
        return Severity.S2
    if scope.communities_hit:
        return Severity.S3
    return Severity.S4


def restore_by(
    sev: Severity, occurred_at: float, cause: str | None, contract: bool
) -> float | None:
    """Restore deadline, counted from the fault's first signal; None off contract."""
    if not contract:
        return None
    limit = FIBRE_RESTORE_S.get(sev) if cause == FIBRE else None
    return occurred_at + (limit or RESTORE_S[sev])


def on_site_by(sev: Severity, since: float) -> float:
    return since + ON_SITE_S[sev]
