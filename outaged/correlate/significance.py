"""How improbable a cluster of reports is: the tests a spike must pass.

A mixin of `outaged.correlate.spikes.SpikeDetector` (which owns the windows
and the spikes' lifecycle). Two levels of improbable: the element's own test
(`spike_p_value`) says the cluster is unusual *for this element*; the city-wide
test says it is unusual for the whole city: the expected number of chance
spikes anywhere in 30 days at the learned rates stays below
`false_spikes_per_30d` (a scan-statistic approximation times the number of
places watched). Above a building a cluster must also come from a meaningful
share of the element's children; an authentication (691) cluster from enough
communities calling again and again. And where a spike begins: the first call
of the burst that made it significant, never a background call before it.
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING

from outaged.correlate.baselines import Baselines
from outaged.correlate.windows import ReportClass
from outaged.topology.graph import GraphIndex
from outaged.topology.model import Kind, Thresholds

if TYPE_CHECKING:
    from outaged.correlate.windows import Window

_PERIOD_S = 30 * 86400.0  # the city-wide false-alarm budget is per 30 days
_MIN_SPAN_S = 60.0  # the shortest interval a burst's rate is judged over
_SPREAD_MIN_CHILDREN = 3  # below this many children, spread says nothing
_SPREAD_KINDS = frozenset({Kind.COMMUNITY, Kind.METRO, Kind.CORE, Kind.EGRESS})
_BURST_GAP_FACTOR = 4.0  # a gap this many times the run's median spacing ends it


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


class Significance:
    index: GraphIndex
    th: Thresholds
    baselines: Baselines
    platforms: list[str]

    def _init_significance(self, index: GraphIndex, th: Thresholds, platforms: list[str]) -> None:
        # "Calling from all over" is asked of communities and what is above them.
        self._n_children = {
            e: len(c)
            for e, c in index.dom_children.items()
            if e in index.topology.elements and index.element(e).kind in _SPREAD_KINDS
        }
        communities = [e.id for e in index.topology.elements.values() if e.kind is Kind.COMMUNITY]
        self._community_subs = [index.subtree_subscribers[c] for c in communities]
        # Places watched, for the city-wide test: elements a spike could form at,
        # in the two network classes, and the platform's authentication class.
        watched = sum(
            1
            for e, n in index.subtree_subscribers.items()
            if n >= th.spike_min_reporters and index.element(e).kind is not Kind.PLATFORM
        )
        self._looks = max(1, 2 * watched + len(platforms)) * (_PERIOD_S / th.spike_window_s)

    def _subscribers(self, element: str, cls: ReportClass) -> int:
        if cls is ReportClass.AUTH:
            return self.index.total_subscribers
        return self.index.subtree_subscribers[element]

    def _p_value(self, element: str, cls: ReportClass, window: Window, at: float) -> float | None:
        """The element's own test, or None when the cluster cannot be a spike at all."""
        th = self.th
        reporters = len(window.free)
        if reporters < th.spike_min_reporters:
            return None
        subscribers = self._subscribers(element, cls)
        if cls is ReportClass.AUTH:
            if not self._auth_spread(window, at):
                return None
        else:
            if reporters < th.spike_min_share * subscribers:
                return None
            children = self._n_children.get(element, 0)
            if children >= _SPREAD_MIN_CHILDREN and len(window.children) < max(
                2, math.ceil(th.spike_spread_share * children)
            ):
                return None  # a few callers from one corner do not speak for all of it
        lam = self._rate(element, cls, window, at) * th.spike_window_s
        return poisson_tail(reporters, lam)

    def _rate(self, element: str, cls: ReportClass, window: Window, at: float) -> float:
        subscribers = self._subscribers(element, cls)
        run = None
        counted = len(window.counted)  # its calls that count here, without walking them
        if counted and subscribers >= self.index.total_subscribers:  # see Baselines
            run = (min(c.at for c in window.events if window.counts(c)), counted)
        return self.baselines.rate(element, cls, subscribers, at, run, counted)

    def _auth_spread(self, window: Window, at: float) -> bool:
        """An AAA failure makes people call again and again from many communities:
        the communities with two or more 691 calls must be at least
        `auth_min_communities` and far more than background alone makes
        (a typed password is one call; a city of hundreds of communities has a
        few repeaters every window by chance)."""
        repeated = sum(1 for n in window.communities.values() if n >= 2)
        if repeated < self.th.auth_min_communities:
            return False
        city = self.index.total_subscribers
        per_sub = self._rate(self.platforms[0], ReportClass.AUTH, window, at) / max(1, city)
        per_sub *= self.th.spike_window_s
        expected = 0.0
        for subs in self._community_subs:
            lam = per_sub * subs
            expected += -math.expm1(-lam) - lam * math.exp(-lam)  # P(X >= 2)
        return poisson_tail(repeated, expected) <= self.th.spike_p_value

    def _city_expected(
        self, k: int, element: str, cls: ReportClass, window: Window, at: float
    ) -> float:
        """Expected chance clusters this large, city-wide, per 30 days (Naus's scan
        approximation: looks x (k - lambda) x P(X >= k))."""
        lam = self._rate(element, cls, window, at) * self.th.spike_window_s
        return self._looks * max(1.0, k - lam) * poisson_tail(k, lam)

    def _burst_start(self, window: Window, now: float) -> float:
        """The first call of the run that made the spike: walking back from the newest
        call, a gap much longer than the run's own typical spacing (and than a minute)
        leaves the earlier calls to the background."""
        times = sorted(c.at for c in window.events if window.counts(c))
        if not times:
            return now
        start = len(times) - 1
        gaps: list[float] = []  # kept sorted: the median without sorting them again each step
        while start > 0:
            gap = times[start] - times[start - 1]
            if gaps and gap > max(_MIN_SPAN_S, _BURST_GAP_FACTOR * _median(gaps)):
                break
            bisect.insort(gaps, gap)
            start -= 1
        return times[start]


def _median(ordered: list[float]) -> float:
    """`statistics.median` of a list already sorted (the same arithmetic)."""
    n = len(ordered)
    i = n // 2
    return ordered[i] if n % 2 else (ordered[i - 1] + ordered[i]) / 2
