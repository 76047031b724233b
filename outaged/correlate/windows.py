"""Reports of one class at one element over the sliding window: what a spike is
judged on. Each call is shared by every window it counts in (see
`outaged.correlate.spikes`); a window knows which of its calls count here (no
deeper spike owns them), by reporter, by community and by the child each came
through.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from outaged.signals import DEGRADED_CATEGORIES, Category

if TYPE_CHECKING:
    from outaged.correlate.spikes import Call


class ReportClass(StrEnum):
    DOWN = "down"
    DEGRADED = "degraded"
    AUTH = "auth"


def report_class(category: Category) -> ReportClass | None:
    """The class a report counts in; None for single-customer categories."""
    if category is Category.DOWN:
        return ReportClass.DOWN
    if category is Category.AUTH:
        return ReportClass.AUTH
    if category in DEGRADED_CATEGORIES:
        return ReportClass.DEGRADED
    return None


@dataclass(slots=True)
class Window:
    """Reports of one class at one element over the sliding window.

    `free` counts the reporters of the calls counted here: those no deeper
    element's spike owns; `children` the dominator-tree child each came through."""

    depth: int
    seq: int = 0  # creation order: the order of `SpikeDetector.windows`
    events: deque[Call] = field(default_factory=deque)
    # the same events by the dominator-tree child each came through (None: its own
    # or an authentication call), in the same order: what is under one child is a lookup
    through: dict[str | None, deque[Call]] = field(default_factory=dict)
    _via: deque[str | None] = field(default_factory=deque)  # each event's child
    free: dict[str, int] = field(default_factory=dict)
    children: dict[str, int] = field(default_factory=dict)
    communities: dict[str, int] = field(default_factory=dict)
    counted: dict[int, str | None] = field(default_factory=dict)  # id(call) -> child

    def add(self, call: Call, child: str | None) -> None:
        self.events.append(call)
        self._via.append(child)
        found = self.through.get(child)
        if found is None:
            found = self.through[child] = deque()
        found.append(call)
        if call.owner_depth > self.depth:  # a deeper spike owns it already
            return
        self.counted[id(call)] = child
        free, community = self.free, call.community  # counted inline: the hot path
        free[call.reporter] = free.get(call.reporter, 0) + 1
        if community is not None:
            communities = self.communities
            communities[community] = communities.get(community, 0) + 1
        if child is not None:
            children = self.children
            children[child] = children.get(child, 0) + 1

    def release(self, call: Call) -> None:
        """The call stops counting here (evicted, or owned by a deeper spike)."""
        key = id(call)
        if key not in self.counted:
            return
        child = self.counted.pop(key)
        _decrement(self.free, call.reporter)
        if call.community is not None:
            _decrement(self.communities, call.community)
        if child is not None:
            _decrement(self.children, child)

    def evict(self, horizon: float) -> None:
        events = self.events
        while events and events[0].at <= horizon:  # the window is (now - w, now]
            child = self._via.popleft()
            same = self.through[child]
            same.popleft()  # the oldest event through that child is this one
            if not same:
                del self.through[child]
            self.release(events.popleft())

    def counts(self, call: Call) -> bool:
        return id(call) in self.counted

    def clear(self) -> None:
        self.events.clear()
        self._via.clear()
        self.through.clear()
        self.free.clear()
        self.children.clear()
        self.communities.clear()
        self.counted.clear()


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
