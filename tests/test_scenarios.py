"""Timeline acceptance tests: signals at simulated times in, outage decisions out.

Every scenario is written as a replay JSONL file and run through `outaged replay`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from tests.citygen import write_city
from tests.timeline import Timeline, at, latest, opened, run


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GraphIndex]:
    path = write_city(tmp_path_factory.mktemp("city"))
    return path, GraphIndex.build(load_topology(path))


def probed(index: GraphIndex) -> list[str]:
    return sorted(e.id for e in index.topology.elements.values() if e.address)


def subs_of(index: GraphIndex, element: str, n: int) -> list[str]:
    below = set(index.cut_off(element))
    return sorted(s for s, e in index.topology.subscribers.items() if e in below)[:n]


def scenario(tmp_path: Path, city: tuple[Path, GraphIndex], tl: Timeline, *extra: str):
    topology, _ = city
    decisions, err, code = run(topology, tl.write(tmp_path / "signals.jsonl"), *extra)
    assert code == 0 and err == "", err
    return decisions


def minutes(iso: str) -> float:
    return (datetime.fromisoformat(iso) - datetime.fromisoformat(at(0))).total_seconds() / 60


def test_dead_building_without_probe_opens_one_s4_from_reports(tmp_path, city):
    _, index = city
    tl = Timeline()
    tl.probes(probed(index), 0, 30)
    tl.reports(subs_of(index, "m1-c2-b4", 8), 10, 6, category="down")
    decisions = scenario(tmp_path, city, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"]) == ("m1-c2-b4", "S4")
    assert o["affected_subscribers"] == 50
    assert minutes(o["restore_by"]) == pytest.approx(10 + 120)


def test_community_power_failure_is_one_s3_at_the_community(tmp_path, city):
    _, index = city
    below = set(index.cut_off("m1-c1"))
    tl = Timeline()
    tl.probes(probed(index), 0, 40, failing=lambda e, t: e in below and 10 <= t < 30)
    for b in ("m1-c1-b1", "m1-c1-b2", "m1-c1-b3", "m1-c1-b4"):
        tl.reports(subs_of(index, b, 10), 11, 8, code=678)
    decisions = scenario(tmp_path, city, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"]) == ("m1-c1", "S3")
    assert o["possible_cause"] == "pw-m1-1"
    assert o["affected_subscribers"] == 200
    assert {d["outage"] for d in decisions} == {o["outage"]}
    assert decisions[-1]["event"] == "outage_restored"


def test_metro_down_is_one_s2_and_spares_the_dual_homed_community(tmp_path, city):
    _, index = city
    below = set(index.cut_off("m2"))
    assert "dual-c" not in below
    tl = Timeline()
    tl.probes(probed(index), 0, 20, failing=lambda e, t: e in below and t >= 5)
    decisions = scenario(tmp_path, city, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"]) == ("m2", "S2")
    final = latest(decisions, o["outage"])
    assert "dual-c" in final["lost_redundancy"]
    assert not any(c.startswith("dual") for c in final["communities"])
    assert len({d["outage"] for d in decisions}) == 1


def test_fibre_cut_roots_at_the_passive_fibre_with_six_hours(tmp_path, city):
    _, index = city
    cut = {"m1-c2-b1", "m1-c2-b2"}
    tl = Timeline()
    tl.probes(probed(index), 0, 20, failing=lambda e, t: e in cut and t >= 5)
    tl.reports(subs_of(index, "m1-c2-b1", 6) + subs_of(index, "m1-c2-b2", 6), 6, 5, code=678)
    decisions = scenario(tmp_path, city, tl)
    (o,) = opened(decisions)
    assert o["root"] == "m1-c2-f"
    assert o["cause"] == "fibre"
    assert o["severity"] == "S3"  # half the community's subscribers: a large area
    assert minutes(o["restore_by"]) - minutes(o["occurred_at"]) == pytest.approx(360)


def test_single_child_fibre_is_a_possible_cause_not_the_root(tmp_path, city):
    _, index = city
    tl = Timeline()
    # Only one of the two buildings behind the fibre fails: the fibre explains nothing more.
    tl.probes(probed(index), 0, 15, failing=lambda e, t: e == "m2-c3-b2" and t >= 3)
    decisions = scenario(tmp_path, city, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["possible_cause"], o["cause"]) == ("m2-c3-b2", "m2-c3-f", None)
    assert minutes(o["restore_by"]) - minutes(o["occurred_at"]) == pytest.approx(120)


def test_late_parent_gives_one_outage_at_the_parent(tmp_path, city):
    _, index = city
    below = set(index.cut_off("m3-c2")) - {"m3-c2"}
    tl = Timeline()

    def failing(e: str, t: float) -> bool:
        return (e in below and t >= 10) or (e == "m3-c2" and t >= 11)

    tl.probes(probed(index), 0, 20, failing=failing)
    decisions = scenario(tmp_path, city, tl)
    (o,) = opened(decisions)
    assert latest(decisions, o["outage"])["root"] == "m3-c2"
    assert len({d["outage"] for d in decisions}) == 1


def test_flapping_element_does_not_open_and_close_repeatedly(tmp_path, city):
    _, index = city
    tl = Timeline()
    # 3 cycles down, 3 up, for two hours: every cycle passes the hysteresis.
    tl.probes(probed(index), 0, 120, failing=lambda e, t: e == "m2-c2-b3-a1" and (t // 3) % 2 == 1)
    decisions = scenario(tmp_path, city, tl)
    mine = [d for d in decisions if d["root"] == "m2-c2-b3-a1"]
    assert len(opened(mine)) == 1
    assert sum(d["event"] == "outage_restored" for d in mine) <= 1
    assert any(d["flapping"] for d in mine)
    assert len(mine) <= 5  # opened, restored, relapse+flapping: no storm over 20 cycles


def test_two_independent_faults_make_two_outages(tmp_path, city):
    _, index = city
    tl = Timeline()
    tl.probes(probed(index), 0, 15, failing=lambda e, t: e == "m3-c3" and t >= 4)
    tl.reports(subs_of(index, "m1-c4-b4", 8), 5, 4, category="down")
    decisions = scenario(tmp_path, city, tl)
    roots = sorted(o["root"] for o in opened(decisions))
    assert roots == ["m1-c4-b4", "m3-c3"]


def test_scope_growth_building_to_community_raises_s4_to_s3_in_one_record(tmp_path, city):
    _, index = city
    below = set(index.cut_off("m2-c2"))
    tl = Timeline()
    tl.probes(probed(index), 0, 30, failing=lambda e, t: e in below and t >= 15)
    tl.reports(subs_of(index, "m2-c2-b4", 8), 5, 4, category="down")
    decisions = scenario(tmp_path, city, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"]) == ("m2-c2-b4", "S4")
    final = latest(decisions, o["outage"])
    assert (final["root"], final["severity"], final["event"]) == ("m2-c2", "S3", "outage_updated")
    assert final["occurred_at"] == o["occurred_at"]  # the clock runs from the first signal
    assert len({d["outage"] for d in decisions}) == 1


def test_maintenance_window_suppresses_inside_and_overrun_opens(tmp_path, city):
    _, index = city
    inside = set(index.cut_off("m1-c4"))
    other = set(index.cut_off("m3-c4"))
    tl = Timeline()
    tl.add(0, kind="maintenance", element="m1-c4", start=at(5), end=at(25))
    tl.add(0, kind="maintenance", element="m3-c4", start=at(5), end=at(25))

    def failing(e: str, t: float) -> bool:
        return (e in inside and 6 <= t < 20) or (e in other and t >= 6)

    tl.probes(probed(index), 0, 40, failing=failing)
    decisions = scenario(tmp_path, city, tl)
    (o,) = opened(decisions)
    assert o["root"] == "m3-c4"
    assert minutes(o["at"]) == pytest.approx(25)
    assert "overran" in o["reason"]
    assert minutes(o["occurred_at"]) == pytest.approx(25)


def test_fault_reported_during_maintenance_still_opens(tmp_path, city):
    tl = Timeline()
    tl.add(0, kind="maintenance", element="m1", start=at(0), end=at(60))
    tl.add(10, kind="manual", element="m1-c3", note="fire in the machine room", actor="noc")
    decisions = scenario(tmp_path, city, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"], o["confidence"]) == ("m1-c3", "S3", 1.0)


def test_restoration_detected_after_probes_recover(tmp_path, city):
    _, index = city
    below = set(index.cut_off("m3-c3"))
    tl = Timeline()
    tl.probes(probed(index), 0, 30, failing=lambda e, t: e in below and 5 <= t < 15)
    decisions = scenario(tmp_path, city, tl)
    (o,) = opened(decisions)
    restored = [d for d in decisions if d["event"] == "outage_restored"]
    assert [d["outage"] for d in restored] == [o["outage"]]
    assert minutes(restored[0]["at"]) == pytest.approx(16)  # second good cycle


def test_report_only_outage_waits_for_confirmation_after_reports_stop(tmp_path, city):
    """Customers who stop calling have not seen a repair (SPEC §2): nothing was
    observed up, so the outage stays open and says it needs confirming."""
    _, index = city
    tl = Timeline()
    tl.reports(subs_of(index, "m2-c1-b4", 8), 0, 5, category="down")
    decisions = scenario(tmp_path, city, tl, "--until", at(240))
    (o,) = opened(decisions)
    assert [d for d in decisions if d["event"] == "outage_restored"] == []
    final = latest(decisions, o["outage"])
    assert final["status"] == "open" and final["awaiting_confirmation"]
    assert final["root"] == "m2-c1-b4"


def test_degradation_opens_at_lower_confidence(tmp_path, city):
    _, index = city
    tl = Timeline()
    tl.reports(subs_of(index, "m1-c3-b4", 8), 0, 5, category="slow")
    decisions = scenario(tmp_path, city, tl)
    (o,) = opened(decisions)
    assert o["confidence"] == 0.5
    assert "degradation" in o["reason"]


def test_partial_community_lists_buildings_and_grows_to_s3(tmp_path, city):
    _, index = city
    tl = Timeline()
    tl.reports(subs_of(index, "m3-c1-b4", 8), 0, 4, category="down")
    tl.reports(subs_of(index, "m3-c1-b3-a1", 0) or subs_of(index, "m3-c1-b3", 8), 1, 4, code=815)
    decisions = scenario(tmp_path, city, tl)
    (o,) = opened(decisions)
    final = latest(decisions, o["outage"])
    assert final["root"] == "m3-c1" and final["partial"]
    assert set(final["parts"][1:]) == {"m3-c1-b3", "m3-c1-b4"}
    assert final["severity"] == "S3"  # 100 of 200 subscribers: a large area


def test_malformed_lines_are_reported_with_line_and_field_and_skipped(tmp_path, city):
    topology, _ = city
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "\n".join(
            [
                '{"at": "2026-11-22T08:00:00Z", "kind": "probe", "element": "m1", "ok": true}',
                "{not json",
                '{"at": "2026-11-22T08:01:00Z", "kind": "probe", "element": "nope", "ok": true}',
                '{"at": "2026-11-22T08:02:00", "kind": "report", "subscriber": "x"}',
                '{"at": "2026-11-22T08:03:00Z", "kind": "teleport"}',
            ]
        )
        + "\n"
    )
    decisions, err, code = run(topology, path)
    assert code == 0 and decisions == []
    lines = err.splitlines()
    assert any(":2:" in line and "invalid JSON" in line for line in lines)
    assert any(":3: element: unknown element 'nope'" in line for line in lines)
    assert any(":4: at:" in line and "timezone" in line for line in lines)
    assert any(":4: subscriber: unknown subscriber" in line for line in lines)
    assert any(":5: kind: unknown kind 'teleport'" in line for line in lines)


def test_authentication_spike_across_communities_is_one_s1_at_the_platform(tmp_path):
    path = write_city(tmp_path / "city30", metros=3, communities=10)
    index = GraphIndex.build(load_topology(path))
    communities = [e.id for e in index.topology.elements.values() if e.kind == "community"]
    assert len(communities) >= 30
    tl = Timeline()
    tl.probes(probed(index), 0, 80)  # an hour watched first: the city's 691 rate is known
    for i, community in enumerate(communities[:30]):
        tl.reports(subs_of(index, community, 3), 65 + i * 0.1, 6, code=691)
    decisions, err, _ = run(path, tl.write(tmp_path / "auth.jsonl"))
    assert err == ""
    (o,) = opened(decisions)
    assert (o["root"], o["severity"]) == ("aaa-1", "S1")
    assert minutes(o["restore_by"]) - minutes(o["occurred_at"]) == pytest.approx(60)


def test_background_noise_over_a_million_subscribers_opens_nothing(tmp_path):
    import random

    # 20 metros x 50 communities x 4 buildings x 250 subscribers = 1,000,000 (+ dual-c).
    path = write_city(tmp_path / "big", metros=20, communities=50, subs=250, csv=False)
    index = GraphIndex.build(load_topology(path))
    assert index.total_subscribers >= 1_000_000
    buildings = [e.id for e in index.topology.elements.values() if e.kind == "building"]
    rng = random.Random(7)
    categories = ["down"] * 5 + ["auth"] * 2 + ["slow", "intermittent", "website", "game"]
    tl = Timeline()
    # ~300 single reports an hour for a simulated day, a few callers ringing twice.
    for i in range(300 * 24):
        minute = rng.uniform(0, 24 * 60)
        building = rng.choice(buildings)
        tl.add(minute, kind="report", element=building, category=rng.choice(categories))
        if i % 50 == 0:
            tl.add(minute + 2, kind="report", element=building, category="down")
    decisions, err, _ = run(path, tl.write(tmp_path / "noise.jsonl"))
    assert err == ""
    assert decisions == []


def test_both_uplinks_of_a_dual_homed_community_down_joins_it_to_a_metro_outage(tmp_path, city):
    _, index = city
    m1, m2 = set(index.cut_off("m1")), set(index.cut_off("m2"))
    dual = set(index.cut_off("dual-c"))
    tl = Timeline()

    def failing(e: str, t: float) -> bool:
        return (e in m1 and t >= 5) or (e in m2 and t >= 8) or (e in dual and t >= 8)

    tl.probes(probed(index), 0, 20, failing=failing)
    decisions = scenario(tmp_path, city, tl)
    roots = {d["outage"]: d["root"] for d in decisions}
    assert sorted(roots.values()) == ["m1", "m2"]  # no third outage for the symptom
    m1_outage = next(o for o, r in roots.items() if r == "m1")
    final = latest(decisions, m1_outage)
    assert "dual-c" in final["parts"] and "dual-c" in final["communities"]
    assert final["affected_subscribers"] == index.subtree_subscribers["m1"] + 100


def test_dual_homed_community_down_before_its_second_uplink_is_merged_not_restored(tmp_path, city):
    _, index = city
    m1, dual = set(index.cut_off("m1")), set(index.cut_off("dual-c"))
    m2 = set(index.cut_off("m2"))
    tl = Timeline()

    def failing(e: str, t: float) -> bool:
        # m1 down; the dual-homed community goes down a few cycles before m2 is seen failing.
        return (e in m1 and t >= 2) or (e in dual and t >= 6) or (e in m2 and t >= 12)

    tl.probes(probed(index), 0, 25, failing=failing)
    decisions = scenario(tmp_path, city, tl)
    dual_outages = {d["outage"] for d in opened(decisions) if d["root"] == "dual-c"}
    assert len(dual_outages) == 1  # on its own it looked like a fault of its own
    (dual_id,) = dual_outages
    events = [d["event"] for d in decisions if d["outage"] == dual_id]
    assert "outage_restored" not in events  # its evidence never went away
    assert latest(decisions, dual_id)["event"] in ("outage_merged", "outage_updated")


def test_every_building_of_a_community_reporting_is_the_whole_community(tmp_path, city):
    _, index = city
    tl = Timeline()
    for i, b in enumerate(("m2-c4-b1", "m2-c4-b2", "m2-c4-b3", "m2-c4-b4")):
        tl.reports(subs_of(index, b, 6), i, 4, category="down")
    decisions = scenario(tmp_path, city, tl)
    (o,) = opened(decisions)
    final = latest(decisions, o["outage"])
    assert (final["root"], final["severity"], final["partial"]) == ("m2-c4", "S3", False)
    assert final["affected_subscribers"] == index.subtree_subscribers["m2-c4"]


def test_a_root_whose_children_were_not_yet_probed_opens_whole_once_they_are(tmp_path, city):
    _, index = city
    below = set(index.cut_off("m3-c3")) - {"m3-c3"}
    tl = Timeline()

    # The community is re-probed fast and is down before its buildings' next probes.
    def failing(e: str, t: float) -> bool:
        return (e == "m3-c3" and t >= 5) or (e in below and t >= 8)

    tl.probes(probed(index), 0, 15, failing=failing)
    decisions = scenario(tmp_path, city, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"], o["partial"]) == ("m3-c3", "S3", False)
    assert o["affected_subscribers"] == index.subtree_subscribers["m3-c3"]
