"""topology.yaml loading: the shipped example, every kind of error, CSV inputs."""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path

import pytest

from bench.gen_topology import generate
from outaged.errors import InputError, Problem, TopologyError
from outaged.topology.load import load_topology
from outaged.topology.model import (
    PASSIVE_KINDS,
    Kind,
    Severity,
    Thresholds,
    Topology,
    display_name,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "topology"

# A small valid document, section by section; a case appends lines to sections.
SECTIONS = {
    "top": "version: 1\nname: test\n",
    "people": "people:\n  - {id: ann, name: Ann}\n  - {id: bob, name: Bob}\n",
    "areas": (
        "areas:\n"
        "  - {id: city, name: City, interface: ann, roster: [bob]}\n"
        "  - {id: west, name: West, interface: bob}\n"
    ),
    "leadership": "leadership:\n  - {person: ann, severities: [S1]}\n",
    "service_centres": (
        "service_centres:\n  - {id: sc, name: SC, contacts: [bob], communities: [comm]}\n"
    ),
    "call_centre": "call_centre:\n  - bob\n",
    "thresholds": "thresholds:\n  down_after: 3\n",
    "elements": (
        "elements:\n"
        "  - {id: core, kind: core, area: city, address: 127.0.0.1}\n"
        "  - {id: metro, kind: metro, parents: [core], area: west}\n"
        "  - {id: comm, kind: community, parents: [metro]}\n"
        "  - {id: b1, kind: building, parents: [comm], subscribers: 10}\n"
    ),
}


def render(add: dict[str, str], drop: tuple[str, ...] = ()) -> str:
    return "".join(
        ("" if name in drop else text) + add.get(name, "") for name, text in SECTIONS.items()
    )


def write(tmp_path: Path, text: str, name: str = "topology.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, marker: str) -> int:
    [line] = [i for i, row in enumerate(text.splitlines(), 1) if marker in row]
    return line


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    return info.value.problems


def test_the_minimal_document_is_valid(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, render({})))
    assert set(topology.elements) == {"core", "metro", "comm", "b1"}


# (case id, lines appended per section, sections dropped,
#  expected problems as (marker on the reported line, field, message fragment))
ERROR_CASES: list[tuple[str, dict[str, str], tuple[str, ...], list[tuple[str, str, str]]]] = [
    ("unknown top-level key", {"top": "colour: blue  #A\n"}, (),
     [("#A", "colour", "unknown key")]),
    ("wrong version", {"top": "version: 2  #A\n"}, ("top",),
     [("#A", "version", "expected 1, got int 2")]),
    ("missing element id", {"elements": "  - {kind: building, parents: [comm]}  #A\n"}, (),
     [("#A", "elements[4].id", "missing")]),
    ("missing element kind", {"elements": "  - {id: b2, parents: [comm]}  #A\n"}, (),
     [("#A", "elements[4].kind", "missing")]),
    ("ill-typed parents", {"elements": "  - {id: b2, kind: building, parents: comm}  #A\n"}, (),
     [("#A", "elements[4].parents", "expected a list, got str 'comm'")]),
    ("unknown element key",
     {"elements": "  - {id: b2, kind: building, parents: [comm], parent: x}  #A\n"}, (),
     [("#A", "elements[4].parent", "unknown key")]),
    ("bad kind", {"elements": "  - {id: b2, kind: house, parents: [comm]}  #A\n"}, (),
     [("#A", "elements[4].kind", "unknown kind 'house'")]),
    ("unknown parent",
     {"elements": "  - {id: b2, kind: building, parents: [comm, nowhere]}  #A\n"}, (),
     [("#A", "elements[4].parents", "unknown parent 'nowhere'")]),
    ("parent listed twice",
     {"elements": "  - {id: b2, kind: building, parents: [comm, comm]}  #A\n"}, (),
     [("#A", "elements[4].parents", "parent 'comm' listed twice")]),
    ("non-root kind without parents",
     {"elements": "  - {id: b2, kind: building, area: city}  #A\n"}, (),
     [("#A", "elements[4].parents", "a building element needs parents")]),
    ("unreachable subtree",
     {"elements": "  - {id: c2, kind: community, area: west}  #A\n"
                  "  - {id: b9, kind: building, parents: [c2]}\n"}, (),
     [("#A", "elements[4].parents", "a community element needs parents"),
      ("#A", "elements[4].parents",
       "'c2' and 1 element(s) below it (b9) are not reachable from any root")]),
    ("unknown area",
     {"elements": "  - {id: b2, kind: building, parents: [comm], area: mars}  #A\n"}, (),
     [("#A", "elements[4].area", "unknown area 'mars'")]),
    ("root without area", {"elements": "  - {id: eg, kind: egress}  #A\n"}, (),
     [("#A", "elements[4].area", "missing")]),
    ("passive-only chain is fine",
     {"elements": "  - {id: pw, kind: power, parents: [comm]}\n"
                  "  - {id: f1, kind: fibre, parents: [pw]}\n"
                  "  - {id: b2, kind: building, parents: [f1], address: 127.0.0.1}  #A\n"}, (),
     [("#A", "elements[6].address", "address 127.0.0.1 is already 'core''s")]),
    ("bad address",
     {"elements": "  - {id: b2, kind: building, parents: [comm], address: 127.0.0.256}  #A\n"},
     (), [("#A", "elements[4].address", "'127.0.0.256' is not an IPv4 or IPv6 address")]),
    ("address on a passive element",
     {"elements": "  - {id: f1, kind: fibre, parents: [comm], address: 127.0.0.9}  #A\n"}, (),
     [("#A", "elements[4].address", "a fibre element is passive")]),
    ("negative subscribers",
     {"elements": "  - {id: b2, kind: building, parents: [comm], subscribers: -3}  #A\n"}, (),
     [("#A", "elements[4].subscribers", "expected a whole number >= 0, got int -3")]),
    ("non-integer subscribers",
     {"elements": "  - {id: b2, kind: building, parents: [comm], subscribers: 2.5}  #A\n"}, (),
     [("#A", "elements[4].subscribers", "expected a whole number >= 0, got float 2.5")]),
    ("contract not a boolean",
     {"elements": "  - {id: b2, kind: building, parents: [comm], contract: maybe}  #A\n"}, (),
     [("#A", "elements[4].contract", "expected true or false")]),
    ("unknown interface person",
     {"areas": "  - {id: south, name: South, interface: nobody}  #A\n"}, (),
     [("#A", "areas[2].interface", "unknown person 'nobody'")]),
    ("unknown roster person",
     {"areas": "  - {id: south, name: South, interface: ann, roster: [bob, nobody]}  #A\n"}, (),
     [("#A", "areas[2].roster", "unknown person 'nobody'")]),
    ("unknown manager",
     {"areas": "  - {id: south, name: South, interface: ann, manager: nobody}  #A\n"}, (),
     [("#A", "areas[2].manager", "unknown person 'nobody'")]),
    ("unknown leadership person",
     {"leadership": "  - {person: nobody, severities: [S2]}  #A\n"}, (),
     [("#A", "leadership[1].person", "unknown person 'nobody'")]),
    ("bad severity name",
     {"leadership": "  - {person: bob, severities: [S2, S9]}  #A\n"}, (),
     [("#A", "leadership[1].severities", "unknown severity 'S9'")]),
    ("unknown service centre contact",
     {"service_centres": "  - {id: sc2, name: SC2, contacts: [nobody], communities: [comm]}  #A\n"},
     (), [("#A", "service_centres[1].contacts", "unknown person 'nobody'")]),
    ("service centre community that is a building",
     {"service_centres": "  - {id: sc2, name: SC2, contacts: [bob], communities: [b1]}  #A\n"},
     (), [("#A", "service_centres[1].communities", "'b1' is a building element, not a community")]),
    ("service centre community that does not exist",
     {"service_centres": "  - {id: sc2, name: SC2, contacts: [bob], communities: [xx]}  #A\n"},
     (), [("#A", "service_centres[1].communities", "unknown element 'xx'")]),
    ("unknown call centre person", {"call_centre": "  - nobody  #A\n"}, (),
     [("#A", "call_centre", "unknown person 'nobody'")]),
    ("bad list items are located one by one", {"call_centre": "  - 5  #A\n  - nobody  #B\n"}, (),
     [("#A", "call_centre[1]", "expected a non-empty string, got int 5"),
      ("#B", "call_centre", "unknown person 'nobody'")]),
    ("unknown person language", {"people": "  - {id: cy, name: Cy, lang: fr}  #A\n"}, (),
     [("#A", "people[2].lang", "unknown language 'fr'")]),
    ("duplicate person", {"people": "  - {id: ann, name: Ann Again}  #A\n"}, (),
     [("#A", "people[2].id", "duplicate person id 'ann' (first at line 4)")]),
    ("duplicate YAML key", {"thresholds": "  down_after: 4  #A\n"}, (),
     [("#A", "down_after", "duplicate key (first at line")]),
    ("section that is not a list", {"leadership": "leadership: everyone  #A\n"}, ("leadership",),
     [("#A", "leadership", "expected a list, got str 'everyone'")]),
    ("entry that is not a mapping", {"people": "  - carol  #A\n"}, (),
     [("#A", "people[2]", "expected a mapping, got str 'carol'")]),
    ("thresholds that are not a mapping", {"thresholds": "thresholds: 5  #A\n"}, ("thresholds",),
     [("#A", "thresholds", "expected a mapping, got int 5")]),
    ("unknown threshold", {"thresholds": "  down_afterr: 3  #A\n"}, (),
     [("#A", "thresholds.down_afterr", "unknown threshold")]),
    ("threshold of the wrong type", {"thresholds": "  up_after: 1.5  #A\n"}, (),
     [("#A", "thresholds.up_after", "expected a whole number, got float 1.5")]),
    ("threshold that is not a number", {"thresholds": "  city_share: half  #A\n"}, (),
     [("#A", "thresholds.city_share", "expected a number, got str 'half'")]),
    ("threshold boolean", {"thresholds": "  city_share: true  #A\n"}, (),
     [("#A", "thresholds.city_share", "expected a number, got bool True")]),
    ("share above 1", {"thresholds": "  city_share: 1.5  #A\n"}, (),
     [("#A", "thresholds.city_share", "must be in (0, 1], got 1.5")]),
    ("share of 0", {"thresholds": "  spike_min_share: 0  #A\n"}, (),
     [("#A", "thresholds.spike_min_share", "must be in (0, 1], got 0")]),
    ("negative duration", {"thresholds": "  flap_window_s: -1  #A\n"}, (),
     [("#A", "thresholds.flap_window_s", "must be a finite number > 0")]),
    ("count below 1", {"thresholds": "  up_after: 0  #A\n"}, (),
     [("#A", "thresholds.up_after", "must be at least 1, got 0")]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("add", "drop", "expected"),
    [pytest.param(add, drop, expected, id=name) for name, add, drop, expected in ERROR_CASES],
)
def test_each_error_is_reported_with_file_line_and_field(
    tmp_path: Path,
    add: dict[str, str],
    drop: tuple[str, ...],
    expected: list[tuple[str, str, str]],
) -> None:
    text = render(add, drop)
    path = write(tmp_path, text)
    problems = problems_of(path)
    assert len(problems) == len(expected), problems
    for problem, (marker, field, fragment) in zip(problems, expected, strict=True):
        assert problem.source == str(path)
        assert problem.line == line_of(text, marker)
        assert problem.field == field
        assert fragment in problem.message, problem.message


def test_duplicate_element_id_names_both_lines(tmp_path: Path) -> None:
    text = render({"elements": "  - {id: b1, kind: building, parents: [comm]}  #A\n"})
    path = write(tmp_path, text)
    [problem] = problems_of(path)
    assert (problem.line, problem.field) == (line_of(text, "#A"), "elements[4].id")
    first = line_of(text, "{id: b1, kind: building, parents: [comm], subscribers")
    assert f"duplicate element id 'b1' (first at {path}:{first})" in problem.message


def test_a_cycle_is_named_with_its_elements(tmp_path: Path) -> None:
    text = render(
        {
            "elements": "  - {id: x1, kind: building, parents: [x3]}  #A\n"
            "  - {id: x2, kind: building, parents: [x1]}\n"
            "  - {id: x3, kind: building, parents: [x2]}\n"
            "  - {id: x4, kind: access, parents: [x3]}\n"
        }
    )
    problems = problems_of(write(tmp_path, text))
    where = (line_of(text, "#A"), "elements[4].parents")
    assert [(p.line, p.field) for p in problems] == [where, where]
    assert "cycle: x1 -> x2 -> x3 -> x1" in problems[0].message
    # What hangs below the cycle is cut off too, and said once.
    assert "x4" in problems[1].message and "not reachable from any root" in problems[1].message


def test_an_element_that_is_its_own_parent_is_a_cycle(tmp_path: Path) -> None:
    text = render({"elements": "  - {id: x1, kind: building, parents: [comm, x1]}  #A\n"})
    [problem] = problems_of(write(tmp_path, text))
    assert problem.line == line_of(text, "#A")
    assert "cycle: x1 -> x1" in problem.message


def test_yaml_syntax_error_reports_file_and_line(tmp_path: Path) -> None:
    text = "version: 1\nelements:\n  - {id: core, kind: core\n  - {id: b1}\n"
    path = write(tmp_path, text)
    [problem] = problems_of(path)
    assert problem.source == str(path)
    assert problem.line == 4
    assert problem.message.startswith("YAML syntax: while parsing a flow mapping (line 3)")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a mapping at the top, got nothing"),
        ("- a\n- b\n", "expected a mapping at the top, got a list"),
    ],
)
def test_a_document_that_is_not_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    [problem] = problems_of(write(tmp_path, text))
    assert problem.message == message


