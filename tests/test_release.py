"""A cancelled or closed outage stops absorbing faults (issue 7 §1), through `outaged replay`.

After `cancel` (a false alarm) or `close`, the engine no longer follows the outage:
what arrives afterwards is judged afresh and opens a new outage that links the old
record. The evidence present at the moment of the cancel is set aside, so the same
false alarm does not reopen at the next evaluation: reports count afresh from the
cancel, and an element seen down then stays aside until it is seen up again
(docs/replay.md, "Cancel and close"). Expected outcomes are read from that text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from outaged.cli.api_json import TimelineEntry
from outaged.cli.timeline_view import event_detail, event_label
from outaged.outages.engine import Engine
from outaged.outages.lifecycle import Action, State
from outaged.records.actions import ActionRequest
from outaged.records.ledger import Ledger
from outaged.records.model import Entry
from outaged.signals import Category, ProbeResult, Report
from tests import smallnet
from tests.citygen import write_city
from tests.smallnet import Net
from tests.timeline import Timeline, at, opened, run

Decision = dict[str, Any]

# One fault per level: the element that fails, with everything it cuts off.
LEVELS = {"S4": "m1-c2-b3", "S3": "m1-c2", "S1": "core-1"}
# What fails next when the fault grows through the old root's area.
GROWS_TO = {"S4": ("m1-c2", "S3"), "S3": ("m1", "S2"), "S1": ("egress-1", "S1")}
WALK = ("ack", "arrive", "diagnose", "restore", "verify", "callback_done", "close")


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Net:
    return smallnet.load(write_city(tmp_path_factory.mktemp("city")))


def replay(tmp_path: Path, net: Net, tl: Timeline, *extra: str) -> list[Decision]:
    decisions, err, code = run(net.path, tl.write(tmp_path / "signals.jsonl"), *extra)
    assert code == 0 and err == "", err
    return decisions


def minutes(iso: str) -> float:
    return (datetime.fromisoformat(iso) - datetime.fromisoformat(at(0))).total_seconds() / 60


def show(decisions: Iterable[Decision]) -> str:
    keys = ("event", "outage", "root", "severity", "status", "follows", "reason", "state")
    return "\n".join(
        f"{minutes(d['at']):7.2f} " + " ".join(f"{k}={d.get(k)}" for k in keys) for d in decisions
    )


def failing(*spans: tuple[set[str], float, float]) -> Callable[[str, float], bool]:
    return lambda e, t: any(e in s and a <= t < b for s, a, b in spans)


def about(decisions: list[Decision], outage: int, after: float = 0.0) -> list[Decision]:
    """Engine decisions about one outage from minute `after` on (actions left out)."""
    return [
        d
        for d in decisions
        if d.get("outage") == outage and d["event"] != "action" and minutes(d["at"]) >= after
    ]


def walk_to_closed(tl: Timeline, start: float, outage: str = "@1") -> None:
    for i, action in enumerate(WALK):
        extra = {"cause": "power"} if action == "diagnose" else {}
        tl.add(start + i, kind="action", outage=outage, action=action, actor="ops", **extra)


def assert_left_alone(decisions: list[Decision], outage: int, since: float) -> None:
    """After it ended, an outage keeps its root and level and is never open again."""
    first = next(
        d for d in decisions if d.get("outage") == outage and d["event"] == "outage_opened"
    )
    later = about(decisions, outage, since)
    assert all(d["root"] == first["root"] for d in later), show(later)
    assert all(d["severity"] == first["severity"] for d in later), show(later)
    assert all(d["status"] != "open" for d in later), show(later)
    assert not any("relapse" in d["reason"] for d in later), show(later)


# ---------------------------------------------------------------- probe-confirmed faults


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_cancelled_fault_still_down_reopens_nothing_until_it_comes_back(tmp_path, city, level):
    root = LEVELS[level]
    down = city.below(root)
    tl = Timeline()
    tl.probes(city.probed(), 0, 70, failing=failing((down, 5, 40), (down, 50, 99)))
    tl.add(12, kind="action", outage="@1", action="cancel", reason="probe path broken")
    decisions = replay(tmp_path, city, tl)
    first, *again = opened(decisions)
    assert (first["root"], first["severity"]) == (root, level), show(decisions)
    assert not [o for o in again if minutes(o["at"]) < 50], show(decisions)
    # Still down after the cancel: set aside. Seen up, then down again: a new fault.
    (new,) = again
    assert (new["root"], new["severity"], new["follows"]) == (root, level, [1]), show(decisions)
    assert_left_alone(decisions, 1, 12)
    (released,) = [d for d in decisions if d["event"] == "outage_released"]
    assert released["outage"] == 1 and minutes(released["at"]) == 12
    assert root in released["set_aside"]
    ended = [d for d in about(decisions, 1, 12) if d["event"] == "outage_restored"]
    assert len(ended) == 1 and 40 <= minutes(ended[0]["at"]) < 50, show(decisions)


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_fault_growing_through_a_cancelled_root_opens_a_new_outage(tmp_path, city, level):
    root = LEVELS[level]
    bigger, bigger_level = GROWS_TO[level]
    tl = Timeline()
    fail = failing((city.below(root), 5, 99), (city.below(bigger), 30, 99))
    tl.probes(city.probed(), 0, 50, failing=fail)
    tl.add(12, kind="action", outage="@1", action="cancel", reason="known decommissioned node")
    decisions = replay(tmp_path, city, tl)
    first, *again = opened(decisions)
    assert (first["root"], first["severity"]) == (root, level), show(decisions)
    (new,) = again
    assert (new["root"], new["severity"]) == (bigger, bigger_level), show(decisions)
    assert minutes(new["at"]) >= 30 and new["follows"] == [1]
    assert_left_alone(decisions, 1, 12)


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_fault_back_after_close_is_a_new_outage_not_a_relapse(tmp_path, city, level):
    root = LEVELS[level]
    down = city.below(root)
    tl = Timeline()
    tl.probes(city.probed(), 0, 45, failing=failing((down, 5, 15), (down, 27, 99)))
    walk_to_closed(tl, 13)
    decisions = replay(tmp_path, city, tl)
    assert [d["state"] for d in decisions if d["event"] == "action"][-1] == "closed"
    first, *again = opened(decisions)
    assert (first["root"], first["severity"]) == (root, level), show(decisions)
    (new,) = again
    assert (new["root"], new["severity"], new["follows"]) == (root, level, [1]), show(decisions)
    assert minutes(new["at"]) >= 27
    assert_left_alone(decisions, 1, 19)


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_fault_growing_through_a_closed_root_opens_a_new_outage(tmp_path, city, level):
    root = LEVELS[level]
    bigger, bigger_level = GROWS_TO[level]
    tl = Timeline()
    fail = failing((city.below(root), 5, 15), (city.below(bigger), 25, 99))
    tl.probes(city.probed(), 0, 40, failing=fail)
    walk_to_closed(tl, 13)
    decisions = replay(tmp_path, city, tl)
    first, *again = opened(decisions)
    assert (first["root"], first["severity"]) == (root, level), show(decisions)
    (new,) = again
    assert (new["root"], new["severity"], new["follows"]) == (bigger, bigger_level, [1])
    assert_left_alone(decisions, 1, 19)


def test_new_failure_elsewhere_in_a_cancelled_community_counts_in_full(tmp_path, city):
    tl = Timeline()
    fail = failing(({"m1-c2-b3", "m1-c2-b3-a1"}, 5, 99), ({"m1-c2-b1"}, 25, 99))
    tl.probes(city.probed(), 0, 40, failing=fail)
    tl.add(12, kind="action", outage="@1", action="cancel", reason="false alarm")
    decisions = replay(tmp_path, city, tl)
    first, *again = opened(decisions)
    assert first["root"] == "m1-c2-b3"
    (new,) = again  # b1 alone, not b1 + the set-aside b3 as a community
    assert (new["root"], new["severity"]) == ("m1-c2-b1", "S4"), show(decisions)
    assert new["follows"] == []  # a sibling: not inside the cancelled root's area


# ------------------------------------------------------------------------ report bursts


def test_cancelled_burst_counts_calls_afresh_from_the_cancel(tmp_path, city):
    building = "m1-c2-b4"  # no probe: reports only
    tl = Timeline()
    tl.reports(city.subs(building, 20), 10, 4, code=678)
    tl.add(16, kind="action", outage="@1", action="cancel", reason="call-centre test batch")
    tl.reports(city.subs(building, 2, skip=20), 20, 1, code=678)  # two new calls: not a spike
    tl.reports(city.subs(building, 10, skip=22), 30, 2, code=678)
    decisions = replay(tmp_path, city, tl)
    first, *again = opened(decisions)
    assert (first["root"], first["severity"]) == (building, "S4")
    (new,) = again
    assert minutes(new["at"]) >= 30, show(decisions)
    assert (new["root"], new["severity"], new["follows"]) == (building, "S4", [1])
    assert minutes(new["occurred_at"]) >= 20  # the first call after the cancel
    assert_left_alone(decisions, 1, 16)


def test_burst_at_a_sibling_after_cancel_does_not_reroot_the_cancelled(tmp_path, city):
    tl = Timeline()
    tl.reports(city.subs("m1-c2-b4", 20), 10, 4, code=678)
    tl.add(16, kind="action", outage="@1", action="cancel", reason="duplicate import")
    tl.reports(city.subs("m1-c2-b3", 20), 20, 4, code=678)
    decisions = replay(tmp_path, city, tl)
    first, *again = opened(decisions)
    assert first["root"] == "m1-c2-b4"
    (new,) = again
    assert (new["root"], new["severity"]) == ("m1-c2-b3", "S4"), show(decisions)
    assert_left_alone(decisions, 1, 16)
    assert {d["outage"] for d in decisions if d["event"] == "outage_merged"} == set()


def test_calls_across_the_city_after_a_core_cancel_open_outages(tmp_path, city):
    tl = Timeline()
    tl.probes(city.probed(), 0, 60, failing=failing((city.below("core-1"), 5, 99)))
    tl.add(12, kind="action", outage="@1", action="cancel", reason="monitoring host isolated")
    buildings = sorted(e for e in city.below("m1") | city.below("m2") if city.kind(e) == "building")
    for i, building in enumerate(buildings):
        tl.reports(city.subs(building, 10), 20 + i * 0.2, 5, code=678)
    decisions = replay(tmp_path, city, tl)
    first, *again = opened(decisions)
    assert first["root"] == "core-1"
    assert again, show(decisions)
    assert all(minutes(o["at"]) >= 20 and o["follows"] == [1] for o in again), show(again)
    assert_left_alone(decisions, 1, 12)


def test_report_outage_closed_while_calls_still_latch_does_not_reopen(tmp_path, city):
    building = "m2-c3-b4"
    tl = Timeline()
    tl.reports(city.subs(building, 20), 5, 4, code=678)
    walk_to_closed(tl, 10)  # closed at 16, the spike still latched until quiet for 30 min
    tl.reports(city.subs(building, 10, skip=20), 45, 2, code=678)
    decisions = replay(tmp_path, city, tl, "--until", at(100))
    first, *again = opened(decisions)
    assert first["root"] == building
    (new,) = again
    assert minutes(new["at"]) >= 45 and new["follows"] == [1], show(decisions)
    assert_left_alone(decisions, 1, 16)


def test_cancelled_auth_storm_counts_691_calls_afresh(tmp_path, city):
    communities = [f"m{m}-c{c}" for m in (1, 2, 3) for c in (1, 2)]
    tl = Timeline()
    tl.probes(city.probed(), 0, 30)  # watched from minute 0: the city's 691 rate is known
    for i, community in enumerate(communities):
        tl.reports(city.subs(community, 4), 5 + i * 0.1, 3, code=691)
    tl.add(10, kind="action", outage="@1", action="cancel", reason="billing test")
    tl.reports(city.subs("m1-c3", 1), 12, 1, code=691)  # one more call: nothing
    for i, community in enumerate(communities):
        tl.reports(city.subs(community, 4, skip=10), 20 + i * 0.1, 3, code=691)
    decisions = replay(tmp_path, city, tl)
    first, *again = opened(decisions)
    assert (first["root"], first["severity"]) == ("aaa-1", "S1")
    (new,) = again
    assert minutes(new["at"]) >= 20 and new["follows"] == [1], show(decisions)
    assert new["root"] == "aaa-1"


# ------------------------------------------------------------------------- manual faults


def test_cancelled_manual_fault_stays_aside_until_a_person_reports_again(tmp_path, city):
    tl = Timeline()
    tl.add(5, kind="manual", element="m2-c3", note="机房断电", actor="zhao.lei")
    tl.add(10, kind="action", outage="@1", action="cancel", reason="wrong community")
    tl.add(20, kind="manual", element="m2-c3", note="机房确实断电", actor="li.na")
    decisions = replay(tmp_path, city, tl, "--until", at(30))
    first, *again = opened(decisions)
    assert (first["root"], first["severity"]) == ("m2-c3", "S3")
    (new,) = again
    assert minutes(new["at"]) == 20 and new["follows"] == [1], show(decisions)
    assert_left_alone(decisions, 1, 10)


# ------------------------------------------------------------- timelines (engine + ledger)

T0 = 1_795_000_000.0


def calls(net: Net, element: str, n: int, start: float, skip: int = 0) -> list[Report]:
    subs = net.subs(element, n, skip)
    return [
        Report(start + i * 10.0, net.index.topology.subscribers[s], Category.DOWN, s)
        for i, s in enumerate(subs)
    ]


def step(ledger: Ledger, signals: Iterable[object], now: float) -> list[Entry]:
    for signal in signals:
        ledger.engine.ingest(signal)  # type: ignore[arg-type]
    ledger.decide(now)
    return ledger.drain().entries


def rendered(entry: Entry, lang: str) -> str:
    view = TimelineEntry(entry.seq, datetime.now(), entry.actor, entry.kind, entry.payload)
    return f"{event_label(entry.kind, lang)}: {event_detail(view, lang)}"  # type: ignore[arg-type]


def test_new_outage_timeline_links_the_cancelled_record_in_both_languages(city):
    ledger = Ledger(Engine(city.index))
    step(ledger, calls(city, "m1-c2-b4", 10, T0), T0 + 100)
    assert ledger.records[1].state is State.DISPATCHED
    cancel = ActionRequest(Action.CANCEL, {"reason": "呼叫中心测试数据"})
    ledger.act(1, cancel, "zhao.lei", T0 + 120)
    ended = ledger.drain().entries
    assert [e.kind for e in ended] == ["cancel", "outage_released"]
    assert ended[1].payload["status"] == "restored"  # its calls are set aside: no fault seen
    assert step(ledger, [], T0 + 130) == []  # the same calls do not reopen it
    entries = step(ledger, calls(city, "m1-c2-b4", 10, T0 + 200, skip=10), T0 + 400)
    follows = [e for e in entries if e.kind == "follows"]
    back = [e for e in entries if e.kind == "followed_by"]
    assert [(e.outage, e.payload) for e in follows] == [
        (2, {"outage": 1, "state": "cancelled", "reason": "呼叫中心测试数据"})
    ]
    assert [(e.outage, e.payload) for e in back] == [(1, {"outage": 2})]
    assert rendered(follows[0], "zh-CN") == (
        "承接此前故障单: 此前故障单 1 已作为误报取消：呼叫中心测试数据"
    )
    assert rendered(follows[0], "en") == (
        "follows an earlier outage: earlier outage 1 was cancelled as a false alarm: "
        "呼叫中心测试数据"
    )
    assert rendered(back[0], "zh-CN") == "此后新开故障单: 本单结束后，此处新开故障单 2"
    assert "不再跟踪" in rendered(ended[1], "zh-CN")
    assert "no longer followed" in rendered(ended[1], "en")
    assert ledger.records[1].state.value == "cancelled"
    assert ledger.records[2].state is State.DISPATCHED


def test_an_outage_growing_over_a_cancelled_root_links_it_once(city):
    """Issue 7 acceptance §1: #2 opened at a sibling, then grew to the community
    over cancelled #1's root, but never followed it. Fails without the fix."""
    ledger = Ledger(Engine(city.index))
    step(ledger, calls(city, "m1-c2-b4", 10, T0), T0 + 100)
    ledger.act(1, ActionRequest(Action.CANCEL, {"reason": "误报"}), "zhao.lei", T0 + 120)
    ledger.drain()
    step(ledger, calls(city, "m1-c2-b3", 10, T0 + 200), T0 + 400)
    assert ledger.engine.outages[2].follows == ()  # a sibling: nothing to link yet
    t, entries = T0 + 400, []
    for building in ("m1-c2-b1", "m1-c2-b2"):
        t += 200
        entries += step(ledger, calls(city, building, 10, t - 150), t)
    grown = ledger.engine.outages[2]
    assert grown.root == "m1-c2" and grown.follows == (1,), grown
    follows = [(e.outage, e.payload["outage"]) for e in entries if e.kind == "follows"]
    back = [(e.outage, e.payload["outage"]) for e in entries if e.kind == "followed_by"]
    assert (follows, back) == ([(2, 1)], [(1, 2)])
    more = step(ledger, calls(city, "m1-c2-b3", 10, t + 50, skip=10), t + 250)
    assert [e for e in more if e.kind in ("follows", "followed_by")] == []


