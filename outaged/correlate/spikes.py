"""Report-spike detection per element against the element's own baseline.

Every report counts at its element and at each element dominating it. A burst
at an element is a spike when it has enough distinct reporters, is a meaningful
share of the subscribers below it, and is improbable (Poisson tail) under the
element's baseline rate: the larger of a learned rate (exponentially decayed
count of reports seen outside spikes) and a prior per subscriber. Spikes latch
until reports stop for `spike_clear_after_s` or the element is seen recover.

Authentication (691) trouble is counted per platform element instead, and is a
spike only when it also spans `auth_min_communities` communities with at least
`auth_min_per_community` calls each: single mistyped passwords never add up.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from outaged.signals import DEGRADED_CATEGORIES, Category
from outaged.topology.graph import GraphIndex
from outaged.topology.model import Kind, Thresholds


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
    """Reports of one class at one element over the sliding window."""

    # (at, reporter, community, the element the report was made at)
    events: deque[tuple[float, str, str | None, str]] = field(default_factory=deque)
    reporters: dict[str, int] = field(default_factory=dict)
    communities: dict[str, int] = field(default_factory=dict)
    learned: float = 0.0  # decayed count of reports seen outside spikes
    learned_at: float = 0.0

    def add(self, at: float, reporter: str, community: str | None, origin: str) -> None:
        self.events.append((at, reporter, community, origin))
        self.reporters[reporter] = self.reporters.get(reporter, 0) + 1
        if community is not None:
            self.communities[community] = self.communities.get(community, 0) + 1

    def drop(self, gone: Callable[[tuple[float, str, str | None, str]], bool]) -> int:
        """Drop the reports `gone` picks (not learned: dropped, not aged out), in place;
        returns how many went."""
        events = self.events
        dropped = 0
        for _ in range(len(events)):
            event = events.popleft()
            if gone(event):
                dropped += 1
                _decrement(self.reporters, event[1])
                if event[2] is not None:
                    _decrement(self.communities, event[2])
            else:
                events.append(event)
        return dropped

    def evict(self, horizon: float, tau: float, *, learn: bool) -> None:
        """Drop reports older than the window; they become part of the baseline
        (only then, so a burst never raises the bar it is measured against)."""
        events = self.events
        while events and events[0][0] < horizon:
            at, reporter, community, _ = events.popleft()
            _decrement(self.reporters, reporter)
            if community is not None:
                _decrement(self.communities, community)
            if learn and at >= self.learned_at:  # late reports must not blow up the decay
                self.learned = self.learned * math.exp(-(at - self.learned_at) / tau) + 1.0
                self.learned_at = at


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


@dataclass(frozen=True, slots=True)
class Spike:
    element: str
    cls: ReportClass
    first_at: float  # oldest report of the burst
    last_at: float  # newest report: the spike clears after quiet from here
    reporters: int
    communities: int


def poisson_tail(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam); the series converges fast when k > lam."""
    if k <= 0:
        return 1.0
    if lam <= 0.0:
        return 0.0
    if k <= lam:
        return 1.0  # not above the expectation (the true tail is about 1/2 or more)
    # Regularised lower incomplete gamma P(k, lam) by its power series.
    log_lead = k * math.log(lam) - lam - math.lgamma(k + 1)
    term, total, n = 1.0, 1.0, 1
    while term > 1e-12 * total and n < 10_000:
        term *= lam / (k + n)
        total += term
        n += 1
    return min(1.0, math.exp(log_lead) * total)