def test_a_missing_yaml_file(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path / "nope.yaml")
    assert (problem.source, problem.line) == (str(tmp_path / "nope.yaml"), None)
    assert "cannot read" in problem.message


def test_several_errors_are_reported_at_once() -> None:
    path = FIXTURES / "several-errors.yaml"
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    got = [(p.source, p.line, p.field) for p in info.value.problems]
    assert got == [
        (str(path), 4, "colour"),
        (str(path), 6, "people[0].lang"),
        (str(path), 8, "areas[0].interface"),
        (str(path), 11, "elements[1].address"),
        (str(path), 12, "elements[2].parents"),
        (str(path), 13, "elements[3].address"),
        (str(path), 14, "elements[4].subscribers"),
        (str(path), 16, "thresholds.city_share"),
    ]
    # The exception's text is the list, one located problem per line.
    assert str(info.value).splitlines()[1] == (
        f"{path}:6: people[0].lang: unknown language 'fr' (expected one of: zh-CN, en)"
    )
    assert isinstance(info.value, InputError)


def test_csv_errors_report_the_csv_file_and_line() -> None:
    base = FIXTURES / "csv-errors"
    with pytest.raises(TopologyError) as info:
        load_topology(base / "topology.yaml")
    elements, subscribers = str(base / "elements.csv"), str(base / "subscribers.csv")
    got = [(p.source, p.line, p.field, p.message) for p in info.value.problems]
    assert got == [
        (elements, 5, "kind", "unknown kind 'house' (expected one of: core, egress, platform, "
         "metro, community, building, access, fibre, splitter, power)"),
        (elements, 6, "subscribers", "expected a whole number >= 0, got '-5'"),
        (elements, 7, "", "expected 5 columns, found 4"),
        (subscribers, 4, "subscriber", "duplicate subscriber 's1' (first at line 2)"),
        (subscribers, 5, "element", "unknown element 'ghost' (lines 5, 7)"),
        (subscribers, 6, "", "expected 2 columns, found 3"),
    ]  # fmt: skip


