"""Learned background report rates: the rate that is there, per element and time of day.

A rate is what was counted divided by the time it was counted over (both decayed
with `baseline_tau_s`, so the past fades), with the configured prior standing in
as a pseudo-observation of `baseline_prior_weight_s` seconds: after three hours
of running it believes what three hours showed, not a day's worth of nothing.

Pooling: a building sees a call every few days, far too few to learn alone. Its
rate is the city's learned rate per subscriber times its subscribers, unless its
own count (shrunk towards that by `baseline_element_weight_s` of pseudo-time) is
higher: a noisier element is judged against its own noise, a quieter one never
below the city's.

Time of day: once `baseline_profile_after_s` of history is there, the rate is
scaled by the city's learned profile for the current hour (calls at 20:00 are
not calls at 04:00), as Downdetector compares with the same time on past weeks.

Calls are learned as they arrive (a cold start sees the noise that is there at
once) and unlearned when a spike claims them, so a burst never raises the bar it
is measured against once it is recognised.

A restart keeps what was learned: `export` is the state less the calls of the
re-ingest window (the longest one) that still count as background (whether a
spike claims them is not settled yet), stored with the decision step it belongs
to; `restore` takes it back and the restart re-ingests those calls as the
running daemon saw them (outaged.recovery).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from outaged.topology.model import Thresholds

if TYPE_CHECKING:
    from outaged.correlate.spikes import Call, ReportClass

_HOURS = 24
_PROFILE_WEIGHT_S = 3600.0  # pseudo-time of each hour's profile estimate
_DECAY_STEP_S = 60.0  # fold elapsed time into the accumulators at most this often
_FADED = 0.01  # a learned count below this is as good as none

_Key = tuple[str, "ReportClass"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What `Baselines.export` hands the store: the learned state less the calls
    after `since` still counted (a restart re-ingests every call after `since`).

    `own` holds the element rows that changed since the previous export (None: the
    row is gone), or every row when `whole` (the first export of a process)."""

    start: float
    now: float
    folded: float
    since: float
    hour_time: tuple[float, ...]
    hour_count: dict[str, tuple[float, ...]]  # report class -> per hour
    city: dict[str, tuple[float, float]]  # report class -> (count, at)
    own: dict[tuple[str, str], tuple[float, float] | None]  # (element, class) -> (count, at)
    whole: bool


class _Decayed:
    """A count that fades with time constant tau."""

    __slots__ = ("at", "count")

    def __init__(self, at: float) -> None:
        self.count = 0.0
        self.at = at

    def value(self, now: float, tau: float) -> float:
        if now <= self.at:
            return self.count
        return self.count * math.exp(-(now - self.at) / tau)

    def add(self, at: float, tau: float, n: float = 1.0) -> None:
        last = self.at
        if at > last:  # max(0, value(at) + n), `value` inline: the hot path
            self.count = max(0.0, self.count * math.exp(-(at - last) / tau) + n)
            self.at = at
        elif at == last:
            self.count = max(0.0, self.count + n)
        else:  # a late call: worth less, never a jump in the decay
            self.count = max(0.0, self.count + n * math.exp(-(last - at) / tau))


def _subtract(row: list[float], at: float, tau: float) -> None:
    """[count, at] less one call at `at` (at or before `at` of the row), unclipped."""
    row[0] -= math.exp(-(row[1] - at) / tau)


def _decayed(count: float, at: float) -> _Decayed:
    found = _Decayed(at)
    found.count = count
    return found