def probes(elements: Iterable[str], at: float, ok: bool) -> list[ProbeResult]:
    return [ProbeResult(at, e, ok, 1.0 if ok else None) for e in elements]


def test_an_ended_record_is_never_dispatched_notified_or_given_deadlines_again(city):
    ledger = Ledger(Engine(city.index))
    down = sorted(city.below("m2-c3") & set(city.probed()))
    for cycle in range(4):
        step(ledger, probes(down, T0 + cycle * 60, ok=False), T0 + cycle * 60)
    assert ledger.engine.outages[1].severity.value == "S3"
    ledger.act(1, ActionRequest(Action.CANCEL, {"reason": "false alarm"}), "ops", T0 + 300)
    ledger.drain()
    deadlines = dict(ledger.deadlines[1])
    notices, kinds = [], []
    for now in [T0 + c * 60 for c in range(6, 12)] + [T0 + 3600]:
        for signal in probes(down, now, ok=True):
            ledger.engine.ingest(signal)
        ledger.decide(now)
        changes = ledger.drain()
        notices += changes.notices
        kinds += [(e.outage, e.kind) for e in changes.entries]
    # Seen up: nothing is set aside any more.
    assert kinds == [(1, "outage_restored")]
    later = ledger.engine.outages[1]
    assert (later.status.value, later.set_aside) == ("restored", ())
    assert notices == []
    assert ledger.records[1].state is State.CANCELLED
    assert ledger.deadlines[1] == deadlines