class SpikeDetector:
    def __init__(self, index: GraphIndex, th: Thresholds) -> None:
        self.index = index
        self.th = th
        self.windows: dict[tuple[str, ReportClass], Window] = {}
        self.active: dict[tuple[str, ReportClass], Spike] = {}
        # 691 storms point at the first platform element declared (AAA before billing):
        # one fault, one outage, however many platform elements there are.
        platforms = [e.id for e in index.topology.elements.values() if e.kind is Kind.PLATFORM]
        self.platforms = platforms[:1]
        self._anonymous = 0
        self._next_check = float("inf")  # no active spike can end before this
        prior_per_s = th.prior_reports_per_sub_hour / 3600.0
        self._prior_per_s = {
            ReportClass.DOWN: prior_per_s,
            ReportClass.DEGRADED: prior_per_s,
            ReportClass.AUTH: prior_per_s * th.auth_prior_share,
        }

    def add(self, at: float, element: str, cls: ReportClass, subscriber: str | None) -> bool:
        """Count one report; True when a spike started or grew its evidence."""
        if subscriber is None:
            self._anonymous += 1
            subscriber = f"\x00anon{self._anonymous}"
        community = self.index.community_of.get(element)
        changed = False
        for target in self.targets(element, cls):
            changed |= self._count(target, cls, at, subscriber, community, element)
        return changed

    def targets(self, element: str, cls: ReportClass) -> list[str]:
        """The elements a report made at `element` is counted at."""
        return self.platforms if cls is ReportClass.AUTH else self._chain(element)

    def _chain(self, element: str) -> list[str]:
        return [element, *self.index.dominators(element)]

    def _count(
        self,
        element: str,
        cls: ReportClass,
        at: float,
        reporter: str,
        community: str | None,
        origin: str,
    ) -> bool:
        key = (element, cls)
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = Window(learned_at=at)
        window.evict(
            at - self.th.spike_window_s, self.th.baseline_tau_s, learn=key not in self.active
        )
        window.add(at, reporter, community, origin)
        spike = self.active.get(key)
        if spike is not None:
            self.active[key] = Spike(
                element, cls, spike.first_at, at, len(window.reporters), len(window.communities)
            )
            return False
        if self._is_spike(element, cls, window, at):
            first = window.events[0][0]
            self._next_check = min(self._next_check, at + self.th.spike_clear_after_s)
            self.active[key] = Spike(
                element, cls, first, at, len(window.reporters), len(window.communities)
            )
            return True
        return False

    def _is_spike(self, element: str, cls: ReportClass, window: Window, at: float) -> bool:
        th = self.th
        reporters = len(window.reporters)
        if reporters < th.spike_min_reporters:
            return False
        if cls is ReportClass.AUTH:
            per = th.auth_min_per_community
            if sum(n >= per for n in window.communities.values()) < th.auth_min_communities:
                return False
            subscribers = self.index.total_subscribers
        else:
            subscribers = self.index.subtree_subscribers[element]
            if reporters < th.spike_min_share * subscribers:
                return False
        decay = math.exp(-max(0.0, at - window.learned_at) / th.baseline_tau_s)
        learned_per_s = window.learned * decay / th.baseline_tau_s
        rate = max(learned_per_s, self._prior_per_s[cls] * subscribers)
        return poisson_tail(reporters, rate * th.spike_window_s) <= th.spike_p_value

    def expire(self, now: float) -> list[Spike]:
        """Drop spikes quiet for long enough; return what ended."""
        if now < self._next_check:
            return []
        quiet = self.th.spike_clear_after_s
        ended = [s for s in self.active.values() if s.last_at <= now - quiet]
        for spike in ended:
            self._end(spike)
        self._next_check = min(
            (s.last_at + quiet for s in self.active.values()), default=float("inf")
        )
        return ended

    def clear_below(self, element: str, at: float) -> list[Spike]:
        """The element recovered: bursts that began before now under it are over,
        and so are the same bursts as counted at the elements above it."""
        chain = set(self.index.dominators(element))
        ended = [
            s
            for s in self.active.values()
            if s.first_at <= at and (s.element in chain or self.index.dominates(element, s.element))
        ]
        for spike in ended:
            self._end(spike)
        return ended

    def forget(self, until: float, inside: Callable[[str], bool]) -> bool:
        """Reports up to `until` made inside an area, or counted at an element inside
        it, no longer count: a person ended the outage they made (a false alarm). The
        calls that follow count afresh; a spike left too thin ends. True if any went."""
        changed = False
        for key, window in self.windows.items():
            element, cls = key
            whole = inside(element)  # counted at an element inside: all of its reports

            def gone(e: tuple[float, str, str | None, str], whole: bool = whole) -> bool:
                return e[0] <= until and (whole or inside(e[3]))

            if not window.drop(gone):
                continue
            changed = True
            spike = self.active.get(key)
            if spike is None:
                continue
            events = window.events
            if events and self._is_spike(element, cls, window, spike.last_at):
                self.active[key] = replace(
                    spike,
                    first_at=events[0][0],
                    reporters=len(window.reporters),
                    communities=len(window.communities),
                )
            else:
                del self.active[key]
        return changed

    def _end(self, spike: Spike) -> None:
        key = (spike.element, spike.cls)
        del self.active[key]
        window = self.windows[key]  # count afresh; the learned baseline stays
        window.events.clear()
        window.reporters.clear()
        window.communities.clear()

    def next_expiry(self) -> float | None:
        """A time at or before the next spike end (a wake-up then is harmless)."""
        return None if not self.active else self._next_check