class Baselines:
    def __init__(self, total_subscribers: int, th: Thresholds) -> None:
        self.th = th
        self.subscribers = max(1, total_subscribers)
        self.start: float | None = None
        self._now = self._folded = float("-inf")
        self._own: dict[tuple[str, ReportClass], _Decayed] = {}
        self._city: dict[ReportClass, _Decayed] = {}
        self._hour_count: dict[ReportClass, list[float]] = {}
        self._hour_time = [0.0] * _HOURS
        self._recent: deque[tuple[Call, ReportClass]] = deque()
        self._recent_count: dict[ReportClass, int] = {}
        # the calls a restart re-ingests (the longest window: a spike keeps the date
        # of its first call), with the elements each counts at
        self._horizon = max(th.spike_window_s, th.flap_window_s)
        self._unsettled: deque[tuple[Call, ReportClass, tuple[str, ...]]] = deque()
        # element rows changed since the last export (None: none exported yet),
        # rows swept since, and the rows the last export left calls out of
        self._touched: set[_Key] | None = None
        self._gone: set[_Key] = set()
        self._left_out: set[_Key] = set()
        self._exported = float("-inf")
        # what the last export saw: the last signal seq it was given, and whether
        # anything was learned, unlearned or swept since
        self._exported_seq: int | None = None
        self._changed = True

    # ---- time observed -------------------------------------------------

    def advance(self, now: float) -> None:
        """Time passes (watched, whether or not anyone called)."""
        if self.start is None:
            self.start = self._now = self._folded = now
            return
        if now <= self._now:
            return
        self._now = now
        self._slide(now)
        if now - self._folded >= _DECAY_STEP_S:
            self._fold(self._folded, now)
            self._folded = now

    def _fold(self, begin: float, end: float) -> None:
        """Credit the watched time to its hours and fade the hourly accumulators."""
        tau = self.th.baseline_tau_s
        fade = math.exp(-(end - begin) / tau)
        self._hour_time = [t * fade for t in self._hour_time]
        for counts in self._hour_count.values():
            for h in range(_HOURS):
                counts[h] *= fade
        span = end - begin
        days, rest = divmod(span, 86400.0)
        if days:
            for h in range(_HOURS):
                self._hour_time[h] += days * 3600.0
        t = end - rest
        while t < end:  # at most 25 hour boundaries
            hour = int(t // 3600.0) % _HOURS
            step = min(end, (math.floor(t / 3600.0) + 1) * 3600.0) - t
            self._hour_time[hour] += step
            t += step

    def sweep(self, now: float) -> None:
        """Forget elements whose learned count has faded to nothing."""
        tau = self.th.baseline_tau_s
        for key in [k for k, d in self._own.items() if d.value(now, tau) < _FADED]:
            del self._own[key]
            self._changed = True
            if self._touched is not None:
                self._touched.discard(key)
                self._gone.add(key)

    def observed_s(self, now: float) -> float:
        """Watched time, decayed like the counts."""
        if self.start is None or now <= self.start:
            return 0.0
        tau = self.th.baseline_tau_s
        return tau * -math.expm1(-(now - self.start) / tau)

    # ---- calls -----------------------------------------------------------

    def observe(self, call: Call, cls: ReportClass, counted_at: tuple[str, ...]) -> None:
        """A call, and the elements it counts at (its chain, or the platform): it is
        background until a spike claims it (`forget`)."""
        self.advance(call.at)
        self._change(call, cls, counted_at, 1.0)
        self._recent.append((call, cls))
        self._unsettled.append((call, cls, counted_at))
        self._recent_count[cls] = self._recent_count.get(cls, 0) + 1
        self._slide(self._now)

    def forget(self, call: Call, cls: ReportClass, counted_at: tuple[str, ...]) -> None:
        """A spike claimed the call: it was never background."""
        self._change(call, cls, counted_at, -1.0)
        if call.at > self._now - self.th.spike_window_s:
            self._recent_count[cls] = self._recent_count.get(cls, 0) - 1

    def _slide(self, now: float) -> None:
        """Unclaimed calls of the last window, for the whole-city yardstick."""
        horizon = now - self.th.spike_window_s
        recent = self._recent
        while recent and recent[0][0].at <= horizon:
            call, cls = recent.popleft()
            if call.owner_depth < 0:
                self._recent_count[cls] -= 1
        unsettled, horizon = self._unsettled, now - self._horizon
        while unsettled and unsettled[0][0].at <= horizon:
            unsettled.popleft()

    def _change(self, call: Call, cls: ReportClass, counted_at: tuple[str, ...], n: float) -> None:
        tau = self.th.baseline_tau_s
        city = self._city.get(cls)
        if city is None:
            city = self._city[cls] = _Decayed(call.at)
        city.add(call.at, tau, n)
        hours = self._hour_count.setdefault(cls, [0.0] * _HOURS)
        hour = int(call.at // 3600.0) % _HOURS
        hours[hour] = max(0.0, hours[hour] + n)
        touched, own, at = self._touched, self._own, call.at
        for element in counted_at:
            key = (element, cls)
            found = own.get(key)
            if found is None:
                found = own[key] = _Decayed(at)
            found.add(at, tau, n)
            if touched is not None:
                touched.add(key)
        self._changed = True

    # ---- kept across a restart ---------------------------------------------

    def export(self, now: float, seq: int | None = None) -> Snapshot | None:
        """The learned state for the store, at most once per decay step (else None,
        as before anything was watched); the first one of a process is `whole`.

        `seq`: the last signal seq given out. When it is the last export's and
        nothing was learned, unlearned or swept since, there is nothing new to
        write (None: an idle daemon commits no checkpoint a minute): the last one
        stands, and a restart on it re-ingests what it left out and advances its
        clock over the time since, as after a stop (outaged.recovery).

        A call of the last window that still counts may yet be claimed by a spike
        and unlearned; a restart re-ingests it and decides that again, so it is
        left out here: subtracted as `_Decayed.add` of a late call adds it back."""
        if self.start is None or now < self._exported + _DECAY_STEP_S:
            return None
        if seq is not None and seq == self._exported_seq and not self._changed:
            return None
        self._exported, self._exported_seq, self._changed = now, seq, False
        tau = self.th.baseline_tau_s
        since = self._now - self._horizon
        city = {cls: [d.count, d.at] for cls, d in self._city.items()}
        hours = {cls: list(h) for cls, h in self._hour_count.items()}
        own: dict[_Key, list[float]] = {}
        for call, cls, counted_at in self._unsettled:
            if call.at <= since or call.owner_depth >= 0:  # settled: claimed, or out of reach
                continue
            _subtract(city[cls], call.at, tau)
            hours[cls][int(call.at // 3600.0) % _HOURS] -= 1.0
            for element in counted_at:
                key = (element, cls)
                row = own.get(key)
                if row is None:
                    learned = self._own.get(key)
                    if learned is None:  # swept: faded to nothing meanwhile, nothing to take
                        continue
                    row = own[key] = [learned.count, learned.at]
                _subtract(row, call.at, tau)
        rows: dict[tuple[str, str], tuple[float, float] | None]
        if self._touched is None:
            keys: Iterable[_Key] = self._own
            rows = {}
        else:
            keys = self._touched | self._left_out | own.keys()
            rows = {(e, str(c)): None for e, c in self._gone}
        for key in keys:
            found = own.get(key)
            if found is not None:
                rows[(key[0], str(key[1]))] = (found[0], found[1])
            elif (d := self._own.get(key)) is not None:  # else swept: in `_gone`
                rows[(key[0], str(key[1]))] = (d.count, d.at)
        whole = self._touched is None
        self._touched, self._gone, self._left_out = set(), set(), set(own)
        return Snapshot(
            self.start,
            self._now,
            self._folded,
            since,
            tuple(self._hour_time),
            {str(c): tuple(h) for c, h in hours.items()},
            {str(c): (v[0], v[1]) for c, v in city.items()},
            rows,
            whole,
        )

    def restore(self, snapshot: Snapshot, elements: Container[str]) -> int:
        """Take back an export into fresh baselines, less the rows of elements not
        in `elements` (the topology changed); returns how many rows were dropped.
        The calls after `snapshot.since` are to be observed again."""
        from outaged.correlate.spikes import ReportClass

        self.start = snapshot.start
        self._now, self._folded = snapshot.now, snapshot.folded
        self._hour_time = list(snapshot.hour_time)
        self._hour_count = {ReportClass(c): list(h) for c, h in snapshot.hour_count.items()}
        self._city = {ReportClass(c): _decayed(*v) for c, v in snapshot.city.items()}
        dropped = 0
        for (element, cls), row in snapshot.own.items():
            if row is None:
                continue
            if element not in elements:
                dropped += 1
                continue
            self._own[(element, ReportClass(cls))] = _decayed(*row)
        return dropped

    # ---- rates -----------------------------------------------------------

    def prior_per_sub_s(self, cls: ReportClass) -> float:
        prior = self.th.prior_reports_per_sub_hour / 3600.0
        return prior * self.th.auth_prior_share if cls == "auth" else prior

    def city_per_sub_s(self, cls: ReportClass, now: float) -> float:
        """The city's learned background rate per subscriber (calls per second)."""
        w0 = self.th.baseline_prior_weight_s
        counted = self._city.get(cls)
        count = counted.value(now, self.th.baseline_tau_s) if counted is not None else 0.0
        prior = self.prior_per_sub_s(cls) * self.subscribers * w0
        return (count + prior) / (self.observed_s(now) + w0) / self.subscribers

    def rate(
        self,
        element: str,
        cls: ReportClass,
        subscribers: int,
        now: float,
        run: tuple[float, int] | None = None,
        recent: int = 0,
    ) -> float:
        """The background rate (calls per second) a burst at `element` is judged against;
        `recent`: the calls in the element's window, left out of its own history.

        The pooled part is learned from the rest of the city (leave-one-out), so a
        burst never makes its own yardstick, however small the city."""
        th = self.th
        tau, w0, w1 = th.baseline_tau_s, th.baseline_prior_weight_s, th.baseline_element_weight_s
        observed = self.observed_s(now)
        counted = self._own.get((element, cls))
        own_count = counted.value(now, tau) if counted is not None else 0.0
        city = self._city.get(cls)
        city_count = city.value(now, tau) if city is not None else 0.0
        prior = self.prior_per_sub_s(cls)
        rest = self.subscribers - subscribers
        if rest > 0:
            per_sub = (max(0.0, city_count - own_count) + prior * rest * w0) / (observed + w0)
            per_sub /= rest
        else:
            per_sub = self._whole_city(cls, city_count, observed, now, run) / self.subscribers
        pooled = per_sub * subscribers
        if rest <= 0:
            return pooled * self._profile(cls, per_sub, now)
        # Its own history is what came before the calls now being judged.
        own = (max(0.0, own_count - recent) + pooled * w1) / (observed + w1)
        return max(pooled, own) * self._profile(cls, per_sub, now)

    def _whole_city(
        self,
        cls: ReportClass,
        count: float,
        observed: float,
        now: float,
        run: tuple[float, int] | None,
    ) -> float:
        """The yardstick of an element that is the whole city (the platform, the core):
        nothing is left out to pool from, so it is the calls before the window.

        Until a window's worth of history is there (a cold start), a surge must stand
        out from the quiet time before it, when that was at least as long as the
        surge; otherwise from everything seen so far, the surge included, so that a
        start in the middle of heavy background is never an alarm."""
        th = self.th
        w0 = th.baseline_prior_weight_s
        pseudo = self.prior_per_sub_s(cls) * self.subscribers * w0
        history = observed - th.spike_window_s
        if history >= th.spike_window_s:
            before = max(0.0, count - self._recent_count.get(cls, 0))
            return max((before + pseudo) / (history + w0), (count + pseudo) / (observed + w0))
        if run is not None and self.start is not None:
            run_start, run_calls = run
            quiet = run_start - self.start
            if quiet >= now - run_start:
                return (max(0.0, count - run_calls) + pseudo) / (quiet + w0)
        return (count + pseudo) / (observed + w0)

    def _profile(self, cls: ReportClass, per_sub: float, now: float) -> float:
        """How busy this hour of the day is against the day's average (1 until learnt)."""
        if self.start is None or now - self.start < self.th.baseline_profile_after_s:
            return 1.0
        hours = self._hour_count.get(cls)
        if hours is None:
            return 1.0
        hour = int(now // 3600.0) % _HOURS
        average = per_sub * self.subscribers
        if average <= 0.0:
            return 1.0
        at_hour = (hours[hour] + average * _PROFILE_WEIGHT_S) / (
            self._hour_time[hour] + _PROFILE_WEIGHT_S
        )
        return at_hour / average
