"""More acceptance scenarios for the core, on networks the core was not tuned for.

Three shapes of network, none of them citygen's:
  * the shipped example `topology.yaml` (real names, dual-homed communities, fibres,
    a power feed, access switches, a `contract: false` building);
  * a small network from `bench/gen_topology.py` (dual cores, dual-homed metros and
    communities, power feeds, fibres with 1-3 buildings, access switches);
  * hand-written corner cases (a fibre or a power feed in front of two communities,
    a splitter, deep access chains, a community with no buildings, elements without
    subscribers, a metro with one community, two platforms or none, a metro holding
    most of the city).
Every expected outcome is read from SPEC §2-§3, not from the code.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bench.gen_topology import generate
from tests import smallnet
from tests.smallnet import Net, load
from tests.timeline import Timeline, at, latest, opened, run

REPO = Path(__file__).resolve().parents[1]
Decision = dict[str, Any]


def replay(tmp_path: Path, net: Net, tl: Timeline, *extra: str) -> list[Decision]:
    decisions, err, code = run(net.path, tl.write(tmp_path / "signals.jsonl"), *extra)
    assert code == 0 and err == "", err
    return decisions


def minutes(iso: str) -> float:
    return (datetime.fromisoformat(iso) - datetime.fromisoformat(at(0))).total_seconds() / 60


def span(decision: Decision, deadline: str) -> float:
    """Minutes from the fault's occurrence to one of its deadlines."""
    return minutes(decision[deadline]) - minutes(decision["occurred_at"])


def show(decisions: Iterable[Decision]) -> str:
    keys = ("event", "outage", "root", "severity", "partial", "parts", "reason")
    return "\n".join(
        f"{minutes(d['at']):7.2f} " + " ".join(f"{k}={d.get(k)}" for k in keys) for d in decisions
    )


def ids(decisions: list[Decision]) -> set[int]:
    return {d["outage"] for d in decisions}


def failing_sets(*spans: tuple[set[str], float, float]) -> Callable[[str, float], bool]:
    """Probe outcome: element e fails at minute t when some (set, start, end) holds it."""
    return lambda e, t: any(e in s and a <= t < b for s, a, b in spans)


# --------------------------------------------------------------------------- networks


@pytest.fixture(scope="module")
def example() -> Net:
    return load(REPO / "topology.yaml")


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> Net:
    return load(generate(tmp_path_factory.mktemp("gen"), 3000, 30000, seed=3))


def el(
    eid: str, kind: str, *parents: str, subs: int = 0, silent: bool = False, **extra: Any
) -> dict[str, Any]:
    """One hand-written element; `subs` subscribers named <id>-NNN; probed unless silent."""
    item: dict[str, Any] = {"id": eid, "kind": kind, **extra}
    if parents:
        item["parents"] = list(parents)
    item["_subs"] = subs
    item["_probed"] = not silent and kind not in ("fibre", "splitter", "power")
    return item


def write_net(outdir: Path, elements: list[dict[str, Any]], **thresholds: Any) -> Net:
    items = [
        ({k: v for k, v in e.items() if not k.startswith("_")}, e["_subs"], e["_probed"])
        for e in elements
    ]
    return load(smallnet.write(outdir, items, name="corner case", subnet=30, **thresholds))