CITY_YAML = """\
version: 1
people: [{id: ann, name: Ann}]
areas:
  - {id: city, name: City, interface: ann}
  - {id: east, name: East, interface: ann}
elements:
  - {id: core, kind: core, area: city, address: 127.0.0.1}
elements_csv: [elements.csv]
subscribers_csv: subscribers.csv
"""
CITY_ELEMENTS = """\
id,kind,parents,area,subscribers,address,contract,name,snmp,uplinks
m1,metro,core,,,127.0.0.2,,北区汇聚,v2c,1;ge-0/0/2
m2,metro,core,east,,127.0.0.3,false,,,
c1,community,m2;m1,,,,,,,
c2,community,m1;m2,,,,true,,,
b1,building,c1,,,,,,,
b2,building,c2,,40,,,,,
"""


def write_city(tmp_path: Path, elements: str = CITY_ELEMENTS, subscribers: str = "") -> Path:
    write(tmp_path, elements, "elements.csv")
    write(tmp_path, "subscriber,element\n" + subscribers, "subscribers.csv")
    return write(tmp_path, CITY_YAML)


def test_csv_elements_load_with_every_column(tmp_path: Path) -> None:
    topology = load_topology(write_city(tmp_path))
    m1 = topology.elements["m1"]
    assert (m1.parents, m1.name, m1.snmp) == (("core",), "北区汇聚", "v2c")
    assert m1.uplinks == ("1", "ge-0/0/2")
    assert m1.line == 2 and topology.elements["core"].line == 7
    assert topology.elements["c1"].parents == ("m2", "m1")


