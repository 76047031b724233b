"""The facts a notification shows about an outage, as plain JSON-able values.

Taken when the notice is queued and stored with it, so a message sent an hour
later (or re-sent after a crash) says what was decided, not what is true now.
"""

from __future__ import annotations

from typing import Any

from outaged.outages.model import Outage
from outaged.records.model import Deadline, Record
from outaged.topology.graph import GraphIndex

MAX_COMMUNITIES = 20


def _name(index: GraphIndex, element_id: str) -> str:
    found = index.topology.elements.get(element_id)
    return found.name or element_id if found is not None else element_id


def summarize(
    outage: Outage, record: Record, deadlines: dict[str, Deadline], index: GraphIndex
) -> dict[str, Any]:
    topology = index.topology
    root = topology.elements.get(outage.root)
    area = topology.areas.get(root.area) if root is not None else None
    assignee = topology.people.get(record.assignee or "")
    path = index.path(outage.root) if root is not None else [outage.root]
    communities = list(outage.scope.communities_touched)
    pending = sorted(
        (d for d in deadlines.values() if d.met_at is None), key=lambda d: (d.due, d.name)
    )
    return {
        "id": outage.id,
        "severity": outage.severity.value,
        "root": outage.root,
        "root_name": _name(index, outage.root),
        "path": [_name(index, e) for e in path],
        "area": area.name if area is not None else "",
        "reason": outage.reason,
        "cause": outage.cause,
        "whole": outage.scope.whole,
        "subscribers": outage.scope.subscribers,
        "communities": [_name(index, c) for c in communities[:MAX_COMMUNITIES]],
        "communities_more": max(0, len(communities) - MAX_COMMUNITIES),
        "occurred_at": outage.occurred_at,
        "restore_by": outage.restore_by,
        "state": record.state.value,
        "assignee": assignee.name if assignee is not None else record.assignee,
        "external_message": record.external_message,
        "deadlines": [{"name": d.name, "due": d.due} for d in pending[:3]],
        "ack": f"outagectl ack {outage.id}",
    }