def city_top(platforms: int = 1, rest: int = 2000) -> list[dict[str, Any]]:
    """The city level, plus a metro holding `rest` subscribers elsewhere in the city
    (so that a corner-case fault is not city-wide by its share alone)."""
    top = [
        el("egress-1", "egress"),
        el("core-1", "core", "egress-1"),
        *(el(f"aaa-{i}", "platform", "core-1") for i in range(1, platforms + 1)),
    ]
    if rest:
        top += [el("m-rest", "metro", "core-1"), *community("rest", "m-rest", 4, rest // 4)]
    return top


def community(cid: str, parent: str, buildings: int = 3, subs: int = 40) -> list[dict[str, Any]]:
    return [el(cid, "community", parent)] + [
        el(f"{cid}-b{b}", "building", cid, subs=subs) for b in range(1, buildings + 1)
    ]


# ------------------------------------------------------- example topology: city level


def test_core_down_is_one_s1_with_one_hour(tmp_path, example):
    down = example.below("core-1")
    tl = Timeline()
    tl.probes(example.probed(), 0, 20, failing=failing_sets((down, 5, 99)))
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"]) == ("core-1", "S1")
    assert minutes(o["occurred_at"]) == pytest.approx(5)
    assert span(o, "restore_by") == pytest.approx(60)
    assert span(o, "on_site_by") == pytest.approx(30)
    assert latest(decisions, o["outage"])["affected_subscribers"] == example.index.total_subscribers


def test_egress_down_is_one_s1_at_the_egress(tmp_path, example):
    tl = Timeline()
    tl.probes(example.probed(), 0, 20, failing=lambda e, t: t >= 5)
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    final = latest(decisions, opened(decisions)[0]["outage"])
    assert (final["root"], final["severity"]) == ("egress-1", "S1")
    assert span(final, "restore_by") == pytest.approx(60)
    assert span(final, "on_site_by") == pytest.approx(30)


def test_platform_down_counts_every_subscriber_s1(tmp_path, example):
    tl = Timeline()
    tl.probes(example.probed(), 0, 15, failing=lambda e, t: e == "aaa-1" and t >= 4)
    decisions = replay(tmp_path, example, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"]) == ("aaa-1", "S1")
    assert o["affected_subscribers"] == example.index.total_subscribers
    assert span(o, "restore_by") == pytest.approx(60)


@pytest.mark.parametrize("signal", ["probes", "reports"])
def test_platform_fault_touches_every_community(tmp_path, example, signal):
    # Every subscriber is affected, so every community's service centre is to be told.
    tl = Timeline()
    if signal == "probes":
        tl.probes(example.probed(), 0, 15, failing=lambda e, t: e == "aaa-1" and t >= 4)
    else:  # watched from minute 0 (a replay's clock starts at its first line)
        tl.probes(example.probed(), 0, 15)
        for i, c in enumerate(("comm-hy", "comm-bs", "comm-js", "comm-df")):
            tl.reports(example.subs(c, 3), 5 + i * 0.2, 4, code=691)
    decisions = replay(tmp_path, example, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"], o["affected_subscribers"]) == (
        "aaa-1",
        "S1",
        example.index.total_subscribers,
    )
    everyone = {e for e, x in example.index.topology.elements.items() if x.kind == "community"}
    assert set(o["communities"]) == everyone


def test_fault_growing_building_community_metro_keeps_one_record_and_first_signal(
    tmp_path, example
):
    fail = failing_sets(
        ({"hy-02"}, 5, 99), (example.below("comm-hy"), 10, 99), (example.below("metro-n"), 15, 99)
    )
    tl = Timeline()
    tl.probes(example.probed(), 0, 25, failing=fail)
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    final = decisions[-1]
    assert (final["root"], final["severity"]) == ("metro-n", "S2"), show(decisions)
    assert minutes(final["occurred_at"]) == pytest.approx(5)
    assert span(final, "restore_by") == pytest.approx(240)
    assert {"comm-lh", "comm-jx"} <= set(final["lost_redundancy"])


def test_community_fault_growing_to_the_core_takes_s1_deadlines(tmp_path, example):
    fail = failing_sets((example.below("comm-hy"), 5, 99), (example.below("core-1"), 12, 99))
    tl = Timeline()
    tl.probes(example.probed(), 0, 20, failing=fail)
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    final = decisions[-1]
    assert (final["root"], final["severity"]) == ("core-1", "S1")
    assert minutes(final["occurred_at"]) == pytest.approx(5)
    assert span(final, "restore_by") == pytest.approx(60)
    assert span(final, "on_site_by") == pytest.approx(30)


def test_reboot_trap_alone_opens_nothing(tmp_path, example):
    tl = Timeline()
    tl.probes(example.probed(), 0, 20)
    tl.add(10, kind="trap", element="core-1", trap="coldStart", ifindex="1")
    tl.add(10, kind="trap", element="comm-hy", trap="warmStart", ifindex="1")
    assert replay(tmp_path, example, tl) == []


# --------------------------------------------- example topology: communities, buildings


def test_power_fed_community_root_is_the_community_until_diagnosed_fibre(tmp_path, example):
    tl = Timeline()
    tl.probes(example.probed(), 0, 40, failing=failing_sets((example.below("comm-yg"), 5, 99)))
    tl.add(12, kind="action", outage="@1", action="ack", actor="zhao.lei")
    tl.add(20, kind="action", outage="@1", action="arrive", actor="zhao.lei")
    tl.add(30, kind="action", outage="@1", action="diagnose", cause="fibre", actor="zhao.lei")
    decisions = replay(tmp_path, example, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"]) == ("comm-yg", "S3")
    assert (o["possible_cause"], o["cause"]) == ("power-yg", None)
    assert span(o, "restore_by") == pytest.approx(120)
    after = [d for d in decisions if d["event"] == "outage_updated" and minutes(d["at"]) >= 30]
    assert after, show(decisions)
    assert after[-1]["cause"] == "fibre"
    assert span(after[-1], "restore_by") == pytest.approx(360)


def test_two_buildings_below_30_percent_are_one_partial_s4_then_grow_to_s3(tmp_path, example):
    # hy-02 (68) + hy-06 (48) = 116 of 597 (19 %); with hy-01 (112): 228 (38 %).
    fail = failing_sets(({"hy-02", "hy-06"}, 5, 99), ({"hy-01"}, 15, 99))
    tl = Timeline()
    tl.probes(example.probed(), 0, 25, failing=fail)
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    early = [d for d in decisions if minutes(d["at"]) < 15][-1]
    assert (early["root"], early["severity"], early["partial"]) == ("comm-hy", "S4", True)
    assert set(early["parts"]) >= {"hy-02", "hy-06"}
    assert early["affected_subscribers"] == 116
    final = decisions[-1]
    assert (final["root"], final["severity"], final["partial"]) == ("comm-hy", "S3", True)
    assert set(final["parts"]) >= {"hy-01", "hy-02", "hy-06"}
    assert final["affected_subscribers"] == 228


def test_two_of_three_buildings_behind_a_fibre_are_partial_not_a_fibre_cut(tmp_path, example):
    # df-06 still answers, so fib-df-a is not cut: df-04 (64) + df-05 (104) = 28 % of 604.
    tl = Timeline()
    tl.probes(example.probed(), 0, 20, failing=failing_sets(({"df-04", "df-05"}, 5, 99)))
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    final = decisions[-1]
    assert final["root"] == "comm-df" and final["partial"], show(decisions)
    assert set(final["parts"]) >= {"df-04", "df-05"}
    assert final["severity"] == "S4"
    assert final["cause"] != "fibre"


def test_partial_outage_stays_open_until_its_last_building_recovers(tmp_path, example):
    fail = failing_sets(({"hy-02"}, 5, 15), ({"hy-06"}, 5, 30))
    tl = Timeline()
    tl.probes(example.probed(), 0, 40, failing=fail)
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    restored = [minutes(d["at"]) for d in decisions if d["event"] == "outage_restored"]
    assert len(restored) == 1 and restored[0] >= 30, show(decisions)


def test_probed_and_report_only_buildings_of_one_community_are_one_partial(tmp_path, example):
    # ht-01 (177, probed) fails; customers of ht-04 (42, no probe) call: 219 of 529 (41 %).
    tl = Timeline()
    tl.probes(example.probed(), 0, 20, failing=lambda e, t: e == "ht-01" and t >= 5)
    tl.reports(example.subs("ht-04", 8), 5, 5, code=678)
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    final = decisions[-1]
    assert (final["root"], final["partial"], final["severity"]) == ("comm-ht", True, "S3")
    assert set(final["parts"]) >= {"ht-01", "ht-04"}


def test_manual_fibre_cut_seen_by_a_person_roots_at_the_fibre(tmp_path, example):
    # Road works cut 华苑小区光缆A at minute 5; a person phones it in at once, and the two
    # buildings behind it stop answering from the same minute.
    tl = Timeline()
    tl.probes(example.probed(), 0, 15, failing=failing_sets(({"hy-03", "hy-04"}, 5, 99)))
    tl.add(5, kind="manual", element="fib-hy-a", note="施工挖断光缆", actor="wang.fang")
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    for d in (opened(decisions)[0], decisions[-1]):  # what is first announced, and after
        assert (d["root"], d["cause"], d["severity"]) == ("fib-hy-a", "fibre", "S3"), show([d])
        assert (d["affected_subscribers"], d["communities"]) == (
            example.index.subtree_subscribers["fib-hy-a"],
            ["comm-hy"],
        )
        assert span(d, "restore_by") == pytest.approx(360)


def test_dual_homed_community_down_itself_is_s3_with_both_uplinks_alive(tmp_path, example):
    tl = Timeline()
    tl.probes(example.probed(), 0, 15, failing=failing_sets((example.below("comm-lh"), 4, 99)))
    decisions = replay(tmp_path, example, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"], o["communities"]) == ("comm-lh", "S3", ["comm-lh"])
    assert o["affected_subscribers"] == example.index.subtree_subscribers["comm-lh"]


def test_non_contract_building_has_no_restore_deadline(tmp_path, example):
    # wt-04 serves 178 of comm-wt's 483 subscribers (37 %): a large area, S3.
    tl = Timeline()
    tl.probes(example.probed(), 0, 15, failing=lambda e, t: e == "wt-04" and t >= 3)
    decisions = replay(tmp_path, example, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"], o["restore_by"]) == ("wt-04", "S3", None)


def test_two_metros_at_once_then_one_recovers(tmp_path, example):
    fail = failing_sets((example.below("comm-hy"), 5, 20), (example.below("comm-df"), 5, 99))
    tl = Timeline()
    tl.probes(example.probed(), 0, 40, failing=fail)
    decisions = replay(tmp_path, example, tl)
    roots = {o["root"]: o for o in opened(decisions)}
    assert set(roots) == {"comm-hy", "comm-df"}, show(decisions)
    assert {o["severity"] for o in roots.values()} == {"S3"}
    hy, df = roots["comm-hy"]["outage"], roots["comm-df"]["outage"]
    restored = [d for d in decisions if d["event"] == "outage_restored"]
    assert [d["outage"] for d in restored] == [hy], show(decisions)
    assert latest(decisions, df)["status"] == "open"


def test_signals_inside_an_open_metro_outage_open_nothing_new(tmp_path, example):
    tl = Timeline()
    tl.probes(example.probed(), 0, 30, failing=failing_sets((example.below("metro-n"), 5, 99)))
    tl.reports(example.subs("comm-hy", 40), 8, 6, code=678)
    tl.reports(example.subs("bs-03", 10), 9, 4, category="down")
    tl.add(15, kind="manual", element="comm-bs", note="机房停电", actor="noc")
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    assert {d["root"] for d in decisions} == {"metro-n"}
    assert decisions[-1]["severity"] == "S2"


def test_manual_fault_withdrawn_restores_its_outage(tmp_path, example):
    tl = Timeline()
    tl.add(5, kind="manual", element="comm-bs", note="看到机房冒烟", actor="noc")
    tl.add(20, kind="manual", element="comm-bs", note="误报", actor="noc", cleared=True)
    decisions = replay(tmp_path, example, tl, "--until", at(40))
    (o,) = opened(decisions)
    assert (o["root"], o["severity"], o["confidence"]) == ("comm-bs", "S3", 1.0)
    assert decisions[-1]["event"] == "outage_restored", show(decisions)


# ------------------------------------------------- example topology: noise opens nothing


def test_single_probe_losses_on_every_element_for_hours_open_nothing(tmp_path, example):
    rng = random.Random(11)
    lost: set[tuple[str, float]] = set()
    for e in example.probed():
        last = -10.0
        for t in range(180):
            if rng.random() < 1 / 20 and t - last > 1:  # single losses, never two in a row
                lost.add((e, float(t)))
                last = t
    tl = Timeline()
    tl.probes(example.probed(), 0, 180, failing=lambda e, t: (e, t) in lost)
    assert replay(tmp_path, example, tl) == []


def test_gen_single_probe_losses_everywhere_open_nothing(tmp_path, gen):
    rng = random.Random(13)
    lost = {(e, float(t)) for e in gen.probed() for t in range(0, 40, 2) if rng.random() < 0.1}
    tl = Timeline()
    tl.probes(gen.probed(), 0, 40, failing=lambda e, t: (e, t) in lost)
    assert replay(tmp_path, gen, tl) == []


def test_local_time_offsets_are_the_same_instants(tmp_path, example):
    tl = Timeline()
    tl.probes(example.probed(), 0, 15, failing=failing_sets((example.below("comm-bs"), 5, 99)))
    path = tl.write(tmp_path / "utc.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    china = timezone(timedelta(hours=8))
    for line in lines[1::2]:  # every other line written in Beijing time
        line["at"] = datetime.fromisoformat(line["at"]).astimezone(china).isoformat()
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    decisions, err, code = run(example.path, path)
    assert code == 0 and err == ""
    (o,) = opened(decisions)
    assert (o["root"], o["occurred_at"]) == ("comm-bs", "2026-11-22T08:05:00.000Z")


def test_slow_probe_round_trips_open_nothing(tmp_path, example):
    tl = Timeline()
    for t in range(30):
        for e in example.probed():
            slow = e in example.below("comm-js") and 5 <= t < 25
            tl.add(t, kind="probe", element=e, ok=True, rtt_ms=2500.0 if slow else 0.5)
    assert replay(tmp_path, example, tl) == []


def test_burst_of_website_game_app_reports_opens_nothing(tmp_path, example):
    tl = Timeline()
    tl.probes(example.probed(), 0, 30)
    subs = example.subs("comm-hy", 60)
    for i, sub in enumerate(subs):
        tl.add(
            5 + i * 0.1, kind="report", subscriber=sub, category=("website", "game", "app")[i % 3]
        )
    tl.reports(example.subs("hy-04", 25, skip=30), 6, 5, category="game")
    assert replay(tmp_path, example, tl, "--until", at(90)) == []


def test_auth_storm_and_a_community_fault_at_once_are_two_outages(tmp_path, example):
    tl = Timeline()
    tl.probes(example.probed(), 0, 20, failing=failing_sets((example.below("comm-hy"), 5, 99)))
    for i, c in enumerate(("comm-bs", "comm-js", "comm-df", "comm-wt")):
        tl.reports(example.subs(c, 3), 5 + i * 0.2, 4, code=691)
    decisions = replay(tmp_path, example, tl)
    got = {o["root"]: o["severity"] for o in opened(decisions)}
    assert got == {"aaa-1": "S1", "comm-hy": "S3"}, show(decisions)


def test_platform_down_and_its_auth_storm_are_one_outage(tmp_path, example):
    tl = Timeline()
    tl.probes(example.probed(), 0, 20, failing=lambda e, t: e == "aaa-1" and t >= 5)
    for i, c in enumerate(("comm-bs", "comm-js", "comm-df", "comm-wt")):
        tl.reports(example.subs(c, 3), 5.5 + i * 0.2, 4, code=691)
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    assert (decisions[-1]["root"], decisions[-1]["confidence"]) == ("aaa-1", 1.0)


def test_a_handful_of_691_calls_across_many_communities_opens_nothing(tmp_path, example):
    communities = [e for e, x in example.index.topology.elements.items() if x.kind == "community"]
    tl = Timeline()
    tl.probes(example.probed(), 0, 30)
    for i, c in enumerate(communities[:10]):
        tl.add(5 + i, kind="report", subscriber=example.subs(c, 1)[0], code=691)
    assert replay(tmp_path, example, tl, "--until", at(90)) == []


def test_one_caller_ringing_again_and_again_opens_nothing(tmp_path, example):
    tl = Timeline()
    tl.probes(example.probed(), 0, 30)
    caller, neighbour = example.subs("acc-hy-05-1", 2)
    for i in range(8):
        tl.add(3 + i, kind="report", subscriber=caller, code=678)
    tl.add(6, kind="report", subscriber=neighbour, category="down")
    assert replay(tmp_path, example, tl, "--until", at(90)) == []


def test_a_few_callers_in_a_big_building_are_not_a_meaningful_share(tmp_path, example):
    # 5 of hy-04's 196 subscribers (2.6 %) call within ten minutes: below spike_min_share.
    tl = Timeline()
    tl.probes(example.probed(), 0, 30)
    tl.reports(example.subs("hy-04", 5), 5, 10, code=678)
    assert replay(tmp_path, example, tl, "--until", at(90)) == []


def test_one_down_one_up_never_passes_the_hysteresis(tmp_path, example):
    tl = Timeline()
    tl.probes(example.probed(), 0, 120, failing=lambda e, t: e == "comm-bs" and int(t) % 2 == 1)
    assert replay(tmp_path, example, tl) == []


def test_three_down_one_up_stays_one_open_outage_until_stable(tmp_path, example):
    # One good cycle is below up_after (2): the element never came back, nothing flaps.
    down = example.below("comm-wt")
    tl = Timeline()
    tl.probes(
        example.probed(), 0, 90, failing=lambda e, t: e in down and 5 <= t < 65 and (t - 5) % 4 < 3
    )
    decisions = replay(tmp_path, example, tl)
    assert [d["event"] for d in decisions] == ["outage_opened", "outage_restored"], show(decisions)
    assert minutes(decisions[-1]["at"]) >= 64
    assert not any(d["flapping"] for d in decisions)


def test_four_down_two_up_flapping_is_held_open_until_stable(tmp_path, example):
    flapping = example.below("comm-cz")
    tl = Timeline()

    def fail(e: str, t: float) -> bool:
        return e in flapping and 6 <= t < 66 and (t - 6) % 6 < 4

    tl.probes(example.probed(), 0, 130, failing=fail)
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    assert {d["root"] for d in decisions} == {"comm-cz"}
    assert any(d["flapping"] for d in decisions), show(decisions)
    # Before the third transition nobody can tell a flap from a short fault; once it
    # is flapping, the outage is held open until the element is stable again.
    flagged = minutes(next(d["at"] for d in decisions if d["flapping"]))
    restored = [minutes(d["at"]) for d in decisions if d["event"] == "outage_restored"]
    assert not [t for t in restored if flagged <= t < 66], show(decisions)
    assert len(restored) <= 2 and restored[-1] >= 66, show(decisions)
    assert decisions[-1]["event"] == "outage_restored"
    assert len(decisions) <= 8, show(decisions)


def test_degradation_then_hard_down_reports_raise_confidence_in_one_record(tmp_path, example):
    tl = Timeline()
    tl.reports(example.subs("ht-04", 6), 0, 5, category="intermittent")
    tl.reports(example.subs("ht-04", 6, skip=10), 20, 5, code=678)
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    (o,) = opened(decisions)
    assert (o["root"], o["confidence"]) == ("ht-04", 0.5)
    assert "degrad" in o["reason"]
    assert decisions[-1]["confidence"] == 0.8, show(decisions)


# ----------------------------------------------- example topology: planned work, restarts


def test_metro_maintenance_opens_nothing_but_a_manual_fault_inside_opens(tmp_path, example):
    tl = Timeline()
    tl.add(0, kind="maintenance", element="metro-s", start=at(5), end=at(60), note="割接")
    tl.probes(example.probed(), 0, 80, failing=failing_sets((example.below("metro-s"), 10, 50)))
    tl.reports(example.subs("comm-cz", 30), 12, 8, code=678)
    tl.add(20, kind="manual", element="comm-ht", note="机房进水", actor="noc")
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    (o,) = opened(decisions)
    assert o["root"] == "comm-ht" and o["severity"] == "S3"
    assert 20 <= minutes(o["at"]) <= 30


def test_metro_maintenance_overrun_opens_an_s2_from_the_end(tmp_path, example):
    tl = Timeline()
    tl.add(0, kind="maintenance", element="metro-e", start=at(5), end=at(30), note="割接")
    tl.probes(example.probed(), 0, 60, failing=failing_sets((example.below("metro-e"), 10, 45)))
    decisions = replay(tmp_path, example, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"]) == ("metro-e", "S2")
    assert 30 <= minutes(o["at"]) <= 40
    assert decisions[-1]["event"] == "outage_restored", show(decisions)


def test_maintenance_on_one_community_does_not_hide_a_fault_next_door(tmp_path, example):
    tl = Timeline()
    tl.add(0, kind="maintenance", element="comm-hy", start=at(5), end=at(60), note="割接")
    fail = failing_sets((example.below("comm-hy"), 6, 50), (example.below("comm-bs"), 10, 99))
    tl.probes(example.probed(), 0, 30, failing=fail)
    decisions = replay(tmp_path, example, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"]) == ("comm-bs", "S3")
    assert minutes(o["at"]) <= 13


def test_fault_before_a_maintenance_window_opens_at_once_and_stays_open(tmp_path, example):
    tl = Timeline()
    tl.add(0, kind="maintenance", element="comm-js", start=at(30), end=at(60), note="割接")
    tl.probes(example.probed(), 0, 45, failing=failing_sets((example.below("comm-js"), 10, 99)))
    decisions = replay(tmp_path, example, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"]) == ("comm-js", "S3")
    assert minutes(o["at"]) <= 13
    assert decisions[-1]["status"] == "open", show(decisions)


def test_building_lingering_after_its_community_came_back_is_the_same_outage(tmp_path, example):
    fail = failing_sets((example.below("comm-df"), 5, 20), ({"df-03"}, 5, 30))
    tl = Timeline()
    tl.probes(example.probed(), 0, 50, failing=fail)
    decisions = replay(tmp_path, example, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    restored = [minutes(d["at"]) for d in decisions if d["event"] == "outage_restored"]
    assert len(restored) == 1 and restored[0] >= 30, show(decisions)


def test_late_reports_after_probes_recovered_do_not_reopen(tmp_path, example):
    tl = Timeline()
    tl.probes(example.probed(), 0, 60, failing=failing_sets((example.below("comm-df"), 5, 20)))
    tl.reports(example.subs("comm-df", 60), 6, 30, code=678)  # calls go on until minute 36
    decisions = replay(tmp_path, example, tl, "--until", at(120))
    assert len(ids(decisions)) == 1, show(decisions)
    assert len(opened(decisions)) == 1
    first_restored = next(i for i, d in enumerate(decisions) if d["event"] == "outage_restored")
    assert all(d["status"] != "open" for d in decisions[first_restored:]), show(decisions)


def test_relapse_within_30_minutes_reuses_the_outage(tmp_path, example):
    down = example.below("comm-bs")
    tl = Timeline()
    tl.probes(example.probed(), 0, 120, failing=failing_sets((down, 5, 15), (down, 30, 45)))
    decisions = replay(tmp_path, example, tl)
    assert len(opened(decisions)) == 1, show(decisions)
    assert len(ids(decisions)) == 1
    reopened = [d for d in decisions if minutes(d["at"]) > 30 and d["status"] == "open"]
    assert reopened, show(decisions)
    assert decisions[-1]["event"] == "outage_restored"


def test_fault_back_after_the_record_was_closed_is_a_new_outage_linked_to_it(tmp_path, example):
    # Closing lets the outage go (issue 7 §1): a closed record is no relapse candidate.
    down = example.below("comm-bs")
    tl = Timeline()
    tl.probes(example.probed(), 0, 40, failing=failing_sets((down, 5, 15), (down, 27, 99)))
    steps = ["ack", "arrive", "diagnose", "restore", "verify", "callback_done", "close"]
    for t, action in zip((8, 9, 10, 15, 17, 18, 19), steps, strict=True):
        extra = {"cause": "power"} if action == "diagnose" else {}
        tl.add(t, kind="action", outage="@1", action=action, actor="zhao.lei", **extra)
    decisions = replay(tmp_path, example, tl)
    assert [d["state"] for d in decisions if d["event"] == "action"][-1] == "closed"
    first, again = opened(decisions)
    assert (again["root"], again["follows"]) == (first["root"], [1]), show(decisions)
    assert minutes(again["at"]) >= 27
    after_close = [d for d in decisions[-3:] if d["outage"] == 1 and d["event"] != "action"]
    assert all(d["status"] != "open" for d in after_close), show(decisions)


def test_relapse_window_counts_from_the_restoration(tmp_path, example):
    # Down for 25 minutes, back 24 minutes after it recovered (50 after it began).
    down = example.below("comm-bs")
    tl = Timeline()
    tl.probes(example.probed(), 0, 70, failing=failing_sets((down, 5, 30), (down, 55, 99)))
    decisions = replay(tmp_path, example, tl)
    assert len(opened(decisions)) == 1, show(decisions)
    assert decisions[-1]["status"] == "open"


def test_fault_back_after_the_relapse_window_is_a_new_outage(tmp_path, example):
    down = example.below("comm-bs")
    tl = Timeline()
    tl.probes(example.probed(), 0, 90, failing=failing_sets((down, 5, 15), (down, 60, 70)))
    decisions = replay(tmp_path, example, tl)
    assert len(opened(decisions)) == 2, show(decisions)


# ------------------------------------------------------------ generated 3,000-element city


def test_gen_one_core_of_two_down_is_s1_with_nothing_cut_off(tmp_path, gen):
    tl = Timeline()
    tl.probes(gen.probed(), 0, 10, failing=lambda e, t: e == "core-1" and t >= 3)
    decisions = replay(tmp_path, gen, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"]) == ("core-1", "S1")
    assert o["affected_subscribers"] == 0
    assert "metro-01" in o["lost_redundancy"] and "aaa-1" in o["lost_redundancy"]


def test_gen_both_cores_down_is_s1_rooted_at_the_cores_only(tmp_path, gen):
    every = set(gen.probed()) - {"egress-1", "egress-2"}
    tl = Timeline()
    tl.probes(gen.probed(), 0, 8, failing=failing_sets((every, 3, 99)))
    decisions = replay(tmp_path, gen, tl)
    assert {d["root"] for d in decisions} <= {"core-1", "core-2"}, show(decisions[:10])
    assert {d["severity"] for d in decisions} == {"S1"}


def test_gen_metro_down_is_s2_sparing_dual_homed_communities(tmp_path, gen):
    down = gen.below("metro-01")
    dual = [
        e.id
        for e in gen.index.topology.elements.values()
        if e.kind == "community" and len(e.parents) > 1 and "metro-01" in e.parents
    ]
    assert dual
    tl = Timeline()
    tl.probes(gen.probed(), 0, 10, failing=failing_sets((down, 3, 99)))
    decisions = replay(tmp_path, gen, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    final = decisions[-1]
    assert (final["root"], final["severity"]) == ("metro-01", "S2")
    assert set(dual) <= set(final["lost_redundancy"])
    assert not set(dual) & set(final["communities"])
    assert final["affected_subscribers"] == gen.index.subtree_subscribers["metro-01"]


def test_gen_both_uplink_traps_before_probes_fail_start_the_clock(tmp_path, gen):
    tl = Timeline()
    for ifindex in (1, 2):
        tl.add(5.5, kind="trap", element="metro-02", trap="linkDown", ifindex=ifindex)
    tl.probes(gen.probed(), 0, 12, failing=failing_sets((gen.below("metro-02"), 6, 99)))
    decisions = replay(tmp_path, gen, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    final = decisions[-1]
    assert (final["root"], final["severity"]) == ("metro-02", "S2")
    assert minutes(final["occurred_at"]) == pytest.approx(5.5)  # the first signal


def test_gen_one_of_two_uplinks_down_opens_nothing(tmp_path, gen):
    tl = Timeline()
    tl.add(3, kind="trap", element="metro-03", trap="linkDown", ifindex=1)
    tl.probes(gen.probed(), 0, 12)
    assert replay(tmp_path, gen, tl) == []


@pytest.mark.parametrize(
    ("fibre", "severity", "hours"),
    [("c2-f", "S4", 2), ("c19-f", "S3", 6)],  # 25 % and 38 % of their communities
)
def test_gen_fibre_cut_severity_from_its_share_and_fibre_deadline(
    tmp_path, gen, fibre, severity, hours
):
    tl = Timeline()
    tl.probes(gen.probed(), 0, 10, failing=failing_sets((gen.below(fibre), 3, 99)))
    decisions = replay(tmp_path, gen, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["cause"], o["severity"]) == (fibre, "fibre", severity), show(decisions)
    assert span(o, "restore_by") == pytest.approx(hours * 60)


def test_gen_power_fed_community_names_its_feed(tmp_path, gen):
    tl = Timeline()
    tl.probes(gen.probed(), 0, 10, failing=failing_sets((gen.below("c17"), 3, 99)))
    decisions = replay(tmp_path, gen, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"], o["possible_cause"]) == ("c17", "S3", "c17-pw")


def test_gen_non_contract_community_has_no_restore_deadline(tmp_path, gen):
    tl = Timeline()
    tl.probes(gen.probed(), 0, 10, failing=failing_sets((gen.below("c138"), 3, 99)))
    decisions = replay(tmp_path, gen, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"], o["restore_by"]) == ("c138", "S3", None)


def test_gen_two_communities_in_two_metros_are_two_s3(tmp_path, gen):
    elements = gen.index.topology.elements
    first = next(c for c in ("c1", "c3", "c4", "c5") if len(elements[c].parents) == 1)
    second = next(
        c.id
        for c in elements.values()
        if c.kind == "community"
        and c.parents[0] != elements[first].parents[0]
        and len(c.parents) == 1
        and elements[c.parents[0]].kind == "metro"
    )
    tl = Timeline()
    tl.probes(gen.probed(), 0, 10, failing=failing_sets((gen.below(first, second), 3, 99)))
    decisions = replay(tmp_path, gen, tl)
    assert sorted(o["root"] for o in opened(decisions)) == sorted([first, second]), show(decisions)
    assert {o["severity"] for o in opened(decisions)} == {"S3"}


def test_gen_ten_unrelated_building_faults_are_ten_outages(tmp_path, gen):
    elements = gen.index.topology.elements
    picked: dict[str, str] = {}  # metro -> building directly under a probed community
    for e in elements.values():
        parent = elements[e.parents[0]] if e.parents else None
        if e.kind == "building" and e.address and parent is not None and parent.kind == "community":
            metro = parent.parents[0]
            if elements[metro].kind == "metro" and len(parent.parents) == 1:
                picked.setdefault(metro, e.id)
    buildings = sorted(picked.values())[:10]
    tl = Timeline()
    tl.probes(gen.probed(), 0, 10, failing=failing_sets((gen.below(*buildings), 3, 99)))
    decisions = replay(tmp_path, gen, tl)
    got = {o["root"]: o["severity"] for o in opened(decisions)}
    assert sorted(got) == buildings, show(decisions)
    subs = gen.index.subtree_subscribers
    for b in buildings:
        share = subs[b] / subs[elements[b].parents[0]]
        assert got[b] == ("S3" if share >= 0.3 else "S4"), (b, share)


def test_gen_every_building_down_under_an_answering_community_is_one_s3(tmp_path, gen):
    c = "c5"
    buildings = set(gen.below(c)) - {c}
    tl = Timeline()
    tl.probes(gen.probed(), 0, 10, failing=failing_sets((buildings, 3, 99)))
    decisions = replay(tmp_path, gen, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    final = decisions[-1]
    assert (final["root"], final["severity"]) == (c, "S3")
    assert final["affected_subscribers"] == gen.index.subtree_subscribers[c]


def test_gen_a_day_of_background_reports_opens_nothing(tmp_path, gen):
    rng = random.Random(5)
    subscribers = sorted(gen.index.topology.subscribers)
    categories = ["down"] * 5 + ["auth"] * 2 + ["slow", "intermittent", "website", "app", "game"]
    tl = Timeline()
    for _ in range(round(30000 * 3e-4 * 24)):
        minute = rng.uniform(0, 24 * 60)
        sub, category = rng.choice(subscribers), rng.choice(categories)
        tl.add(minute, kind="report", subscriber=sub, category=category)
        if rng.random() < 0.1:  # the same caller rings again
            tl.add(minute + rng.uniform(1, 20), kind="report", subscriber=sub, category=category)
    assert replay(tmp_path, gen, tl) == []


# ------------------------------------------------------------------- hand-written corners


@pytest.mark.parametrize(
    ("metro", "city_share", "severity"),
    [
        ("m-big", None, "S1"),
        ("m-small", None, "S2"),
        ("m-small", 0.3, "S1"),
        ("m-half", None, "S1"),  # exactly 50 %: "at least city_share"
    ],
)
def test_metro_holding_a_city_share_is_s1(tmp_path, metro, city_share, severity):
    elements = city_top(rest=0)
    if metro == "m-half":
        elements += [el("m-half", "metro", "core-1"), el("m-other", "metro", "core-1")]
        elements += community("half", "m-half", 5, 100) + community("other", "m-other", 5, 100)
    else:
        elements += [el("m-big", "metro", "core-1"), el("m-small", "metro", "core-1")]
        for i in range(3):
            elements += community(f"big-{i}", "m-big", buildings=4, subs=50)  # 600 of 1000
        for i in range(2):
            elements += community(f"small-{i}", "m-small", buildings=4, subs=50)  # 400
    extra = {} if city_share is None else {"city_share": city_share}
    net = write_net(tmp_path / "net", elements, **extra)
    tl = Timeline()
    tl.probes(net.probed(), 0, 10, failing=failing_sets((net.below(metro), 3, 99)))
    decisions = replay(tmp_path, net, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"]) == (metro, severity)
    assert span(o, "restore_by") == pytest.approx(60 if severity == "S1" else 240)
    assert span(o, "on_site_by") == pytest.approx(30 if severity == "S1" else 60)


@pytest.mark.parametrize(("kind", "cause", "hours"), [("fibre", "fibre", 6), ("power", "power", 4)])
def test_passive_element_feeding_two_communities_is_an_s2_root(tmp_path, kind, cause, hours):
    elements = [
        *city_top(),
        el("m1", "metro", "core-1"),
        el("feed", kind, "m1"),
        *community("ca", "feed"),
        *community("cb", "feed"),
        *community("cc", "m1"),
    ]
    net = write_net(tmp_path / "net", elements)
    tl = Timeline()
    tl.probes(net.probed(), 0, 10, failing=failing_sets((net.below("feed"), 3, 99)))
    decisions = replay(tmp_path, net, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    final = decisions[-1]
    assert (final["root"], final["cause"], final["severity"]) == ("feed", cause, "S2")
    assert sorted(final["communities"]) == ["ca", "cb"]
    assert span(final, "restore_by") == pytest.approx(hours * 60)
    assert span(final, "on_site_by") == pytest.approx(60)


@pytest.mark.parametrize(("down", "severity"), [(2, "S4"), (3, "S3")])
def test_large_area_boundary_is_thirty_percent_inclusive(tmp_path, down, severity):
    elements = [*city_top(), el("m1", "metro", "core-1"), *community("c1", "m1", 10, 10)]
    net = write_net(tmp_path / "net", elements)
    failed = {f"c1-b{i}" for i in range(1, down + 1)}
    tl = Timeline()
    tl.probes(net.probed(), 0, 10, failing=failing_sets((failed, 3, 99)))
    decisions = replay(tmp_path, net, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    final = decisions[-1]
    assert (final["root"], final["partial"], final["severity"]) == ("c1", True, severity)
    assert final["affected_subscribers"] == 10 * down


def splitter_net(tmp_path: Path) -> Net:
    elements = [
        *city_top(),
        el("m1", "metro", "core-1"),
        el("c1", "community", "m1"),
        el("sp", "splitter", "c1"),
        *(el(f"s{i}", "building", "sp", subs=40) for i in (1, 2, 3)),
        *(el(f"b{i}", "building", "c1", subs=40) for i in (1, 2, 3)),
    ]
    return write_net(tmp_path / "net", elements)


def test_splitter_with_every_branch_down_is_the_root_with_two_hours(tmp_path):
    net = splitter_net(tmp_path)
    tl = Timeline()
    tl.probes(net.probed(), 0, 10, failing=failing_sets(({"s1", "s2", "s3"}, 3, 99)))
    decisions = replay(tmp_path, net, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["cause"], o["severity"]) == ("sp", "splitter", "S3")  # 50 %
    assert span(o, "restore_by") == pytest.approx(120)


def test_splitter_with_one_branch_answering_is_not_the_root(tmp_path):
    net = splitter_net(tmp_path)
    tl = Timeline()
    tl.probes(net.probed(), 0, 10, failing=failing_sets(({"s1", "s2"}, 3, 99)))
    decisions = replay(tmp_path, net, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    final = decisions[-1]
    assert (final["root"], final["partial"]) == ("c1", True), show(decisions)
    assert set(final["parts"]) >= {"s1", "s2"}
    assert final["severity"] == "S3"  # 80 of 240 subscribers: 33 %, a large area


def test_non_contract_fibre_cut_has_no_restore_deadline(tmp_path):
    elements = [
        *city_top(),
        el("m1", "metro", "core-1"),
        *community("c1", "m1", buildings=2),
        el("c1-f", "fibre", "c1", contract=False),
        el("c1-f-b1", "building", "c1-f", subs=40),
        el("c1-f-b2", "building", "c1-f", subs=40),
    ]
    net = write_net(tmp_path / "net", elements)
    tl = Timeline()
    tl.probes(net.probed(), 0, 10, failing=failing_sets((net.below("c1-f"), 3, 99)))
    decisions = replay(tmp_path, net, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["cause"], o["severity"]) == ("c1-f", "fibre", "S3")  # 80 of 160
    assert o["restore_by"] is None


def test_deep_access_chain_roots_at_the_highest_failing_switch_and_regrows(tmp_path):
    elements = [
        *city_top(),
        el("m1", "metro", "core-1"),
        *community("c1", "m1", buildings=2),
        el("a1", "access", "c1-b1", subs=5),
    ]
    elements += [el(f"a{i}", "access", f"a{i - 1}", subs=5) for i in range(2, 9)]
    net = write_net(tmp_path / "net", elements)
    fail = failing_sets((net.below("a4"), 3, 99), (net.below("a2"), 12, 99))
    tl = Timeline()
    tl.probes(net.probed(), 0, 20, failing=fail)
    decisions = replay(tmp_path, net, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"], o["affected_elements"]) == ("a4", "S4", 5)
    assert (decisions[-1]["root"], decisions[-1]["affected_elements"]) == ("a2", 7)


def test_community_without_buildings_is_s3_from_probes_or_reports(tmp_path):
    elements = [
        *city_top(),
        el("m1", "metro", "core-1"),
        el("solo", "community", "m1", subs=60),
        el("dark", "community", "m1", subs=60, silent=True),
        *community("c1", "m1"),
    ]
    net = write_net(tmp_path / "net", elements)
    tl = Timeline()
    tl.probes(net.probed(), 0, 15, failing=lambda e, t: e == "solo" and t >= 3)
    tl.reports(net.subs("dark", 8), 4, 5, code=678)
    decisions = replay(tmp_path, net, tl)
    roots = {o["root"]: o for o in opened(decisions)}
    assert set(roots) == {"solo", "dark"}, show(decisions)
    assert roots["solo"]["severity"] == roots["dark"]["severity"] == "S3"
    assert (roots["solo"]["confidence"], roots["dark"]["confidence"]) == (1.0, 0.8)


def test_element_without_subscribers_down_is_still_an_s4(tmp_path):
    elements = [
        *city_top(),
        el("m1", "metro", "core-1"),
        *community("c1", "m1"),
        el("c1-spare", "building", "c1", subs=0),
    ]
    net = write_net(tmp_path / "net", elements)
    tl = Timeline()
    tl.probes(net.probed(), 0, 10, failing=lambda e, t: e == "c1-spare" and t >= 3)
    decisions = replay(tmp_path, net, tl)
    (o,) = opened(decisions)
    assert (o["root"], o["severity"], o["affected_subscribers"]) == ("c1-spare", "S4", 0)


def test_community_without_subscribers_partial_failure_is_one_outage(tmp_path):
    elements = [*city_top(), el("m1", "metro", "core-1"), *community("c0", "m1", subs=0)]
    net = write_net(tmp_path / "net", elements)
    tl = Timeline()
    tl.probes(net.probed(), 0, 10, failing=failing_sets(({"c0-b1", "c0-b2"}, 3, 99)))
    decisions = replay(tmp_path, net, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    assert decisions[-1]["root"] == "c0" and decisions[-1]["partial"]


@pytest.mark.parametrize(
    ("metro_probed", "root", "severity"), [(False, "c1", "S3"), (True, "m1", "S2")]
)
def test_metro_with_a_single_community(tmp_path, metro_probed, root, severity):
    elements = [
        *city_top(),
        el("m1", "metro", "core-1", silent=not metro_probed),
        *community("c1", "m1", buildings=4),
        el("m2", "metro", "core-1"),
        *community("c2", "m2"),
    ]
    net = write_net(tmp_path / "net", elements)
    tl = Timeline()
    tl.probes(net.probed(), 0, 10, failing=failing_sets((net.below("m1"), 3, 99)))
    decisions = replay(tmp_path, net, tl)
    assert len(ids(decisions)) == 1, show(decisions)
    final = decisions[-1]
    assert (final["root"], final["severity"]) == (root, severity)


@pytest.mark.parametrize(("failed", "roots"), [(3, ["m1"]), (2, ["c0", "c1"])])
def test_silent_metro_is_inferred_only_when_nothing_below_answers(tmp_path, failed, roots):
    elements = [*city_top(), el("m1", "metro", "core-1", silent=True)]
    for i in range(3):
        elements += community(f"c{i}", "m1")
    net = write_net(tmp_path / "net", elements)
    down = net.below(*(f"c{i}" for i in range(failed)))
    tl = Timeline()
    tl.probes(net.probed(), 0, 10, failing=failing_sets((down, 3, 99)))
    decisions = replay(tmp_path, net, tl)
    got = sorted(o["root"] for o in opened(decisions))
    assert got == roots, show(decisions)
    if roots == ["m1"]:
        (o,) = opened(decisions)
        assert (o["severity"], o["confidence"]) == ("S2", 0.9)
    else:
        assert {o["severity"] for o in opened(decisions)} == {"S3"}


def auth_storm(net: Net, communities: list[str]) -> Timeline:
    tl = Timeline()
    tl.probes(net.probed(), 0, 20)
    for i, c in enumerate(communities):
        tl.reports(net.subs(c, 3), 5 + i * 0.2, 4, code=691)
    return tl


def test_auth_storm_with_two_platforms_opens_one_s1_at_a_platform(tmp_path):
    elements = [*city_top(platforms=2), el("m1", "metro", "core-1")]
    for i in range(6):
        elements += community(f"c{i}", "m1")
    net = write_net(tmp_path / "net", elements)
    decisions = replay(tmp_path, net, auth_storm(net, [f"c{i}" for i in range(6)]))
    (o,) = opened(decisions)
    assert o["root"] in ("aaa-1", "aaa-2") and o["severity"] == "S1"


def test_auth_storm_without_a_platform_blames_no_access_element(tmp_path):
    elements = [*city_top(platforms=0), el("m1", "metro", "core-1")]
    for i in range(6):
        elements += community(f"c{i}", "m1")
    net = write_net(tmp_path / "net", elements)
    decisions = replay(tmp_path, net, auth_storm(net, [f"c{i}" for i in range(6)]))
    blamed = {d["root"] for d in decisions}
    assert not {r for r in blamed if net.kind(r) not in ("core", "egress", "platform")}, show(
        decisions
    )