def test_area_and_contract_are_inherited_from_the_first_parent(tmp_path: Path) -> None:
    elements = load_topology(write_city(tmp_path)).elements
    # m1 inherits from core; c1's first parent is m2 (east, no contract).
    assert (elements["m1"].area, elements["m1"].contract) == ("city", True)
    assert (elements["c1"].area, elements["c1"].contract) == ("east", False)
    assert (elements["b1"].area, elements["b1"].contract) == ("east", False)
    # c2's first parent is m1; an explicit value wins over inheritance.
    assert (elements["c2"].area, elements["c2"].contract) == ("city", True)
    assert elements["core"].contract is True


def test_subscriber_counts_come_from_the_csv_when_absent(tmp_path: Path) -> None:
    rows = "".join(f"s{i},b1\n" for i in range(7)) + "t1,b2\nt2,c1\n"
    topology = load_topology(write_city(tmp_path, subscribers=rows))
    counts = {e.id: e.subscribers for e in topology.elements.values()}
    assert counts == {"core": 0, "m1": 0, "m2": 0, "c1": 1, "c2": 0, "b1": 7, "b2": 40}
    assert topology.subscribers["s3"] == "b1" and len(topology.subscribers) == 9


def test_an_explicit_count_below_the_csv_rows_is_an_error(tmp_path: Path) -> None:
    rows = "".join(f"s{i},b2\n" for i in range(41))
    [problem] = problems_of(write_city(tmp_path, subscribers=rows))
    assert (problem.source, problem.line, problem.field) == (
        str(tmp_path / "elements.csv"), 7, "subscribers",
    )  # fmt: skip
    assert problem.message == "says 40, but the subscribers CSV maps 41"


