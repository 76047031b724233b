"""Routing table tests: areas, on-duty shifts, severities, communities (SPEC §5)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from outaged.dispatch.routing import duty_order, next_on_roster, on_shift, route
from outaged.errors import TopologyError
from outaged.outages.engine import Engine
from outaged.outages.lifecycle import Action
from outaged.records.actions import ActionRequest
from outaged.records.ledger import Ledger
from outaged.signals import ManualFault
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from outaged.topology.model import Area, Element, Kind, Severity, Shift, Topology

SHANGHAI = ZoneInfo("Asia/Shanghai")
EXAMPLE = Path(__file__).resolve().parent.parent / "topology.yaml"


def at(text: str, tz: ZoneInfo = SHANGHAI) -> float:
    """A local wall-clock time ("2026-12-07 09:00" is a Monday) as POSIX seconds."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=tz).timestamp()


DAY = Shift(frozenset(range(5)), time(8, 30), time(17, 30))  # weekdays 08:30-17:30
NIGHT = Shift(frozenset(range(5)), time(17, 30), time(8, 30))  # past midnight
WEEKEND = Shift(frozenset({5, 6}), time(0, 0), time(0, 0))  # whole days


@pytest.mark.parametrize(
    ("shift", "when", "on"),
    [
        (DAY, "2026-12-07 09:00", True),  # Monday morning
        (DAY, "2026-12-07 08:29", False),
        (DAY, "2026-12-07 17:30", False),  # the end is not inside
        (DAY, "2026-12-12 10:00", False),  # Saturday
        (NIGHT, "2026-12-07 23:00", True),  # Monday night
        (NIGHT, "2026-12-08 03:00", True),  # Tuesday 03:00 belongs to Monday's night
        (NIGHT, "2026-12-07 03:00", False),  # Monday 03:00 would be Sunday's night: none
        (NIGHT, "2026-12-12 03:00", True),  # Saturday 03:00: Friday's night
        (NIGHT, "2026-12-12 09:00", False),
        (WEEKEND, "2026-12-13 23:59", True),  # Sunday
        (WEEKEND, "2026-12-14 00:00", False),  # Monday
    ],
)
def test_shift_membership(shift: Shift, when: str, on: bool) -> None:
    assert on_shift(shift, datetime.fromtimestamp(at(when), SHANGHAI)) is on


AREA = Area(
    "north",
    "North",
    interface="zhao",
    roster=("sun", "zhou", "qian"),
    manager="huang",
    shifts={"zhao": (DAY,), "sun": (NIGHT, WEEKEND), "zhou": (WEEKEND,)},
)


@pytest.mark.parametrize(
    ("when", "order"),
    [
        ("2026-12-07 10:00", ["zhao", "qian", "sun", "zhou"]),  # Monday day: zhao on duty
        ("2026-12-07 22:00", ["sun", "qian", "zhao", "zhou"]),  # Monday night: sun
        ("2026-12-12 10:00", ["sun", "zhou", "qian", "zhao"]),  # Saturday: sun and zhou
    ],
)
def test_the_interface_person_is_whoever_is_on_duty_then_the_roster_in_order(
    when: str, order: list[str]
) -> None:
    assert duty_order(AREA, at(when), SHANGHAI) == order


def test_shifts_are_read_in_the_configured_time_zone() -> None:
    # 02:00 UTC on Tuesday is 10:00 in Shanghai: zhao's day shift, not sun's night.
    moment = at("2026-12-08 02:00", ZoneInfo("UTC"))
    assert duty_order(AREA, moment, SHANGHAI)[0] == "zhao"
    assert duty_order(AREA, moment, UTC)[0] == "sun"  # the same moment read as UTC


@pytest.fixture(scope="module")
def example() -> Topology:
    return load_topology(EXAMPLE)


@pytest.mark.parametrize(
    ("root", "severity", "communities", "interface", "leaders", "centres"),
    [
        # Core fault, S1: backbone area; every leader including the GM.
        ("core-1", Severity.S1, [], "li.qiang", ["liu.yang", "he.ping", "guo.wei"], []),
        # A metro, S2, touching communities of two centres.
        (
            "metro-n",
            Severity.S2,
            ["comm-hy", "comm-lh", "comm-df"],
            "zhao.lei",
            ["liu.yang", "he.ping"],
            ["lin.na", "tang.yu"],
        ),
        # One community, S3: branch leadership and its service centre.
        ("comm-js", Severity.S3, ["comm-js"], "wu.min", ["liu.yang", "he.ping"], ["luo.bin"]),
        # A building, S4: only the area (no leadership), plus its service centre.
        ("hy-01", Severity.S4, ["comm-hy"], "zhao.lei", [], ["lin.na"]),
    ],
)
def test_route_by_area_severity_and_communities(
    example: Topology,
    root: str,
    severity: Severity,
    communities: list[str],
    interface: str,
    leaders: list[str],
    centres: list[str],
) -> None:
    r = route(example, root, severity, communities, at("2026-12-07 10:00"), SHANGHAI)
    assert r.interface == interface
    assert list(r.leaders) == leaders
    assert list(r.service_centres) == centres
    assert r.call_centre == ("callcentre", "callcentre.lead")
    assert r.manager == "huang.jun"


