"""When each open outage next needs the clock: a heap over the outages' next times.

Only a cache of the stored deadline rows (outaged.dispatch.escalation.next_of
computes each time from them), rebuilt from the rows after a restart. Stale
entries are skipped as they surface and swept out when they outnumber the
live ones, so memory follows the open outages, not the ones ever seen.
"""

from __future__ import annotations

import heapq


class Wakeups:
    def __init__(self) -> None:
        self._at: dict[int, float] = {}
        self._heap: list[tuple[float, int]] = []

    def __len__(self) -> int:
        return len(self._at)

    def put(self, outage: int, at: float | None) -> None:
        """Set (or with None clear) when `outage` next needs the clock."""
        if at is None:
            self._at.pop(outage, None)
            return
        if self._at.get(outage) == at:
            return
        self._at[outage] = at
        heapq.heappush(self._heap, (at, outage))
        if len(self._heap) > 2 * len(self._at) + 64:
            self._heap = [(t, o) for o, t in self._at.items()]
            heapq.heapify(self._heap)

    def when(self, outage: int) -> float | None:
        return self._at.get(outage)

    def next(self) -> float | None:
        self._skip_stale()
        return self._heap[0][0] if self._heap else None

    def due(self, now: float) -> list[int]:
        """The outages whose time has come, taken off (put them back when handled)."""
        found: list[int] = []
        while True:
            self._skip_stale()
            if not self._heap or self._heap[0][0] > now:
                return found
            _, outage = heapq.heappop(self._heap)
            del self._at[outage]
            found.append(outage)

    def _skip_stale(self) -> None:
        heap = self._heap
        while heap and self._at.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
