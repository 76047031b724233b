"""The subscriber directory and the lookup's pure parts: address splitting, ranking,
phones, default messages; on the shipped example and on a 10^6-subscriber city."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from outaged.classify.scope import Scope
from outaged.directory.address import Address, parse
from outaged.directory.index import Directory, phone_key
from outaged.directory.lookup import Open, message, say
from outaged.outages.lifecycle import State
from outaged.outages.model import Outage, Status
from outaged.records.model import Record
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from outaged.topology.model import Severity, Topology
from outaged.zones import parse_zone

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def example() -> Topology:
    return load_topology(ROOT / "topology.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("华苑小区3号楼2单元501室", Address("华苑小区", "3", "2", "501")),
        ("华苑 3栋 501", Address("华苑", "3", "", "501")),
        ("华苑小区", Address("华苑小区")),
        ("华苑小区 3-2-501", Address("华苑小区", "3", "2", "501")),
        ("华苑3号2单元501", Address("华苑", "3", "2", "501")),
        ("迎宾路88号华苑小区1号楼1单元101室", Address("迎宾路88号华苑小区", "1", "1", "101")),
        ("华苑小区 ０３号楼", Address("华苑小区", "3")),
        ("翠竹苑2幢3单元", Address("翠竹苑", "2", "3")),
        ("3号楼2单元", Address("", "3", "2")),
    ],
)
def test_addresses_split_into_place_building_unit_room(text: str, expected: Address) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "key"),
    [("139 0000 0001", "13900000001"), ("+86-139-0000-0001", "13900000001"),
     ("008613900000001", "13900000001"), ("022-2345 6789", "02223456789")],
)  # fmt: skip
def test_phone_keys_are_digits_without_the_country_prefix(text: str, key: str) -> None:
    assert phone_key(text) == key


def test_example_city_by_id_phone_and_partial_address(example: Topology) -> None:
    d = Directory(example)
    assert [m.subscriber for m in d.by_id("HY-03-0001").matches] == ["HY-03-0001"]
    assert d.by_id("nobody").total == 0
    assert [m.subscriber for m in d.by_phone("139-0000-0181").matches] == ["HY-03-0001"]
    found = d.by_address("华苑 3号楼 1单元 101")
    assert [m.subscriber for m in found.matches] == ["HY-03-0001"]
    # the 单元 left out: every unit's room 101 of that building
    found = d.by_address("华苑小区3号楼101室")
    assert found.total == len({example.subscriber_details[m.subscriber][0] for m in found.matches})
    assert all("3号楼" in m.address and m.address.endswith("101室") for m in found.matches)
    # a character missing inside the 小区名 still finds the community, ranked lower
    typo = d.by_address("华苑区 3号楼 1单元 101")
    assert typo.matches and typo.matches[0].subscriber == "HY-03-0001"
    assert typo.matches[0].score < found.matches[0].score
    assert d.by_address("3号楼").total == 0  # no place text: nothing to narrow by


def test_a_named_part_the_address_lacks_ranks_lower(example: Topology) -> None:
    details = dict(example.subscriber_details)
    details["HY-01-0001"] = ("华苑小区1号楼", "", "")  # no unit or room on file
    d = Directory(dataclasses.replace(example, subscriber_details=details))
    found = d.by_address("华苑小区1号楼1单元102室")
    # HY-01-0002 is that room; HY-01-0001's address does not say its unit or room: maybe
    assert [m.subscriber for m in found.matches] == ["HY-01-0002", "HY-01-0001"]
    assert found.matches[0].score > found.matches[1].score


def test_one_phone_several_subscribers(example: Topology) -> None:
    details = dict(example.subscriber_details)
    details["HY-01-0002"] = (details["HY-01-0002"][0], "13900000001", "")
    d = Directory(dataclasses.replace(example, subscriber_details=details))
    assert {m.subscriber for m in d.by_phone("13900000001").matches} == {"HY-01-0001", "HY-01-0002"}


def test_a_million_subscribers_by_id_phone_and_partial_address(example: Topology) -> None:
    """The example network with 10^6 subscribers hung off its buildings."""
    buildings = [e for e in example.elements.values() if e.kind.value == "building"]
    subscribers: dict[str, str] = {}
    details: dict[str, tuple[str, str, str]] = {}
    for i in range(1_000_000):
        b = buildings[i % len(buildings)]
        sub = f"S{i:07d}"
        subscribers[sub] = b.id
        unit, room = i // len(buildings) % 6 + 1, i // (len(buildings) * 6)
        details[sub] = (f"{b.name}{unit}单元{room}室", f"13{i:09d}", "")
    big = dataclasses.replace(example, subscribers=subscribers, subscriber_details=details)
    d = Directory(big)
    probe = "S0777777"
    address, phone, _ = details[probe]
    assert [m.subscriber for m in d.by_id(probe).matches] == [probe]
    assert [m.subscriber for m in d.by_phone(phone).matches] == [probe]
    assert [m.subscriber for m in d.by_address(address).matches] == [probe]
    place, _, rest = address.partition("号楼")
    partial = d.by_address(f"{place[:2]} {place[-1]}号楼 {rest.split('单元')[0]}单元", limit=5)
    assert partial.total > 1000 and len(partial.matches) == 5
    assert all(subscribers[m.subscriber] == subscribers[probe] for m in partial.matches)


def _open(state: State, eta: float | None, written: str | None = None) -> Open:
    scope = Scope(True, 1, 112, ("hy-01",), (), ("comm-hy",))
    outage = Outage(
        id=7, root="hy-01", status=Status.OPEN, severity=Severity.S4, occurred_at=T0,
        opened_at=T0, first_report_at=T0, restore_by=T0 + 7200, on_site_by=T0 + 3600,
        scope=scope, confidence=1.0, reason="", evidence=("hy-01",),
    )  # fmt: skip
    return Open(outage, Record(7, state=state, eta=eta, external_message=written))


T0 = 1_764_650_000.0  # 2025-12-02 12:33:20 +08:00


@pytest.mark.parametrize(
    ("state", "eta", "now", "zh", "en"),
    [
        (State.DISPATCHED, None, T0, "预计 14:33 前恢复", "back by 14:33"),  # the deadline
        (State.DISPATCHED, T0 + 600, T0, "预计 12:43 前恢复", "back by 12:43"),  # the estimate
        (State.ON_SITE, T0 + 600, T0, "已在现场抢修", "on site"),
        (State.DISPATCHED, T0 + 600, T0 + 900, "将尽快恢复", "as soon as possible"),  # overdue
        (State.RESTORED, None, T0, "已修复", "has been repaired"),
    ],
)
def test_default_messages_follow_the_state_and_the_restore_time(
    example: Topology, state: State, eta: float | None, now: float, zh: str, en: str
) -> None:
    index = GraphIndex.build(example)
    tz = parse_zone("Asia/Shanghai")
    text = message(_open(state, eta), index, now, tz)
    assert zh in text["zh-CN"] and "华苑小区1号楼" in text["zh-CN"]
    assert en in text["en"]
    said = say(7, text)
    assert said["zh-CN"] == f"在故障 7 范围内，请告知来电用户：{text['zh-CN']}"
    assert said["en"] == f"inside outage 7, tell the caller: {text['en']}"


def test_a_written_message_wins_and_carries_the_estimate(example: Topology) -> None:
    index = GraphIndex.build(example)
    tz = parse_zone("Asia/Shanghai")
    text = message(_open(State.DIAGNOSED, T0 + 600, "光缆中断，正在抢修。"), index, T0, tz)
    assert text["zh-CN"] == "光缆中断，正在抢修。预计 12:43 前恢复。"
    assert "12:43" in text["en"]  # no English text written: the default, with the time
