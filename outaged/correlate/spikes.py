"""Report-spike detection per element against the element's own learned baseline.

Every report counts at its element and at each element dominating it. A burst
at an element is a spike when it has enough distinct reporters, is a meaningful
share of the subscribers below it (and, above a building, comes from a
meaningful share of its children), and is improbable (Poisson tail) under the
element's baseline rate (see `baselines.py`).

Two levels of improbable. The element's own test (`spike_p_value`) says the
cluster is unusual *for this element*. With thousands of elements watched every
minute such clusters happen by chance, so a spike also has to pass the
city-wide test: the expected number of chance spikes anywhere in the city in 30
days at the learned rates stays below `false_spikes_per_30d` (a scan-statistic
approximation times the number of places watched). A cluster that passes only
the first is a *suspected concentration*: the NOC is asked to check, and nothing
opens until something corroborates it.

A spike stays active while the element's recent rate (distinct reporters in the
last window) stays significantly above its baseline (`spike_hold_p_value`) and
ends when it does not: one stray call does not latch it. Calls that belong to a
deeper element's spike are that element's evidence: they never make a spike of
their own above it.

Authentication (691) calls count at the platform element only: the city-wide
691 rate against its learned baseline, spread over at least
`auth_min_communities` communities.

A spike begins at the first call of the burst that made it significant, never
at a background call before it: walking back from the newest call, the run ends
at a gap much longer than its own typical spacing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from outaged.correlate.baselines import Baselines
from outaged.correlate.significance import Significance, poisson_tail
from outaged.correlate.windows import ReportClass, Window, report_class
from outaged.topology.graph import GraphIndex
from outaged.topology.model import Kind, Thresholds

# ReportClass and report_class are where the windows are kept, and read from here too
__all__ = ["Call", "ReportClass", "Spike", "SpikeDetector", "Suspicion", "report_class"]

_RETIRED = 1 << 30  # owner depth of a call no window counts any more


@dataclass(slots=True)
class Call:
    """One report, shared by every window it counts in."""

    at: float
    reporter: str
    element: str
    cls: ReportClass
    community: str | None
    targets: tuple[str, ...]  # the elements it counts at (`SpikeDetector.targets`)
    owner_depth: int = -1  # depth of the deepest spike it belongs to; -1: none


@dataclass(frozen=True, slots=True)
class Spike:
    element: str
    cls: ReportClass
    first_at: float  # first call of the burst that made it significant
    last_at: float  # newest call
    reporters: int
    communities: int


@dataclass(frozen=True, slots=True)
class Suspicion:
    """A cluster unusual for its element but not for the city: the NOC should check."""

    element: str
    cls: ReportClass
    first_at: float
    at: float  # when it was noticed
    reporters: int
    subscribers: int
    p_value: float


class SpikeDetector(Significance):
    def __init__(self, index: GraphIndex, th: Thresholds) -> None:
        self.index = index
        self.th = th
        self.windows: dict[tuple[str, ReportClass], Window] = {}
        self.active: dict[tuple[str, ReportClass], Spike] = {}
        self.moved: set[str] = set()  # elements whose spikes began or ended, drained by the engine
        self.suspected: dict[tuple[str, ReportClass], Suspicion] = {}
        self.noticed: list[Suspicion] = []  # new suspicions, drained by the engine
        # 691 storms point at the first platform element declared (AAA before billing):
        # one fault, one outage, however many platform elements there are.
        platforms = [e.id for e in index.topology.elements.values() if e.kind is Kind.PLATFORM]
        self.platforms = platforms[:1]
        self.baselines = Baselines(index.total_subscribers, th)
        self._anonymous = 0
        self._created = 0  # windows ever created (each one's `seq`)
        self._next_check = float("inf")  # no active spike can change before this
        self._recovered: dict[str, float] = {}  # element -> when it was seen recover
        # element -> network-class calls made at or under it and not retired (those
        # aged out of every window stay counted): none, and `clear_below` has none to retire
        self._unretired: dict[str, int] = {}
        self._spiking: dict[str, int] = {}  # element -> its active spikes (of any class)
        self._next_sweep = float("-inf")
        # `expire` has nothing to do before this: min(_next_check, _next_sweep)
        self.due = float("-inf")
        self._init_significance(index, th, self.platforms)

    def add(self, at: float, element: str, cls: ReportClass, subscriber: str | None) -> bool:
        """Count one report; True when a spike started or ended (evidence changed)."""
        if subscriber is None:
            self._anonymous += 1
            subscriber = f"\x00anon{self._anonymous}"
        community = self.index.community_of.get(element)
        auth = cls is ReportClass.AUTH
        targets = self.targets(element, cls)
        call = Call(at, subscriber, element, cls, community, targets)
        if not auth and self._recovered and self._late(call):
            return False
        self.baselines.observe(call, cls, targets)
        changed = False
        if not auth:
            unretired = self._unretired
            for target in targets:
                unretired[target] = unretired.get(target, 0) + 1
        below: str | None = element  # a call at the element itself: its own corner
        for target in targets:
            changed |= self._count(target, cls, call, None if auth else below)
            below = target
        return changed

    def targets(self, element: str, cls: ReportClass) -> tuple[str, ...]:
        """The elements a report made at `element` is counted at."""
        return tuple(self.platforms) if cls is ReportClass.AUTH else self._chain(element)

    def forget(self, until: float, inside: Callable[[str], bool]) -> bool:
        """Reports up to `until` made inside an area, or counted at an element inside
        it, no longer count: a person ended the outage they made (a false alarm). The
        calls that follow count afresh; a spike left too thin ends. True if any went."""
        gone: list[Call] = []
        for (element, _), window in self.windows.items():
            whole = inside(element)
            gone += [
                c
                for c in window.events
                if c.at <= until and c.owner_depth != _RETIRED and (whole or inside(c.element))
            ]
        for call in gone:
            self._retire(call)
        th = self.th
        for key, spike in list(self.active.items()):
            window = self.windows[key]
            k = len(window.free)
            lam = self._rate(spike.element, spike.cls, window, until) * th.spike_window_s
            if k < th.spike_min_reporters or poisson_tail(k, lam) > th.spike_hold_p_value:
                self._end(spike)
        for key in [k for k, w in self.windows.items() if k in self.suspected and not w.free]:
            del self.suspected[key]
        return bool(gone)

    def _late(self, call: Call) -> bool:
        """A call from under an element seen recover less than a window ago is about
        the fault that just ended (the call centre's queue, callers not yet retrying)."""
        for target in call.targets:  # its chain
            recovered = self._recovered.get(target)
            if recovered is not None and call.at < recovered + self.th.spike_window_s:
                return True
        return False

    def _chain(self, element: str) -> tuple[str, ...]:
        return (element, *self.index.dominators(element))

    def _window(self, element: str, cls: ReportClass) -> Window:
        """A new window (the caller found none)."""
        self._created += 1
        window = Window(self.index.depth.get(element, 0), self._created)
        self.windows[(element, cls)] = window
        return window

    def _count(self, element: str, cls: ReportClass, call: Call, child: str | None) -> bool:
        key = (element, cls)
        window = self.windows.get(key)
        if window is None:
            window = self._window(element, cls)
        window.evict(call.at - self.th.spike_window_s)
        spike = self.active.get(key)
        ended = False
        if spike is not None and len(window.free) < self.th.spike_min_reporters:
            # Its calls aged out before this one: it ended, whether or not `expire`
            # ran since. A burst after a quiet gap is a new spike, the same in the
            # running daemon and in one re-ingesting the stored calls on restart.
            self._end(spike)
            spike, ended = None, True
        window.add(call, child)
        if spike is not None:
            self.active[key] = Spike(
                element,
                cls,
                spike.first_at,
                max(spike.last_at, call.at),
                len(window.free),
                len(window.communities),
            )
            self._claim(call, window.depth)
            return False
        p = self._p_value(element, cls, window, call.at)
        if p is None:
            return ended
        if (
            self._city_expected(len(window.free), element, cls, window, call.at)
            <= (self.th.false_spikes_per_30d)
            and p <= self.th.spike_p_value
        ):
            first = self._burst_start(window, call.at)
            self.active[key] = Spike(
                element, cls, first, call.at, len(window.free), len(window.communities)
            )
            self._spiking[element] = self._spiking.get(element, 0) + 1
            self.moved.add(element)
            self.suspected.pop(key, None)
            for claimed in list(window.events):
                self._claim(claimed, window.depth)
            self._schedule(window)
            return True
        if p <= self.th.spike_p_value and key not in self.suspected:
            first = self._burst_start(window, call.at)
            found = Suspicion(
                element,
                cls,
                first,
                call.at,
                len(window.free),
                self._subscribers(element, cls),
                p,
            )
            self.suspected[key] = found
            self.noticed.append(found)
            self._schedule(window)
        return ended

    def _evict(self, window: Window, element: str, cls: ReportClass, now: float) -> None:
        window.evict(now - self.th.spike_window_s)

    def _claim(self, call: Call, depth: int) -> None:
        """A call in a spike at depth `depth` is that spike's evidence: it stops
        counting in the windows above (where it would only repeat the spike)."""
        if call.owner_depth >= depth:
            return
        targets = call.targets
        for target in targets:
            upper = self.windows.get((target, call.cls))
            if upper is not None and upper.depth < depth:
                upper.release(call)
        if call.owner_depth < 0:
            self.baselines.forget(call, call.cls, targets)
        call.owner_depth = depth

    def _schedule(self, window: Window) -> None:
        if window.events:
            self._next_check = min(self._next_check, window.events[0].at + self.th.spike_window_s)
            self.due = min(self.due, self._next_check)

    def _sweep(self, now: float) -> None:
        """Once a window: drop windows with nothing left in them, and what has faded
        from the baselines, so memory follows the calls of the last window, not every
        element that was ever called about."""
        if now < self._next_sweep:
            return
        horizon = now - self.th.spike_window_s
        self._next_sweep = now + self.th.spike_window_s
        self.due = min(self._next_check, self._next_sweep)
        for key in [
            k for k, w in self.windows.items() if not w.events or w.events[-1].at <= horizon
        ]:
            if key not in self.active and key not in self.suspected:
                del self.windows[key]
        self._recovered = {e: t for e, t in self._recovered.items() if t > horizon}
        self.baselines.sweep(now)

    def expire(self, now: float) -> list[Spike]:
        """End spikes whose recent rate fell back to their baseline; return what ended."""
        self._sweep(now)
        if now < self._next_check:
            return []
        ended = []
        th = self.th
        for key, spike in list(self.active.items()):
            window = self.windows[key]
            self._evict(window, spike.element, spike.cls, now)
            lam = self._rate(spike.element, spike.cls, window, now)
            k = len(window.free)
            if (
                k < th.spike_min_reporters
                or poisson_tail(k, lam * th.spike_window_s) > th.spike_hold_p_value
            ):
                ended.append(spike)
        for spike in ended:
            self._end(spike)
        for key in list(self.suspected):
            window = self.windows[key]
            self._evict(window, key[0], key[1], now)
            if len(window.free) < th.spike_min_reporters:
                del self.suspected[key]
        pending = [self.windows[k] for k in (*self.active, *self.suspected)]
        self._next_check = min(
            (w.events[0].at + th.spike_window_s for w in pending if w.events),
            default=float("inf"),
        )
        self.due = min(self._next_check, self._next_sweep)
        return ended

    def clear_below(self, element: str, at: float) -> list[Spike]:
        """The element recovered: bursts that began before now under it are over,
        and so are the same bursts as counted at the elements above it. Calls made
        under it before it came back described that fault: late ones to arrive, or
        counted at an element below that never spiked, start nothing new."""
        index = self.index
        self._recovered[element] = max(at, self._recovered.get(element, at))
        active = self.active
        # the places at, above or cut off by it, when listing them is cheaper than a
        # scan of every window (else None)
        places: tuple[str, ...] | None = None
        if 2 * (index.subtree_size[element] + len(index.dominators(element))) < len(self.windows):
            places = (*index.dominators(element), *index.cut_off(element))
        if places is None:
            near = [s for s in active.values() if index.in_line(element, s.element)]
        else:  # the order they end in changes nothing
            spiking = self._spiking
            near = [
                active[(p, cls)]
                for p in places
                if p in spiking
                for cls in ReportClass
                if (p, cls) in active
            ]
        ended = [s for s in near if s.first_at <= at]
        for spike in ended:
            self._end(spike)
        if not self._unretired.get(element):
            return ended
        if places is None:
            windows = [
                w
                for (target, cls), w in self.windows.items()
                if cls is not ReportClass.AUTH and index.in_line(element, target)
            ]
        else:
            found = self.windows
            keys = [(p, cls) for p in places for cls in (ReportClass.DOWN, ReportClass.DEGRADED)]
            windows = sorted((found[k] for k in keys if k in found), key=lambda w: w.seq)
        low, high = index.tin[element], index.tout[element]
        tin = index.tin
        depth = index.depth[element]
        path = (element, *index.dominators(element))
        for window in windows:
            if places is not None and window.depth < depth:  # above: only one child leads here
                events: Iterable[Call] = window.through.get(path[depth - window.depth - 1], ())
            else:
                events = window.events
            for call in [
                c
                for c in events
                if c.owner_depth != _RETIRED and c.at <= at and low <= tin[c.element] < high
            ]:  # one retired already (under an element back before) counts nowhere
                self._retire(call)
        return ended

    def _retire(self, call: Call) -> None:
        """The call is explained by a fault that is over: it counts nowhere again."""
        if call.owner_depth == _RETIRED:
            return
        targets = call.targets
        if call.cls is not ReportClass.AUTH:
            unretired = self._unretired
            for target in targets:
                left = unretired[target] - 1
                if left:
                    unretired[target] = left
                else:
                    del unretired[target]
        for target in targets:
            window = self.windows.get((target, call.cls))
            if window is not None:
                window.release(call)
        if call.owner_depth < 0:
            self.baselines.forget(call, call.cls, targets)
        call.owner_depth = _RETIRED

    def _end(self, spike: Spike) -> None:
        key = (spike.element, spike.cls)
        del self.active[key]
        left = self._spiking.pop(spike.element) - 1
        if left:
            self._spiking[spike.element] = left
        self.moved.add(spike.element)
        self.windows[key].clear()  # count afresh; the learned baseline stays

    def drain_noticed(self) -> list[Suspicion]:
        noticed, self.noticed = self.noticed, []
        return noticed

    def next_expiry(self) -> float | None:
        """A time at or before the next spike end (a wake-up then is harmless)."""
        return None if not (self.active or self.suspected) else self._next_check
