"""The SQL of queued requests' outcomes (outaged.ha.inbox), for both stores.

A queued request is pending while its inbox row exists, decided once its
outcome row exists (both change in the one commit that decides it), unknown
otherwise. `?` placeholders; the prune's are named per dialect.
"""

from __future__ import annotations

from typing import Any

from outaged.store.base import QueuedOutcome

SELECT = (
    "SELECT o.id, o.kind, o.status, o.body, o.decided_at, NULL FROM ha_outcomes o WHERE o.id = ? "
    "UNION ALL SELECT i.id, i.kind, NULL, NULL, NULL, 1 FROM ha_inbox i WHERE i.id = ?"
)
_PRUNE = (
    "DELETE FROM ha_outcomes WHERE id IN (SELECT id FROM ha_outcomes "
    "WHERE decided_at < {before} ORDER BY decided_at LIMIT {limit})"
)
PRUNE_SQLITE = _PRUNE.format(before=":before", limit=":limit")
PRUNE_POSTGRES = _PRUNE.format(before="%(before)s", limit="%(limit)s")


def found(rows: list[tuple[Any, ...]]) -> QueuedOutcome | bool:
    """What `SELECT` found: the outcome, True (pending) or False (unknown)."""
    for r in rows:
        if r[5] is None:
            return QueuedOutcome(str(r[0]), str(r[1]), int(r[2]), str(r[3]), float(r[4]))
    return bool(rows)