def test_csv_with_a_byte_order_mark_and_quoted_cells(tmp_path: Path) -> None:
    write(tmp_path, "\ufeff" + CITY_ELEMENTS.replace("北区汇聚", '"北区, 汇聚"'), "elements.csv")
    write(tmp_path, '\ufeffsubscriber,element\n"s,1",b1\n', "subscribers.csv")
    topology = load_topology(write(tmp_path, CITY_YAML))
    assert topology.elements["m1"].name == "北区, 汇聚"
    assert topology.subscribers == {"s,1": "b1"}


@pytest.mark.parametrize(
    ("elements", "subscribers", "expected"),
    [
        ("id,kind,colour\n", "", ("elements.csv", 1, "colour", "unknown column")),
        ("kind,parents\n", "", ("elements.csv", 1, "", "header lacks column(s): id")),
        ("", "", ("elements.csv", 1, "", "empty file")),
        (CITY_ELEMENTS + "b1,building,c1,,,,,,,\n", "",
         ("elements.csv", 8, "id",
          "duplicate element id 'b1' (first at {dir}/elements.csv:6)")),
        (CITY_ELEMENTS + "b3,building,c1,,,,maybe,,,\n", "",
         ("elements.csv", 8, "contract", "expected true or false, got 'maybe'")),
        (CITY_ELEMENTS + "core,building,c1,,,,,,,\n", "",
         ("elements.csv", 8, "id", "duplicate element id 'core' (first at {dir}/topology.yaml:7)")),
        (CITY_ELEMENTS, ",b1\n", ("subscribers.csv", 2, "subscriber", "empty cell")),
    ],
)  # fmt: skip
def test_bad_csv_rows(
    tmp_path: Path, elements: str, subscribers: str, expected: tuple[str, int, str, str]
) -> None:
    [problem] = problems_of(write_city(tmp_path, elements, subscribers))
    name, line, field, message = expected
    assert (problem.source, problem.line, problem.field) == (str(tmp_path / name), line, field)
    assert message.format(dir=tmp_path) in problem.message


def test_subscribers_csv_with_a_bad_header(tmp_path: Path) -> None:
    write(tmp_path, CITY_ELEMENTS, "elements.csv")
    write(tmp_path, "id,where\ns1,b1\n", "subscribers.csv")
    [problem] = problems_of(write(tmp_path, CITY_YAML))
    assert (problem.source, problem.line) == (str(tmp_path / "subscribers.csv"), 1)
    assert problem.message == (
        "expected the header subscriber,element (then any of address,phone,name), got id,where"
    )


def test_subscribers_csv_optional_address_phone_name(tmp_path: Path) -> None:
    write(tmp_path, CITY_ELEMENTS, "elements.csv")
    rows = (
        "subscriber,element,phone,address\ns1,b1,139 0000 0001,华苑小区1号楼2单元301室\ns2,b1,,\n"
    )
    write(tmp_path, rows, "subscribers.csv")
    topology = load_topology(write(tmp_path, CITY_YAML))
    assert topology.subscribers == {"s1": "b1", "s2": "b1"}
    assert topology.subscriber_details == {"s1": ("华苑小区1号楼2单元301室", "139 0000 0001", "")}


