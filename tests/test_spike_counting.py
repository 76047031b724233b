"""Differential: the spike detector's cheaper per-call path counts exactly as the
one it replaced (outaged/correlate/spikes.py, windows.py, baselines.py).

`OneByOne` is `SpikeDetector` with the per-call path of int 51b5b33 put back
verbatim: the chain rebuilt for every claim and retirement, the window looked
up through `_window` and evicted through `_evict`, `_late` walked for every
call, the window's counters through `_increment`, a learned count's decay
through `_Decayed.value`, a window's rate from the list of its counted calls,
a burst's start with the median of its gaps sorted again at each step. The
same random report streams (calling under faults heavy enough to make spikes,
claims and suspicions, background calls all over the city, 691 calls,
anonymous callers, late calls, with recoveries, a person's false alarm and the
engine's expiry between them) go through both;
after every operation the whole state must be equal, every float bit for bit:
the windows (their calls in order, who counts where), the spikes, suspicions
and what moved, the learned baselines.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from bench.gen_topology import generate
from outaged.correlate.baselines import Baselines, _Decayed
from outaged.correlate.significance import _BURST_GAP_FACTOR, _MIN_SPAN_S
from outaged.correlate.spikes import _RETIRED, Call, ReportClass, Spike, SpikeDetector, Suspicion
from outaged.correlate.windows import Window
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology

T0 = 1_795_000_000.0


def _increment(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


class OneByOneWindow(Window):
    def add(self, call: Call, child: str | None) -> None:
        self.events.append(call)
        self._via.append(child)
        found = self.through.get(child)
        if found is None:
            found = self.through[child] = deque()
        found.append(call)
        if call.owner_depth > self.depth:
            return
        self.counted[id(call)] = child
        _increment(self.free, call.reporter)
        if call.community is not None:
            _increment(self.communities, call.community)
        if child is not None:
            _increment(self.children, child)


def _decayed_add(d: _Decayed, at: float, tau: float, n: float) -> None:
    if at >= d.at:
        d.count = max(0.0, d.value(at, tau) + n)
        d.at = at
    else:
        d.count = max(0.0, d.count + n * math.exp(-(d.at - at) / tau))


class OneByOneBaselines(Baselines):
    def _change(self, call: Call, cls: ReportClass, counted_at: tuple[str, ...], n: float) -> None:
        tau = self.th.baseline_tau_s
        city = self._city.get(cls)
        if city is None:
            city = self._city[cls] = _Decayed(call.at)
        _decayed_add(city, call.at, tau, n)
        hours = self._hour_count.setdefault(cls, [0.0] * 24)
        hour = int(call.at // 3600.0) % 24
        hours[hour] = max(0.0, hours[hour] + n)
        touched = self._touched
        for element in counted_at:
            found = self._own.get((element, cls))
            if found is None:
                found = self._own[(element, cls)] = _Decayed(call.at)
            _decayed_add(found, call.at, tau, n)
            if touched is not None:
                touched.add((element, cls))
        self._changed = True


class OneByOne(SpikeDetector):
    def __init__(self, index: GraphIndex, th: Any) -> None:
        super().__init__(index, th)
        self.baselines = OneByOneBaselines(index.total_subscribers, th)

    def add(self, at: float, element: str, cls: ReportClass, subscriber: str | None) -> bool:
        if subscriber is None:
            self._anonymous += 1
            subscriber = f"\x00anon{self._anonymous}"
        community = self.index.community_of.get(element)
        call = Call(at, subscriber, element, cls, community, self.targets(element, cls))
        if cls is not ReportClass.AUTH and self._late(call):
            return False
        auth = cls is ReportClass.AUTH
        targets = self.targets(element, cls)
        self.baselines.observe(call, cls, targets)
        changed = False
        if not auth:
            unretired = self._unretired
            for target in targets:
                unretired[target] = unretired.get(target, 0) + 1
        below: str | None = element
        for target in targets:
            changed |= self._count(target, cls, call, None if auth else below)
            below = target
        return changed

    def _late(self, call: Call) -> bool:
        for target in self._chain(call.element):
            recovered = self._recovered.get(target)
            if recovered is not None and call.at < recovered + self.th.spike_window_s:
                return True
        return False

    def _window(self, element: str, cls: ReportClass) -> Window:
        key = (element, cls)
        window = self.windows.get(key)
        if window is None:
            self._created += 1
            window = OneByOneWindow(self.index.depth.get(element, 0), self._created)
            self.windows[key] = window
        return window

    def _count(self, element: str, cls: ReportClass, call: Call, child: str | None) -> bool:
        key = (element, cls)
        window = self._window(element, cls)
        self._evict(window, element, cls, call.at)
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

    def _claim(self, call: Call, depth: int) -> None:
        if call.owner_depth >= depth:
            return
        targets = self.targets(call.element, call.cls)
        for target in targets:
            upper = self.windows.get((target, call.cls))
            if upper is not None and upper.depth < depth:
                upper.release(call)
        if call.owner_depth < 0:
            self.baselines.forget(call, call.cls, targets)
        call.owner_depth = depth

    def _retire(self, call: Call) -> None:
        if call.owner_depth == _RETIRED:
            return
        targets = self.targets(call.element, call.cls)
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

    def _rate(self, element: str, cls: ReportClass, window: Window, at: float) -> float:
        subscribers = self._subscribers(element, cls)
        run = None
        counted = [c.at for c in window.events if window.counts(c)]
        if counted and subscribers >= self.index.total_subscribers:  # see Baselines
            run = (min(counted), len(counted))
        return self.baselines.rate(element, cls, subscribers, at, run, len(counted))

    def _burst_start(self, window: Window, now: float) -> float:
        """The first call of the run that made the spike: walking back from the newest
        call, a gap much longer than the run's own typical spacing (and than a minute)
        leaves the earlier calls to the background."""
        times = sorted(c.at for c in window.events if window.counts(c))
        if not times:
            return now
        start = len(times) - 1
        gaps: list[float] = []
        while start > 0:
            gap = times[start] - times[start - 1]
            if gaps and gap > max(_MIN_SPAN_S, _BURST_GAP_FACTOR * statistics.median(gaps)):
                break
            gaps.append(gap)
            start -= 1
        return times[start]


def _call(c: Call) -> tuple[Any, ...]:
    return (c.at.hex(), c.reporter, c.element, c.cls, c.owner_depth, c.targets)


def state(spikes: SpikeDetector) -> tuple[Any, ...]:
    """Everything the detector holds, in order; floats exactly (`float.hex`), a
    call by its fields (not its id: the two detectors have their own)."""
    b = spikes.baselines
    by_id = {id(c): c for w in spikes.windows.values() for c in w.events}
    windows = [
        (
            key,
            w.depth,
            w.seq,
            [_call(c) for c in w.events],
            list(w._via),
            [(child, [_call(c) for c in calls]) for child, calls in w.through.items()],
            list(w.free.items()),
            list(w.children.items()),
            list(w.communities.items()),
            [(_call(by_id[i]), child) for i, child in w.counted.items()],
        )
        for key, w in spikes.windows.items()
    ]
    learned = (
        [(k, d.count.hex(), d.at.hex()) for k, d in b._own.items()],
        [(k, d.count.hex(), d.at.hex()) for k, d in b._city.items()],
        [(k, [x.hex() for x in v]) for k, v in b._hour_count.items()],
        [x.hex() for x in b._hour_time],
        list(b._recent_count.items()),
        [(_call(c), k) for c, k in b._recent],
        [(_call(c), k, t) for c, k, t in b._unsettled],
        sorted(b._touched or ()),
        b._changed,
    )
    return (
        windows,
        list(spikes.active.items()),
        list(spikes.suspected.items()),
        spikes.noticed,
        sorted(spikes.moved),
        list(spikes._unretired.items()),
        list(spikes._spiking.items()),
        list(spikes._recovered.items()),
        (spikes._next_check, spikes._next_sweep, spikes.due, spikes._created, spikes._anonymous),
        learned,
    )


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> GraphIndex:
    outdir = tmp_path_factory.mktemp("city")
    return GraphIndex.build(load_topology(generate(Path(outdir), 1_500, 20_000, seed=11)))


@pytest.mark.parametrize("seed", range(8))
def test_the_cheaper_path_counts_exactly_as_the_one_by_one_path(
    city: GraphIndex, seed: int
) -> None:
    rng = random.Random(seed)
    th = city.topology.thresholds
    fast, slow = SpikeDetector(city, th), OneByOne(city, th)
    elements = city.topology.elements
    subs_at: dict[str, list[str]] = {}
    for subscriber, element in city.topology.subscribers.items():
        subs_at.setdefault(element, []).append(subscriber)
    faults = rng.sample(
        sorted(e for e in elements if elements[e].kind in ("metro", "community")), 3
    )
    under = [e for f in faults for e in city.cut_off(f) if e in subs_at]
    everywhere = sorted(subs_at)
    platform = next(e for e in elements if elements[e].kind == "platform")
    at, peak, claimed = T0, 0, 0
    for step in range(1_200):
        at += rng.expovariate(1 / 0.8)
        roll = rng.random()
        if roll < 0.70:  # calling from under a fault
            element = rng.choice(under)
            caller: str | None = rng.choice(subs_at[element])
            cls = ReportClass.DOWN if rng.random() < 0.8 else ReportClass.DEGRADED
        elif roll < 0.85:  # background, anywhere
            element = rng.choice(everywhere)
            caller = rng.choice(subs_at[element])
            cls = rng.choice((ReportClass.DOWN, ReportClass.DEGRADED))
        elif roll < 0.92:  # 691, or no caller id
            element, caller, cls = rng.choice(everywhere), None, ReportClass.AUTH
            if rng.random() < 0.5:
                element, caller, cls = rng.choice(under), None, ReportClass.DOWN
        elif roll < 0.96:
            now = at + rng.uniform(0, 400)
            assert fast.expire(now) == slow.expire(now), (seed, step)
            continue
        elif roll < 0.99:  # an element comes back
            back = rng.choice(faults + rng.sample(under, 1))
            assert fast.clear_below(back, at) == slow.clear_below(back, at), (seed, step)
            continue
        else:  # a person's false alarm
            area = rng.choice(faults)
            inside = set(city.cut_off(area)).__contains__
            assert fast.forget(at, inside) == slow.forget(at, inside), (seed, step)
            continue
        late = at - rng.uniform(0, 120) if rng.random() < 0.05 else at  # arrives late
        if element == platform:
            cls = ReportClass.AUTH
        assert fast.add(late, element, cls, caller) == slow.add(late, element, cls, caller), (
            seed,
            step,
        )
        peak = max(peak, len(fast.active))
        if step % 50 == 0 or step > 1_150:
            assert state(fast) == state(slow), (seed, step)
            claimed += sum(1 for w in fast.windows.values() for c in w.events if c.owner_depth > 0)
    assert state(fast) == state(slow), seed
    assert peak and claimed, "the calling made spikes, and they claimed calls"