def test_reopening_a_closed_outage_follows_it_again(city):
    ledger = Ledger(Engine(city.index))
    step(ledger, calls(city, "m1-c2-b4", 10, T0), T0 + 100)
    for i, action in enumerate(WALK):
        fields = {"cause": "equipment"} if action == "diagnose" else {}
        ledger.act(1, ActionRequest(Action(action), fields), "ops", T0 + 200 + i)
    assert ledger.engine.outages[1].released_at == T0 + 206
    ledger.act(1, ActionRequest(Action.REOPEN, {"note": "customers still down"}), "ops", T0 + 300)
    stored = ledger.drain().outages[1]
    assert stored.released_at is None  # followed again: a relapse candidate
    step(ledger, calls(city, "m1-c2-b4", 10, T0 + 400, skip=10), T0 + 600)
    assert sorted(ledger.records) == [1]  # the new calls are its own again, no second outage
    assert [o.id for o in ledger.engine.open_outages()] == [1]


def test_memory_keeps_a_released_outage_while_it_sets_evidence_aside(city):
    ledger = Ledger(Engine(city.index))
    down = sorted(city.below("m3-c3") & set(city.probed()))
    for cycle in range(4):
        step(ledger, probes(down, T0 + cycle * 60, ok=False), T0 + cycle * 60)
    ledger.act(1, ActionRequest(Action.CANCEL, {"reason": "false alarm"}), "ops", T0 + 300)
    ledger.drain()
    later = T0 + 10 * 86400.0  # still down ten days on: still set aside, still in memory
    step(ledger, probes(down, later, ok=False), later)
    assert ledger.evict(later) == []
    assert ledger.engine.outages[1].status.value == "released"
    for cycle in (1, 2):  # seen up: restored, then gone after the relapse window
        step(ledger, probes(down, later + cycle * 60, ok=True), later + cycle * 60)
    assert ledger.engine.outages[1].status.value == "restored"
    relapse = city.index.topology.thresholds.relapse_window_s
    assert ledger.evict(later + 120 + relapse - 1) == []
    assert ledger.evict(later + 120 + relapse + 1) == [1]
