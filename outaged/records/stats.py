"""Statistics over outages (seed 003 问题总结阶段): counts, mean times, deadlines met. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from outaged.outages.model import iso
from outaged.records.model import Deadline, DeadlineStatus
from outaged.store.base import OutageRow


def _mean(values: Iterable[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return round(sum(found) / len(found), 1) if found else None


def _since(end: float | None, start: float | None) -> float | None:
    return None if end is None or start is None else end - start


def stats(
    rows: list[OutageRow],
    deadlines: dict[int, list[Deadline]],
    since: float,
    until: float,
    now: float,
) -> dict[str, Any]:
    tally: Counter[str] = Counter()
    by_deadline: dict[str, Counter[str]] = {}
    for row in rows:
        for d in deadlines.get(row.outage.id, []):
            status = d.status(now, row.record.state)
            if status is DeadlineStatus.VOID:
                continue
            tally[status.value] += 1
            by_deadline.setdefault(d.name, Counter())[status.value] += 1
    decided = tally["met"] + tally["late"] + tally["missed"]
    statuses = ("met", "late", "missed", "pending")
    return {
        "since": iso(since),
        "until": iso(until),
        "outages": len(rows),
        "by_severity": dict(sorted(Counter(r.outage.severity.value for r in rows).items())),
        "by_cause": dict(sorted(Counter(r.outage.cause or "unknown" for r in rows).items())),
        "by_area": dict(sorted(Counter(r.area for r in rows).items())),
        "by_state": dict(sorted(Counter(r.record.state.value for r in rows).items())),
        "mean_time_to_dispatch_s": _mean(
            _since(r.record.dispatched_at, r.outage.opened_at) for r in rows
        ),
        "mean_time_to_arrive_s": _mean(
            _since(r.record.arrived_at, r.record.dispatched_at) for r in rows
        ),
        "mean_time_to_restore_s": _mean(
            _since(r.record.repair_reported_at, r.outage.occurred_at) for r in rows
        ),
        "deadlines": {
            **{s: tally[s] for s in statuses},
            "share_met": round(tally["met"] / decided, 3) if decided else None,
        },
        "by_deadline": {
            name: {s: counts[s] for s in statuses} for name, counts in sorted(by_deadline.items())
        },
    }