def test_next_on_roster_follows_the_duty_order() -> None:
    empty = Topology({}, {}, {}, (), {}, {})
    nobody = route(empty, "x", Severity.S4, [], 0.0, UTC)  # unknown element: no area
    assert nobody.interface is None and next_on_roster(nobody, None) is None
    topo = Topology(
        elements={"b": Element("b", Kind.BUILDING, (), "north")},
        areas={"north": AREA},
        people={},
        leadership=(),
        service_centres={},
        subscribers={},
    )
    r = route(topo, "b", Severity.S4, [], at("2026-12-07 10:00"), SHANGHAI)
    assert next_on_roster(r, "zhao") == "qian"  # the next one on duty (sun and zhou are off)
    assert next_on_roster(r, "zhou") is None  # the end of the roster
    assert next_on_roster(r, "stranger") == "zhao"


def _topology(tmp_path: Path, area_extra: str, top_extra: str = "") -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(
        "version: 1\n" + top_extra + "people:\n"
        "  - {id: a, name: A}\n"
        "  - {id: b, name: B}\n"
        "areas:\n"
        "  - id: x\n"
        "    name: X\n"
        "    interface: a\n"
        "    roster: [b]\n" + area_extra + "leadership:\n"
        "  - {person: b}\n"
        "elements:\n"
        "  - {id: e, kind: core, area: x}\n",
        encoding="utf-8",
    )
    return path


def test_shifts_and_defaults_load_from_topology_yaml(tmp_path: Path) -> None:
    path = _topology(
        tmp_path,
        "    shifts:\n"
        '      a: [{days: [mon-fri], from: "08:30", to: "17:30"}]\n'
        '      b: [{days: [sat, sun], from: "00:00", to: "24:00"}]\n',
        "timezone: Asia/Shanghai\nnoc: [b]\n",
    )
    topo = load_topology(path)
    assert topo.areas["x"].shifts == {"a": (DAY,), "b": (WEEKEND,)}
    assert topo.timezone == "Asia/Shanghai" and topo.noc == ("b",)
    # a leadership rule without severities: S1-S3 (S4 reaches only the area)
    assert topo.leadership[0].severities == {Severity.S1, Severity.S2, Severity.S3}


def test_bad_shifts_are_named_with_file_and_line(tmp_path: Path) -> None:
    path = _topology(
        tmp_path,
        "    shifts:\n"
        "      a: [{days: [mon-fry], from: 20:00, to: '25:00'}]\n"
        "      c: [{days: [mon], from: '08:00', to: '09:00'}]\n",
        "timezone: Mars/Olympus\n",
    )
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    text = str(caught.value)
    assert f"{path}:2: timezone: unknown time zone 'Mars/Olympus'" in text
    assert f"{path}:12: areas[0].shifts.a[0].days: unknown day 'mon-fry'" in text
    assert f"{path}:12: areas[0].shifts.a[0].from: expected a time" in text  # 20:00 is 1200
    assert f"{path}:12: areas[0].shifts.a[0].to: expected a time" in text
    assert f"{path}:13: areas[0].shifts.c: 'c' is not this area's interface or roster" in text


def _ledger(tmp_path: Path, shifts: str) -> Ledger:
    path = tmp_path / "topology.yaml"
    path.write_text(
        "version: 1\ntimezone: Asia/Shanghai\nnoc: [noc]\ncall_centre: [cc]\n"
        "people:\n"
        + "".join(
            f"  - {{id: {p}, name: {p}}}\n" for p in ("day", "night", "boss", "noc", "cc", "sc")
        )
        + "areas:\n"
        "  - {id: a, name: A, interface: day, roster: [night], manager: boss,\n"
        f"     shifts: {shifts}}}\n"
        "leadership:\n  - {person: boss}\n"
        "service_centres:\n  - {id: s, name: S, contacts: [sc], communities: [c1]}\n"
        "elements:\n"
        "  - {id: core, kind: core, area: a}\n"
        "  - {id: c1, kind: community, parents: [core], subscribers: 100}\n",
        encoding="utf-8",
    )
    return Ledger(Engine(GraphIndex.build(load_topology(path)), first_id=1))


def _notices(ledger: Ledger) -> dict[str, tuple[str, ...]]:
    return {n.why: n.to for n in ledger.drain().notices}


def test_the_ledger_dispatches_to_whoever_is_on_duty_and_tells_everyone_concerned(
    tmp_path: Path,
) -> None:
    shifts = '{day: [{days: [mon-fri], from: "08:00", to: "20:00"}]}'
    for when, interface in (("2026-12-07 10:00", "day"), ("2026-12-07 22:00", "night")):
        ledger = _ledger(tmp_path, shifts)
        now = at(when)
        ledger.engine.ingest(ManualFault(now, "c1", note="power"))
        ledger.decide(now)
        told = _notices(ledger)
        assert told["dispatch"] == (interface,), when
        assert ledger.records[1].assignee == interface
        assert told["noc"] == ("noc",)  # asked to help judge
        assert told["service_centre"] == ("sc",)  # c1 is its community
        assert told["leadership"] == ("boss",)  # S3: branch leadership
        request = ActionRequest(Action.DIAGNOSE, {"external_message": "停电，今晚恢复"})
        ledger.act(1, ActionRequest(Action.ACK), interface, now + 60)
        ledger.act(1, ActionRequest(Action.ARRIVE), interface, now + 120)
        ledger.drain()
        ledger.act(1, request, interface, now + 180)
        assert _notices(ledger) == {"external_message": ("cc",)}  # the call centre