@pytest.mark.parametrize(
    ("rows", "line", "field", "message"),
    [
        ("subscriber,element,mobile\ns1,b1,1\n", 1, "mobile", "unknown column 'mobile'"),
        ("subscriber,element,phone,phone\ns1,b1,1,2\n", 1, "phone", "column 'phone' appears"),
        ("subscriber,element,phone\ns1,b1,1\ns2,b1\n", 3, "", "expected 3 columns, found 2"),
        ("subscriber,element,phone\ns1,b1,1\ns1,b1,2\n", 3, "subscriber", "duplicate"),
    ],
)
def test_subscribers_csv_bad_optional_columns(
    tmp_path: Path, rows: str, line: int, field: str, message: str
) -> None:
    write(tmp_path, CITY_ELEMENTS, "elements.csv")
    write(tmp_path, rows, "subscribers.csv")
    [problem] = problems_of(write(tmp_path, CITY_YAML))
    assert (problem.line, problem.field) == (line, field)
    assert message in problem.message


@pytest.mark.parametrize("missing", ["elements.csv", "subscribers.csv"])
def test_a_missing_csv_file_is_reported_where_the_yaml_names_it(
    tmp_path: Path, missing: str
) -> None:
    path = write_city(tmp_path)
    (tmp_path / missing).unlink()
    [problem] = problems_of(path)
    key = "elements_csv" if missing == "elements.csv" else "subscribers_csv"
    assert problem.source == str(path)
    assert problem.line == line_of(CITY_YAML, f"{key}:")
    assert problem.field == ("elements_csv[0]" if key == "elements_csv" else key)
    assert f"cannot read {tmp_path / missing}: No such file or directory" == problem.message


def test_thresholds_override_the_defaults(tmp_path: Path) -> None:
    text = render(
        {"thresholds": "  city_share: 0.6\n  spike_p_value: 1e-7\n  flap_window_s: 600\n"}
    )
    thresholds = load_topology(write(tmp_path, text)).thresholds
    assert thresholds.down_after == 3 and thresholds.city_share == 0.6
    # YAML 1.1 reads 1e-7 as text; it is still the number meant.
    assert thresholds.spike_p_value == 1e-7
    assert thresholds.flap_window_s == 600.0 and isinstance(thresholds.flap_window_s, float)
    assert thresholds.up_after == Thresholds().up_after


def test_people_routing_and_element_fields_are_carried_over(tmp_path: Path) -> None:
    text = render(
        {
            "people": "  - {id: cy, name: Cy, email: cy@example.net, phone: 13800000000,"
            " webhook: 'https://example.net/hook', lang: en}\n",
            "elements": "  - {id: a1, kind: access, parents: [b1], address: '::1', snmp: v3,"
            " uplinks: [3, ge-0/0/1], name: 交换机, contract: false}\n",
        }
    )
    topology = load_topology(write(tmp_path, text))
    cy = topology.people["cy"]
    assert (cy.email, cy.phone, cy.webhook, cy.lang) == (
        "cy@example.net", "13800000000", "https://example.net/hook", "en",
    )  # fmt: skip
    assert topology.people["ann"].lang == "zh-CN"
    assert topology.areas["city"].roster == ("bob",)
    assert topology.leadership[0].severities == frozenset({Severity.S1})
    assert topology.service_centres["sc"].communities == ("comm",)
    assert topology.call_centre == ("bob",)
    a1 = topology.elements["a1"]
    assert (a1.address, a1.snmp, a1.uplinks, a1.name, a1.contract, a1.area) == (
        "::1", "v3", ("3", "ge-0/0/1"), "交换机", False, "west",
    )  # fmt: skip
    assert topology.source == str(tmp_path / "topology.yaml")


# -- the shipped example -------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> Topology:
    return load_topology(ROOT / "topology.yaml")


def _kids(topology: Topology) -> dict[str, list[str]]:
    kids: dict[str, list[str]] = {eid: [] for eid in topology.elements}
    for e in topology.elements.values():
        for p in e.parents:
            kids[p].append(e.id)
    return kids


def test_example_city_level(example: Topology) -> None:
    e = example.elements
    assert e["egress-1"].parents == () and e["core-1"].parents == ("egress-1",)
    assert e["aaa-1"].kind is Kind.PLATFORM
    metros = [x for x in e.values() if x.kind is Kind.METRO]
    assert len(metros) == 3 and all(m.parents == ("core-1",) for m in metros)


