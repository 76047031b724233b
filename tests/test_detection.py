"""Detection that stays right as time passes and cities grow (SPEC §2-§3).

Timelines pushed straight into the engine with simulated times:
  * report evidence that ages out is not recovery (a splitter's outage keeps its root);
  * a spike ends when the rate falls back, not when one stray call refreshes it;
  * the 691 rule scales with the city: background 691 calls across hundreds of
    communities open nothing, a real AAA failure opens S1 within 2 min;
  * the learned baseline is the rate that is there after 3 h;
  * chance clusters across thousands of buildings open nothing, and a cluster unusual
    for its building but not for the city is a suspected concentration;
  * `occurred_at` is the start of the anomaly, not a background call before it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from outaged.correlate.spikes import ReportClass
from outaged.outages.engine import Engine
from outaged.outages.model import Decision, Event, Status
from outaged.signals import Category, ProbeResult, Report, Signal
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from outaged.topology.model import Kind, Severity
from tests import smallnet

MIN = 60.0
HOUR = 3600.0
DAY = 86400.0
BACKGROUND_PER_SUB_DAY = 0.05  # 5 % of subscribers call once a day about something


def el(eid: str, kind: str, *parents: str, subs: int = 0, probed: bool = False) -> smallnet.Item:
    item: dict[str, Any] = {"id": eid, "kind": kind}
    if parents:
        item["parents"] = list(parents)
    return item, subs, probed


def net(tmp_path: Path, items: list[smallnet.Item], **th: Any) -> smallnet.Net:
    return smallnet.load(smallnet.write(tmp_path, items, name="t", subnet=33, **th))


class Run:
    """An engine driven on a simulated clock, evaluating every `step` seconds."""

    def __init__(self, index: GraphIndex, step: float = 10.0) -> None:
        self.engine = Engine(index)
        self.index = index
        self.step = step
        self.now = 0.0
        self.decisions: list[Decision] = []
        self.suspicions = 0

    def feed(self, signals: Sequence[Signal], until: float) -> None:
        """Ingest `signals` (any order) and evaluate on the clock up to `until`."""
        pending = sorted(signals, key=lambda s: s.at)
        i = 0
        while self.now < until:
            self.now = min(until, self.now + self.step)
            while i < len(pending) and pending[i].at <= self.now:
                self.engine.ingest(pending[i])
                i += 1
            self.decisions += self.engine.evaluate(self.now)
            self.suspicions += len(self.engine.drain_suspicions())

    def opened(self) -> list[Decision]:
        return [d for d in self.decisions if d.event is Event.OPENED]

    def current(self, outage_id: int) -> Any:
        return self.engine.outages[outage_id]


def calls(
    subs: list[str], index: GraphIndex, start: float, every: float, cat: Category = Category.DOWN
) -> list[Signal]:
    return [
        Report(start + i * every, index.topology.subscribers[s], cat, s) for i, s in enumerate(subs)
    ]


def background(
    index: GraphIndex,
    start: float,
    end: float,
    rng: random.Random,
    *,
    per_sub_day: float = BACKGROUND_PER_SUB_DAY,
    categories: tuple[Category, ...] = (Category.DOWN, Category.SLOW, Category.AUTH),
) -> list[Signal]:
    """Single-customer calls at `per_sub_day`, uniformly spread, mixed categories."""
    subs = list(index.topology.subscribers.items())
    count = int(len(subs) * per_sub_day * (end - start) / DAY)
    out: list[Signal] = []
    for _ in range(count):
        sub, element = subs[rng.randrange(len(subs))]
        out.append(Report(rng.uniform(start, end), element, rng.choice(categories), sub))
    return out


# --------------------------------------------------------------------- 1. ageing


def splitter_town(tmp_path: Path) -> smallnet.Net:
    return net(
        tmp_path,
        [
            el("core", "core"),
            el("m1", "metro", "core", probed=True),
            el("c1", "community", "m1", probed=True),
            el("sp", "splitter", "c1"),
            el("b1", "building", "sp", subs=40, probed=True),
            el("b2", "building", "sp", subs=40),  # reports only
            *(el(f"c1-b{i}", "building", "c1", subs=40, probed=True) for i in range(3, 7)),
        ],
    )


def test_report_evidence_that_ages_out_keeps_the_splitter_root(tmp_path: Path) -> None:
    n = splitter_town(tmp_path)
    run = Run(n.index)
    burst = calls(n.subs("b1", 12), n.index, 10 * MIN, 20.0)
    burst += calls(n.subs("b2", 12), n.index, 10 * MIN + 5, 20.0)
    # b1's probe answers nothing at all during the fault: it is never observed up.
    run.feed(burst, 30 * MIN)
    (opened,) = run.opened()
    assert opened.outage.root == "sp"
    # Customers stop calling; two hours later nothing has been observed up.
    run.feed([], 3 * HOUR)
    outage = run.current(opened.outage.id)
    assert outage.status is Status.OPEN
    assert outage.root == "sp"
    assert outage.quiet  # and it says restoration needs confirming
    assert any("restoration needs" in d.reason for d in run.decisions)
    assert [d for d in run.decisions if d.event is Event.RESTORED] == []
    # The repair report is the positive signal: restored.
    run.engine.confirm_restored(outage.id, run.now)
    run.feed([], run.now + 30)
    assert run.current(outage.id).status is Status.RESTORED


def test_a_building_seen_up_under_the_splitter_moves_the_root_down(tmp_path: Path) -> None:
    n = splitter_town(tmp_path)
    run = Run(n.index)
    down: list[Signal] = [
        ProbeResult(t, "b1", False) for t in (9 * MIN, 10 * MIN, 11 * MIN, 12 * MIN)
    ]
    burst = calls(n.subs("b1", 12), n.index, 10 * MIN, 20.0)
    burst += calls(n.subs("b2", 12), n.index, 10 * MIN + 5, 20.0)
    run.feed(down + burst, 40 * MIN)
    (opened,) = run.opened()
    assert run.current(opened.outage.id).root == "sp"
    # b1 comes back (observed up): sp's cut-off set holds an element that is up.
    up = [ProbeResult(t, "b1", True) for t in (41 * MIN, 42 * MIN, 43 * MIN)]
    run.feed(up, 2 * HOUR)
    outage = run.current(opened.outage.id)
    assert outage.status is Status.OPEN
    assert outage.root == "b2"


# --------------------------------------------------------------------- 2. spike end


def test_one_stray_call_does_not_latch_a_community_copy_of_a_burst(tmp_path: Path) -> None:
    n = splitter_town(tmp_path)
    run = Run(n.index)
    burst = calls(n.subs("c1-b3", 20), n.index, 10 * MIN, 15.0)
    # An unrelated caller from another building every 12 minutes for hours.
    strays: list[Signal] = [
        Report(
            20 * MIN + i * 12 * MIN, f"c1-b{4 + i % 3}", Category.DOWN, f"c1-b{4 + i % 3}-{i:03d}"
        )
        for i in range(12)
    ]
    run.feed(burst + strays, 4 * HOUR)
    (opened,) = run.opened()
    assert opened.outage.root == "c1-b3"
    outage = run.current(opened.outage.id)
    assert outage.root == "c1-b3"
    assert outage.severity is Severity.S4
    assert outage.scope.subscribers == 40
    for d in run.decisions:
        assert d.outage.root == "c1-b3", d.reason
        assert d.outage.severity is Severity.S4, d.reason


def test_a_spike_ends_when_the_rate_falls_back(tmp_path: Path) -> None:
    n = splitter_town(tmp_path)
    run = Run(n.index)
    run.feed(calls(n.subs("c1-b3", 20), n.index, 10 * MIN, 15.0), 20 * MIN)
    key = ("c1-b3", ReportClass.DOWN)
    assert key in run.engine.spikes.active
    # A stray call every 10 minutes afterwards: consistent with the baseline.
    strays: list[Signal] = [
        Report(20 * MIN + i * 10 * MIN, "c1-b3", Category.DOWN, f"c1-b3-{30 + i:03d}")
        for i in range(6)
    ]
    run.feed(strays, 80 * MIN)
    assert key not in run.engine.spikes.active


# ---------------------------------------------------------------------- 3. 691


def aaa_city(tmp_path: Path, communities: int = 300) -> smallnet.Net:
    items = [el("core", "core", probed=True), el("aaa", "platform", "core", probed=True)]
    for m in range(communities // 50):
        items.append(el(f"m{m}", "metro", "core", probed=True))
        for c in range(50):
            cid = f"m{m}-c{c}"
            items.append(el(cid, "community", f"m{m}", probed=True))
            items += [el(f"{cid}-b{b}", "building", cid, subs=40) for b in range(4)]
    return net(tmp_path, items)


def test_background_691_over_hundreds_of_communities_then_a_real_aaa_failure(
    tmp_path: Path,
) -> None:
    n = aaa_city(tmp_path)
    index = n.index
    assert index.total_subscribers == 48_000
    rng = random.Random(691)
    noise = background(index, 0.0, 12 * HOUR, rng, categories=(Category.AUTH,))
    run = Run(index, step=30.0)
    run.feed(noise, 12 * HOUR)
    assert run.opened() == []
    # The AAA platform fails: hundreds of 691 calls from many communities in 10 min.
    start = 12 * HOUR + 60
    subs = rng.sample(sorted(index.topology.subscribers), 600)
    storm = calls(subs, index, start, 1.0, Category.AUTH)
    run.feed(storm + background(index, run.now, 13 * HOUR, rng), start + 10 * MIN)
    (opened,) = run.opened()
    assert opened.outage.root == "aaa"
    assert opened.outage.severity is Severity.S1
    assert opened.at - start <= 2 * MIN
    assert abs(opened.outage.occurred_at - start) <= MIN
    # 691 calls fall back to the background rate: the S1 restores.
    run.feed(background(index, run.now, 14 * HOUR, rng), 14 * HOUR)
    assert run.current(opened.outage.id).status is Status.RESTORED


# ------------------------------------------------------------------ 4. baselines


def test_the_learned_baseline_is_the_rate_that_is_there_after_three_hours(
    tmp_path: Path,
) -> None:
    n = aaa_city(tmp_path, communities=100)
    index = n.index
    run = Run(index, step=60.0)
    true_per_sub_s = BACKGROUND_PER_SUB_DAY / DAY  # 5x the default prior (2e-4/h)
    noise = background(index, 0.0, 3 * HOUR, random.Random(3), categories=(Category.DOWN,))
    run.feed(noise, 3 * HOUR)
    learned = run.engine.spikes.baselines.city_per_sub_s(ReportClass.DOWN, run.now)
    assert 0.7 * true_per_sub_s <= learned <= 1.3 * true_per_sub_s


def test_the_time_of_day_profile_is_learned_after_a_week() -> None:
    from outaged.correlate.baselines import Baselines
    from outaged.correlate.spikes import Call
    from outaged.topology.model import Thresholds

    th = Thresholds()
    base = Baselines(10_000, th)
    rng = random.Random(7)
    t = 0.0
    while t < 9 * DAY:  # busy evenings (18-22 h): 4x the calls of the rest of the day
        hour = (t // HOUR) % 24
        rate = 4.0 if 18 <= hour < 22 else 1.0  # calls per 10 minutes
        for _ in range(int(rate) + (rng.random() < rate % 1)):
            at = t + rng.uniform(0, 600)
            call = Call(at, f"s{rng.randrange(10_000)}", "b", ReportClass.DOWN, None, ("b",))
            base.observe(call, ReportClass.DOWN, call.targets)
        t += 600
        base.advance(t)
    evening = base.rate("b", ReportClass.DOWN, 10_000, 9 * DAY + 20 * HOUR)
    night = base.rate("b", ReportClass.DOWN, 10_000, 9 * DAY + 3 * HOUR)
    assert evening / night == pytest.approx(4.0, rel=0.35)


# ------------------------------------------------- 4. chance clusters, suspected


def big_city(tmp_path: Path) -> GraphIndex:
    from bench.gen_topology import generate

    path = generate(tmp_path / "big", 12_000, 420_000, seed=8)
    return GraphIndex.build(load_topology(path))


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> GraphIndex:
    return big_city(tmp_path_factory.mktemp("big"))


def test_twelve_hours_of_background_on_a_big_city_open_nothing(big: GraphIndex) -> None:
    assert len(big.topology.elements) >= 10_000
    assert big.total_subscribers >= 400_000
    run = Run(big, step=60.0)
    rng = random.Random(12)
    run.feed(background(big, 0.0, 12 * HOUR, rng), 12 * HOUR)
    assert run.opened() == []


def test_a_cluster_unusual_for_its_building_but_not_the_city_is_suspected(
    big: GraphIndex,
) -> None:
    run = Run(big, step=60.0)
    rng = random.Random(13)
    run.feed(background(big, 0.0, 6 * HOUR, rng), 6 * HOUR)
    buildings = sorted(
        e.id
        for e in big.topology.elements.values()
        if e.kind is Kind.BUILDING and 40 <= big.subtree_subscribers[e.id] <= 80
    )
    target = buildings[len(buildings) // 2]
    # Three callers of one building in three minutes: far above its own background
    # (5 %/day, a third of it "down"), but with ~24,000 places watched such a cluster
    # turns up by chance several times a month somewhere in the city.
    subs = sorted(s for s, e in big.topology.subscribers.items() if e == target)[:3]
    cluster = calls(subs, big, run.now + 60, 60.0)
    run.feed(cluster + background(big, run.now, run.now + 30 * MIN, rng), run.now + 30 * MIN)
    assert run.opened() == []
    assert run.suspicions >= 1
    # More calls corroborate it: an outage opens at the building.
    more = sorted(s for s, e in big.topology.subscribers.items() if e == target)[3:16]
    run.feed(calls(more, big, run.now + 10, 10.0), run.now + 10 * MIN)
    (opened,) = run.opened()
    assert opened.outage.root == target


def test_the_same_cluster_opens_an_outage_on_a_small_town(tmp_path: Path) -> None:
    """Few places watched: the city-wide test is no stricter than the element's own."""
    n = splitter_town(tmp_path)
    run = Run(n.index)
    run.feed(calls(n.subs("c1-b3", 4), n.index, 10 * MIN, 60.0), 20 * MIN)
    assert [d.outage.root for d in run.opened()] == ["c1-b3"]


