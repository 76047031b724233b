"""The call centre's side of the ledger: is this caller inside an open outage,
and counting the call on it instead of ticketing it.

`inside` asks the engine's index of open outages (`Engine.may_cover`) and the few
active records set aside from them (`Books._aside`), never every record.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from outaged.classify.scope import covers
from outaged.records.books import Books
from outaged.records.model import DAEMON
from outaged.signals import Report

CALLS_LISTED = 20  # subscribers and elements named in one "calls" timeline entry


class Calls(Books):
    def inside(self, element: str) -> int | None:
        """The open outage (most severe, then oldest) whose scope holds the element.

        Lookups, not a scan: the engine's open outages that may hold it, and the few
        active records set aside from the engine's open ones."""
        found: list[tuple[int, int]] = []
        for oid in self.engine.may_cover(element) | self._aside:
            record = self.records.get(oid)
            outage = self.engine.outages.get(oid)
            if (
                record is not None
                and record.active
                and outage is not None
                and covers(self.index, outage.scope, element)
            ):
                found.append((outage.severity.rank, oid))
        return min(found)[1] if found else None

    def count_call(self, report: Report, actor: str | None, now: float) -> int | None:
        """A customer call from inside an open outage is counted on it, not ticketed:
        the outage it joined, or None. (The engine still weighs it as a report.)"""
        oid = self.inside(report.element)
        if oid is None:
            return None
        record = self.records[oid]
        self.records[oid] = record = dataclasses.replace(record, calls=record.calls + 1)
        self._changes.records[oid] = record
        self._calls.setdefault((oid, actor or DAEMON), []).append(report)
        return oid

    def _flush_calls(self) -> None:
        """One timeline entry per outage and caller system per step: a storm of calls
        is counted in full without a timeline entry per call."""
        for (oid, actor), reports in self._calls.items():
            subscribers = [r.subscriber for r in reports if r.subscriber is not None]
            payload: dict[str, Any] = {
                "count": len(reports),
                "total": self.records[oid].calls,
                "subscribers": subscribers[:CALLS_LISTED],
                "elements": sorted({r.element for r in reports})[:CALLS_LISTED],
                "categories": sorted({r.category.value for r in reports}),
            }
            self._entry(oid, max(r.at for r in reports), actor, "calls", payload)
            # the row is written as the engine holds it after this step's evaluation
            self._changes.outages[oid] = self.engine.outages[oid]
        self._calls = {}