def test_example_communities_and_dual_homing(example: Topology) -> None:
    e, kids = example.elements, _kids(example)
    communities = [x for x in e.values() if x.kind is Kind.COMMUNITY]
    assert 10 <= len(communities) <= 14
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in c.name) for c in communities)
    dual = [c for c in communities if len(c.parents) == 2]
    assert len(dual) >= 2
    assert all({e[p].kind for p in c.parents} == {Kind.METRO} for c in dual)
    assert all(len(set(c.parents)) == 2 for c in dual)

    def buildings(eid: str) -> list[str]:
        out = []
        for kid in kids[eid]:
            if e[kid].kind is Kind.BUILDING:
                out.append(kid)
            elif e[kid].kind in PASSIVE_KINDS:
                out += buildings(kid)
        return out

    for c in communities:
        assert 3 <= len(buildings(c.id)) <= 6, c.id
    for b in (x for x in e.values() if x.kind is Kind.BUILDING):
        served = b.subscribers + sum(e[k].subscribers for k in kids[b.id])
        assert 30 <= served <= 200, b.id


def test_example_passive_elements(example: Topology) -> None:
    e, kids = example.elements, _kids(example)
    fibres = [x for x in e.values() if x.kind is Kind.FIBRE]
    fed = sorted(len(kids[f.id]) for f in fibres)
    assert fed[0] == 1 and fed[-1] >= 2
    assert all(e[k].kind is Kind.BUILDING for f in fibres for k in kids[f.id])
    powers = [x for x in e.values() if x.kind is Kind.POWER]
    assert any(e[k].kind is Kind.COMMUNITY for p in powers for k in kids[p.id])
    assert all(x.address is None for x in e.values() if x.passive)


def test_example_addresses_are_loopback_only(example: Topology) -> None:
    addresses = [x.address for x in example.elements.values() if x.address is not None]
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("127.0.0.0/8") for a in addresses)
    probed = [x for x in example.elements.values() if not x.passive]
    for kind in (Kind.CORE, Kind.EGRESS, Kind.PLATFORM, Kind.METRO, Kind.COMMUNITY, Kind.ACCESS):
        assert all(x.address for x in probed if x.kind is kind), kind
    buildings = [x for x in probed if x.kind is Kind.BUILDING]
    assert 0 < sum(x.address is None for x in buildings) < len(buildings) / 4
    assert any(x.kind is Kind.ACCESS for x in probed)


def test_example_people_and_routing(example: Topology) -> None:
    assert 3 <= len(example.areas) <= 4
    for area in example.areas.values():
        assert len(area.roster) == 2 and area.manager is not None
        assert area.interface not in area.roster
    langs = Counter(p.lang for p in example.people.values())
    assert langs["zh-CN"] > 0 and langs["en"] > 0
    domains = {p.email.split("@")[1] for p in example.people.values() if p.email}
    assert domains == {"example.com", "example.net"}
    s1_only = [r for r in example.leadership if r.severities == {Severity.S1}]
    branch = [r for r in example.leadership if r.severities == set(Severity) - {Severity.S4}]
    assert len(s1_only) == 1 and len(branch) >= 1
    covered = {c for sc in example.service_centres.values() for c in sc.communities}
    assert covered == {x.id for x in example.elements.values() if x.kind is Kind.COMMUNITY}
    assert example.call_centre
    assert {x.area for x in example.elements.values()} == set(example.areas)


def test_example_contract_and_subscribers(example: Topology) -> None:
    assert [x.id for x in example.elements.values() if not x.contract]
    assert 2000 <= len(example.subscribers) <= 9000
    counts = Counter(example.subscribers.values())
    assert all(example.elements[eid].subscribers == n for eid, n in counts.items())
    assert {example.elements[eid].kind for eid in counts} == {Kind.BUILDING, Kind.ACCESS}
    assert sum(x.subscribers for x in example.elements.values()) == len(example.subscribers)


# -- the bench generator -------------------------------------------------------


def test_the_generated_network_loads_and_has_the_promised_shape(tmp_path: Path) -> None:
    path = generate(tmp_path / "a", elements=3000, subscribers=20000, seed=3)
    topology = load_topology(path)
    assert len(topology.elements) == 3000 and len(topology.subscribers) == 20000
    kinds = Counter(e.kind for e in topology.elements.values())
    assert kinds[Kind.METRO] == 20 and kinds[Kind.FIBRE] > 0 and kinds[Kind.ACCESS] > 0
    communities = [e for e in topology.elements.values() if e.kind is Kind.COMMUNITY]
    dual = sum(len(c.parents) == 2 for c in communities) / len(communities)
    assert 0.05 < dual < 0.15
    again = generate(tmp_path / "b", elements=3000, subscribers=20000, seed=3)
    for name in ("topology.yaml", "elements.csv", "subscribers.csv"):
        assert (path.parent / name).read_bytes() == (again.parent / name).read_bytes()