# ------------------------------------------------------------ 5. occurred_at


def test_a_background_call_before_a_burst_does_not_start_the_fault(tmp_path: Path) -> None:
    n = splitter_town(tmp_path)
    run = Run(n.index)
    stray: list[Signal] = [Report(10 * MIN, "c1-b3", Category.DOWN, "c1-b3-039")]  # 7 min early
    burst = calls(n.subs("c1-b3", 12), n.index, 17 * MIN, 20.0)
    run.feed(stray + burst, 30 * MIN)
    (opened,) = run.opened()
    assert opened.outage.occurred_at == 17 * MIN
    assert opened.outage.restore_by == 17 * MIN + 2 * HOUR


def test_a_stray_call_before_a_probe_fault_does_not_move_its_start(tmp_path: Path) -> None:
    n = splitter_town(tmp_path)
    run = Run(n.index)
    stray: list[Signal] = [Report(14 * MIN, "c1-b4", Category.DOWN, "c1-b4-001")]
    probes = [ProbeResult(t * MIN, "c1", t < 20) for t in range(0, 40)]
    burst = calls(n.subs("c1", 30, skip=5), n.index, 21 * MIN, 10.0)
    run.feed(stray + probes + burst, 45 * MIN)
    (opened,) = run.opened()
    assert opened.outage.root == "c1"
    assert opened.outage.occurred_at == 20 * MIN  # the first failed probe of the run
    assert opened.outage.severity is Severity.S1  # c1 is the whole town
    assert opened.outage.restore_by == 20 * MIN + 1 * HOUR