# -- docs/topology.md stays true -----------------------------------------------


def _blocks(markdown: str, lang: str) -> list[str]:
    parts = markdown.split(f"```{lang}\n")[1:]
    return [part.split("```", 1)[0] for part in parts]


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "topology.md").read_text(encoding="utf-8")
    write(tmp_path, _blocks(doc, "csv")[0], "subscribers.csv")
    topology = load_topology(write(tmp_path, _blocks(doc, "yaml")[0]))
    e = topology.elements
    assert e["comm-hy"].parents == ("metro-n", "metro-e") and e["comm-hy"].area == "north"
    assert e["hy-03"].contract is False and e["hy-04"].subscribers == 80
    assert e["hy-01"].subscribers == 1 and e["acc-hy-01-1"].subscribers == 1


def test_the_documented_thresholds_are_the_model_defaults() -> None:
    doc = (ROOT / "docs" / "topology.md").read_text(encoding="utf-8")
    section = doc.split("## thresholds", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| `")]
    documented = {key.strip().strip("`"): float(default) for key, default in rows}
    defaults = Thresholds()
    assert documented == {f: float(getattr(defaults, f)) for f in Thresholds.__dataclass_fields__}


# ---- display names and the display time zone -----------------------------------------


def test_display_names_in_both_languages_for_elements_areas_people(tmp_path: Path) -> None:
    text = render(
        {
            "top": "timezone: Asia/Shanghai\n",
            "people": "  - {id: zl, name: 赵磊, name_en: Zhao Lei}\n",
            "areas": "  - {id: north, name: 北区, name_en: North, interface: zl}\n",
            "elements": "  - {id: b2, kind: building, parents: [comm], name: 三号楼, "
            "name_en: Building 3}\n",
        }
    )
    topology = load_topology(write(tmp_path, text))
    assert topology.timezone == "Asia/Shanghai"
    assert (topology.people["zl"].name, topology.people["zl"].name_en) == ("赵磊", "Zhao Lei")
    assert (topology.areas["north"].name, topology.areas["north"].name_en) == ("北区", "North")
    b2 = topology.elements["b2"]
    assert (b2.name, b2.name_en) == ("三号楼", "Building 3")
    assert display_name(b2.id, b2.name, b2.name_en, "zh-CN") == "三号楼"
    assert display_name(b2.id, b2.name, b2.name_en, "en") == "Building 3"
    assert display_name("b1", "一号楼", "", "en") == "一号楼"  # falls back to name
    assert display_name("b1", "", "", "zh-CN") == "b1"  # then to the id
    assert display_name("b1", "", "Building 1", "zh-CN") == "Building 1"


def test_csv_elements_may_carry_an_english_name(tmp_path: Path) -> None:
    elements = CITY_ELEMENTS.replace(",uplinks\n", ",uplinks,name_en\n", 1)
    rows = elements.splitlines()
    rows = [rows[0]] + [row + ("," + "North aggregation" if i == 0 else ",") for i, row in
                        enumerate(rows[1:])]  # fmt: skip
    topology = load_topology(write_city(tmp_path, "\n".join(rows) + "\n"))
    m1 = topology.elements["m1"]
    assert (m1.name, m1.name_en) == ("北区汇聚", "North aggregation")
    assert topology.elements["m2"].name_en == ""


def test_timezone_is_optional_and_an_unknown_zone_is_named(tmp_path: Path) -> None:
    assert load_topology(write(tmp_path, render({}))).timezone is None
    text = render({"top": "timezone: Mars/Olympus\n"})
    path = write(tmp_path, text)
    assert problems_of(path) == [
        Problem(
            str(path),
            line_of(text, "timezone"),
            "timezone",
            "unknown time zone 'Mars/Olympus' (an IANA name such as Asia/Shanghai)",
        )
    ]


def test_the_shipped_example_has_names_in_both_languages_and_shanghai_time() -> None:
    topology = load_topology(ROOT / "topology.yaml")
    assert topology.timezone == "Asia/Shanghai"
    hy3 = topology.elements["hy-03"]
    assert (hy3.name, hy3.name_en) == ("华苑小区3号楼", "Huayuan Estate building 3")
    assert topology.areas["north"].name == "北区" and topology.people["zhao.lei"].name == "赵磊"
    for element in topology.elements.values():
        assert element.name and element.name_en, element.id
    for area in topology.areas.values():
        assert area.name and area.name_en, area.id
    for person in topology.people.values():
        assert person.name and (person.name_en or person.name.isascii()), person.id
