"""Load topology.yaml, and the CSV files it names, into a validated Topology.

Every problem is collected, with its file, line and field, before anything
is raised: one run shows them all. Loading only ever returns a new object,
so a caller that gets `TopologyError` still holds whatever it had before.
The file format is described in docs/topology.md.
"""

from __future__ import annotations

import csv
import ipaddress
import math
import os
import socket
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import time as dt_time
from operator import itemgetter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from outaged.bulk import collector_paused
from outaged.errors import Problem, TopologyError
from outaged.topology.model import (
    CITY_KINDS,
    PASSIVE_KINDS,
    Area,
    Element,
    Kind,
    LeadershipRule,
    Person,
    ServiceCentre,
    Severity,
    Shift,
    Thresholds,
    Topology,
)
from outaged.topology.shifts import parse_clock, parse_days
from outaged.topology.yamlsrc import YamlList, YamlMap, read_yaml

VERSION = 1
ELEMENT_FIELDS = (
    "id",
    "kind",
    "parents",
    "area",
    "subscribers",
    "address",
    "contract",
    "name",
    "snmp",
    "uplinks",
    "name_en",
)  # also the columns an elements CSV may have
SUBSCRIBER_COLUMNS = ("subscriber", "element")
SUBSCRIBER_DETAILS = ("address", "phone", "name")  # optional columns after the two
LANGS = ("zh-CN", "en")

_TOP_KEYS = frozenset(
    {
        "version",
        "name",
        "subscribers_csv",
        "elements_csv",
        "thresholds",
        "people",
        "areas",
        "leadership",
        "service_centres",
        "call_centre",
        "noc",
        "elements",
        "timezone",
    }
)
_PERSON_KEYS = frozenset({"id", "name", "name_en", "email", "phone", "webhook", "lang"})
_AREA_KEYS = frozenset(
    {"id", "name", "name_en", "interface", "roster", "manager", "area_manager", "shifts"}
)
_SHIFT_KEYS = frozenset({"days", "from", "to"})
DEFAULT_LEADERSHIP = frozenset({Severity.S1, Severity.S2, Severity.S3})
_LEADERSHIP_KEYS = frozenset({"person", "severities"})
_CENTRE_KEYS = frozenset({"id", "name", "name_en", "contacts", "communities"})
_ELEMENT_KEYS = frozenset(ELEMENT_FIELDS)
_KINDS = {k.value: k for k in Kind}
_SEVERITIES = {s.value: s for s in Severity}
_CSV_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_THRESHOLD_DEFAULTS = {f.name: f.default for f in fields(Thresholds)}
# Shares and probabilities; every other threshold is a count or a duration > 0.
_UNIT_THRESHOLDS = frozenset(
    {
        "spike_min_share",
        "spike_p_value",
        "spike_hold_p_value",
        "spike_spread_share",
        "auth_prior_share",
        "infer_share",
        "large_area_share",
        "city_share",
        "degraded_confidence",
    }
)
_LISTED = 5  # names quoted in a message before "and N more"


def load_topology(path: str | os.PathLike[str]) -> Topology:
    """Read and validate a topology; raise TopologyError listing every problem."""
    source = os.fspath(path)
    doc, problems = read_yaml(path, source)
    if doc is None and problems:  # unreadable; an empty file goes on to say so
        raise TopologyError(problems)
    builder = _Builder(source, Path(source).parent, problems)
    with collector_paused():
        topology = builder.build(doc)
    if topology is None or builder.problems:
        raise TopologyError(sorted(builder.problems, key=builder.order))
    return topology


def _clock(g: _Fields, key: str) -> dt_time | None:
    value = g.node.get(key)
    if value is None:
        g.bad(key, "missing")
        return None
    found = parse_clock(value)
    if found is None:
        g.bad(key, f'expected a time "HH:MM" in quotes, got {_show(value)}')
    return found


def _show(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, YamlMap):
        return "a mapping"
    if isinstance(value, YamlList):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown if len(names) <= _LISTED else f"{shown} and {len(names) - _LISTED} more"


@dataclass(slots=True)
class _Draft:
    """An element as written, before inheritance; `area`/`contract` None = inherit."""

    id: str
    kind: Kind | None  # None: the kind was invalid (already reported)
    parents: tuple[str, ...]
    area: str | None
    subscribers: int | None
    address: str | None
    contract: bool | None
    name: str
    snmp: str | None
    uplinks: tuple[str, ...]
    name_en: str
    source: str
    line: int
    prefix: str  # "elements[3]." in the YAML, "" in a CSV (the field is the column)
    key_lines: YamlMap | None  # YAML only: where each field was written
    sound: bool  # False: a field was invalid (reported); skip checks that would echo it

    def where(self, field: str) -> tuple[str, int, str]:
        line = self.line if self.key_lines is None else self.key_lines.line_of(field)
        return self.source, line, self.prefix + field


class _Fields:
    """Typed reads from one YAML mapping; each bad field becomes a problem."""

    def __init__(
        self, builder: _Builder, node: YamlMap, prefix: str, allowed: frozenset[str]
    ) -> None:
        self.b = builder
        self.node = node
        self.prefix = prefix
        for key in node:
            if key not in allowed:
                self.bad(key, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def bad(self, key: object, message: str) -> None:
        self.b.add(self.node.line_of(key), f"{self.prefix}{key}", message)

    def ident(self, key: str, *, required: bool = False) -> str | None:
        value = self.node.get(key)
        if value is None:
            if required:
                self.bad(key, "missing")
            return None
        if not isinstance(value, str) or not value:
            self.bad(key, f"expected a non-empty string, got {_show(value)}")
            return None
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        """Free text; a number is taken as written (phone: 13800138000)."""
        value = self.node.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return self.ident(key, required=required)

    def idents(self, key: str, *, required: bool = False, numbers: bool = False) -> list[str]:
        return [item for item, _ in self.located(key, required=required, numbers=numbers)]

    def located(
        self, key: str, *, required: bool = False, numbers: bool = False
    ) -> list[tuple[str, int]]:
        """A list of strings, each with the line it is written on."""
        value = self.node.get(key)
        if value is None:
            if required:
                self.bad(key, "missing")
            return []
        if not isinstance(value, YamlList):
            self.bad(key, f"expected a list, got {_show(value)}")
            return []
        out: list[tuple[str, int]] = []
        for i, item in enumerate(value):
            if numbers and isinstance(item, int) and not isinstance(item, bool):
                item = str(item)
            if isinstance(item, str) and item:
                out.append((item, value.line_of(i)))
            else:
                self.b.add(
                    value.line_of(i),
                    f"{self.prefix}{key}[{i}]",
                    f"expected a non-empty string, got {_show(item)}",
                )
        if required and not value:
            self.bad(key, "must not be empty")
        return out

    def count(self, key: str) -> int | None:
        value = self.node.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            self.bad(key, f"expected a whole number >= 0, got {_show(value)}")
            return None
        return value

    def flag(self, key: str) -> bool | None:
        value = self.node.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.bad(key, f"expected true or false, got {_show(value)}")
        return None


class _Builder:
    def __init__(self, source: str, base: Path, problems: list[Problem]) -> None:
        self.source = source
        self.base = base
        self.problems = problems
        self.people: dict[str, Person] = {}
        self.areas: dict[str, Area] = {}
        self.drafts: dict[str, _Draft] = {}
        self.addresses: dict[str, str] = {}  # normalised address -> element id

    def add(self, line: int | None, field: str, message: str, source: str | None = None) -> None:
        self.problems.append(Problem(source or self.source, line, field, message))

    def order(self, p: Problem) -> tuple[bool, str, int]:
        return p.source != self.source, p.source, p.line or 0

    # -- the document ---------------------------------------------------------

    def build(self, doc: Any) -> Topology | None:
        if not isinstance(doc, YamlMap):
            self.add(None, "", f"expected a mapping at the top, got {_show(doc)}")
            return None
        top = _Fields(self, doc, "", _TOP_KEYS)
        version = doc.get("version")
        if version != VERSION or isinstance(version, bool):
            top.bad("version", f"expected {VERSION}, got {_show(version)}")
        top.text("name")
        timezone = self.read_timezone(top)
        self.people = self.read_people(doc)
        self.areas = self.read_areas(doc)
        leadership = self.read_leadership(doc)
        call_centre = self.person_list(top, "call_centre")
        noc = self.person_list(top, "noc")
        thresholds = self.read_thresholds(doc)

        for i, node in self.entries(doc, "elements"):
            self.keep(self.yaml_element(node, i))
        for i, (csv_rel, line) in enumerate(top.located("elements_csv")):
            for draft in self.csv_elements(csv_rel, (line, f"elements_csv[{i}]")):
                self.keep(draft)
        subscribers: dict[str, str] = {}
        details: dict[str, tuple[str, str, str]] = {}
        subs_rel = top.ident("subscribers_csv")
        if subs_rel is not None:
            subscribers, details = self.read_subscribers(subs_rel, doc.line_of("subscribers_csv"))
        mapped = Counter(subscribers.values())
        if subs_rel is not None and any(e not in self.drafts for e in mapped):
            self.unknown_elements(subscribers, str(self.base / subs_rel))
        _share_ids(subscribers, self.drafts)
        if not self.drafts:
            self.add(doc.line, "elements", "no elements defined")
        elements = self.resolve(mapped)
        centres = self.read_centres(doc)
        return Topology(
            elements=elements,
            areas=self.areas,
            people=self.people,
            leadership=tuple(leadership),
            service_centres=centres,
            subscribers=subscribers,
            subscriber_details=details,
            thresholds=thresholds,
            call_centre=tuple(call_centre),
            noc=tuple(noc),
            source=self.source,
            timezone=timezone,
        )

    def read_timezone(self, top: _Fields) -> str | None:
        zone = top.ident("timezone")
        if zone is None:
            return None
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            top.bad("timezone", f"unknown time zone {zone!r} (an IANA name such as Asia/Shanghai)")
            return None
        return zone

    def entries(self, doc: YamlMap, key: str) -> Iterator[tuple[int, YamlMap]]:
        """The mappings of a top-level list; anything else in it is reported."""
        value = doc.get(key)
        if value is None:
            return
        if not isinstance(value, YamlList):
            self.add(doc.line_of(key), key, f"expected a list, got {_show(value)}")
            return
        for i, item in enumerate(value):
            if isinstance(item, YamlMap):
                yield i, item
            else:
                self.add(value.line_of(i), f"{key}[{i}]", f"expected a mapping, got {_show(item)}")

    def unique(self, seen: dict[str, int], ident: str, f: _Fields, what: str) -> bool:
        line = f.node.line_of("id")
        if ident in seen:
            f.bad("id", f"duplicate {what} id {ident!r} (first at line {seen[ident]})")
            return False
        seen[ident] = line
        return True

    # -- people and routing ---------------------------------------------------

    def read_people(self, doc: YamlMap) -> dict[str, Person]:
        people: dict[str, Person] = {}
        seen: dict[str, int] = {}
        for i, node in self.entries(doc, "people"):
            f = _Fields(self, node, f"people[{i}].", _PERSON_KEYS)
            pid, name = f.ident("id", required=True), f.text("name", required=True)
            email, phone, webhook = f.text("email"), f.text("phone"), f.text("webhook")
            lang = f.text("lang") or LANGS[0]
            name_en = f.text("name_en") or ""
            if email is not None and "@" not in email:
                f.bad("email", f"{email!r} is not an e-mail address")
            if webhook is not None and not webhook.startswith(("http://", "https://")):
                f.bad("webhook", f"{webhook!r} is not an http(s) URL")
            if lang not in LANGS:
                f.bad("lang", f"unknown language {lang!r} (expected one of: {', '.join(LANGS)})")
            if pid is not None and name is not None and self.unique(seen, pid, f, "person"):
                people[pid] = Person(pid, name, email, phone, webhook, lang, name_en)
        return people

    def person(self, f: _Fields, key: str, *, required: bool = False) -> str | None:
        pid = f.ident(key, required=required)
        if pid is not None and pid not in self.people:
            f.bad(key, f"unknown person {pid!r}")
        return pid

    def person_list(self, f: _Fields, key: str, *, required: bool = False) -> list[str]:
        pids = f.located(key, required=required)
        for pid, line in pids:
            if pid not in self.people:
                self.add(line, f"{f.prefix}{key}", f"unknown person {pid!r}")
        return [pid for pid, _ in pids]

    def read_areas(self, doc: YamlMap) -> dict[str, Area]:
        areas: dict[str, Area] = {}
        seen: dict[str, int] = {}
        for i, node in self.entries(doc, "areas"):
            f = _Fields(self, node, f"areas[{i}].", _AREA_KEYS)
            aid, name = f.ident("id", required=True), f.text("name", required=True)
            interface = self.person(f, "interface", required=True)
            roster = self.person_list(f, "roster")
            manager = self.person(f, "manager")
            area_manager = self.person(f, "area_manager")
            name_en = f.text("name_en") or ""
            shifts = self.read_shifts(f, node, {p for p in (interface, *roster) if p})
            if aid is None or name is None or interface is None:
                continue
            if self.unique(seen, aid, f, "area"):
                areas[aid] = Area(
                    aid, name, interface, tuple(roster), manager, name_en, shifts, area_manager
                )
        return areas

    def read_shifts(
        self, f: _Fields, node: YamlMap, people: set[str]
    ) -> dict[str, tuple[Shift, ...]]:
        """`shifts: {person: [{days: [mon-fri], from: "08:00", to: "20:00"}, ...]}`."""
        value = node.get("shifts")
        if value is None:
            return {}
        if not isinstance(value, YamlMap):
            f.bad("shifts", f"expected a mapping of person id to shifts, got {_show(value)}")
            return {}
        found: dict[str, tuple[Shift, ...]] = {}
        for pid in value:
            where = f"{f.prefix}shifts.{pid}"
            if pid not in people:
                self.add(
                    value.line_of(pid), where, f"{pid!r} is not this area's interface or roster"
                )
                continue
            items = value[pid]
            if not isinstance(items, YamlList) or not items:
                self.add(
                    value.line_of(pid), where, f"expected a list of shifts, got {_show(items)}"
                )
                continue
            shifts = [
                self.read_shift(item, f"{where}[{i}]", value.line_of(pid))
                for i, item in enumerate(items)
            ]
            if all(s is not None for s in shifts):
                found[str(pid)] = tuple(s for s in shifts if s is not None)
        return found

    def read_shift(self, item: Any, where: str, line: int | None) -> Shift | None:
        if not isinstance(item, YamlMap):
            self.add(line, where, f"expected {{days, from, to}}, got {_show(item)}")
            return None
        g = _Fields(self, item, f"{where}.", _SHIFT_KEYS)
        days: set[int] = set()
        for token, at in g.located("days", required=True):
            span = parse_days(token)
            if span is None:
                self.add(
                    at, f"{where}.days", f"unknown day {token!r} (mon..sun, or a range mon-fri)"
                )
            days |= span or set()
        start, end = _clock(g, "from"), _clock(g, "to")
        if not days or start is None or end is None:
            return None
        return Shift(frozenset(days), start, end)

    def read_leadership(self, doc: YamlMap) -> list[LeadershipRule]:
        rules: list[LeadershipRule] = []
        for i, node in self.entries(doc, "leadership"):
            f = _Fields(self, node, f"leadership[{i}].", _LEADERSHIP_KEYS)
            pid = self.person(f, "person", required=True)
            severities: set[Severity] = set()
            if "severities" not in node:  # SPEC §5: leadership hears of S1-S3 by default
                severities |= DEFAULT_LEADERSHIP
            for name in f.idents("severities"):
                if name in _SEVERITIES:
                    severities.add(_SEVERITIES[name])
                else:
                    expected = ", ".join(_SEVERITIES)
                    f.bad("severities", f"unknown severity {name!r} (expected {expected})")
            if pid is not None and severities:
                rules.append(LeadershipRule(pid, frozenset(severities)))
        return rules

    def read_centres(self, doc: YamlMap) -> dict[str, ServiceCentre]:
        centres: dict[str, ServiceCentre] = {}
        seen: dict[str, int] = {}
        for i, node in self.entries(doc, "service_centres"):
            f = _Fields(self, node, f"service_centres[{i}].", _CENTRE_KEYS)
            cid, name = f.ident("id", required=True), f.text("name", required=True)
            contacts = self.person_list(f, "contacts", required=True)
            communities = f.located("communities", required=True)
            name_en = f.text("name_en") or ""
            for eid, line in communities:
                draft = self.drafts.get(eid)
                if draft is None:
                    message = f"unknown element {eid!r}"
                elif draft.kind not in (Kind.COMMUNITY, None):
                    message = f"{eid!r} is a {draft.kind} element, not a community"
                else:
                    continue
                self.add(line, f"{f.prefix}communities", message)
            if cid is not None and name is not None and self.unique(seen, cid, f, "centre"):
                ids = tuple(eid for eid, _ in communities)
                centres[cid] = ServiceCentre(cid, name, tuple(contacts), ids, name_en)
        return centres

    def read_thresholds(self, doc: YamlMap) -> Thresholds:
        value = doc.get("thresholds")
        if value is None:
            return Thresholds()
        if not isinstance(value, YamlMap):
            self.add(
                doc.line_of("thresholds"), "thresholds", f"expected a mapping, got {_show(value)}"
            )
            return Thresholds()
        chosen: dict[str, Any] = {}
        for key, raw in value.items():
            line, field = value.line_of(key), f"thresholds.{key}"
            if key not in _THRESHOLD_DEFAULTS:
                self.add(line, field, "unknown threshold")
                continue
            number, message = _threshold(key, raw)
            if number is None:
                self.add(line, field, message)
            else:
                chosen[key] = number
        return replace(Thresholds(), **chosen)

    # -- elements -------------------------------------------------------------

    def yaml_element(self, node: YamlMap, index: int) -> _Draft | None:
        before = len(self.problems)
        f = _Fields(self, node, f"elements[{index}].", _ELEMENT_KEYS)
        eid = f.ident("id", required=True)
        kind_name = f.ident("kind", required=True)
        kind = None if kind_name is None else _KINDS.get(kind_name)
        if kind_name is not None and kind is None:
            f.bad("kind", _kind_message(kind_name))
        parents = tuple(f.idents("parents"))
        area, snmp, address = f.ident("area"), f.ident("snmp"), f.ident("address")
        subscribers, contract = f.count("subscribers"), f.flag("contract")
        name, name_en = f.text("name") or "", f.text("name_en") or ""
        uplinks = tuple(f.idents("uplinks", numbers=True))
        if eid is None:
            return None
        return _Draft(
            eid, kind, parents, area, subscribers, address, contract, name, snmp, uplinks,
            name_en, self.source, node.line, f.prefix, node, len(self.problems) == before,
        )  # fmt: skip

    def csv_elements(self, rel: str, where: tuple[int, str]) -> Iterator[_Draft]:
        path = self.base / rel
        source = str(path)
        try:
            f = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 (closed below)
        except OSError as exc:
            self.add(*where, f"cannot read {source}: {exc.strerror or exc}")
            return
        with f:
            reader = csv.reader(f)
            try:
                header = next(reader, None)
                columns = self.csv_header(header, source)
                if columns is None:
                    return
                width = len(columns)
                # Absent columns read the empty cell appended to every row.
                pick = itemgetter(*(columns.get(c, width) for c in ELEMENT_FIELDS))
                for row in reader:
                    if len(row) != width:
                        if row:  # a blank line is allowed
                            got = f"expected {width} columns, found {len(row)}"
                            self.add(reader.line_num, "", got, source)
                        continue
                    row.append("")
                    draft = self.csv_element(pick(row), source, reader.line_num)
                    if draft is not None:
                        yield draft
            except (csv.Error, UnicodeDecodeError) as exc:
                self.add(reader.line_num + 1, "", f"unreadable CSV: {exc}", source)

    def csv_header(self, header: list[str] | None, source: str) -> dict[str, int] | None:
        if not header:
            self.add(1, "", f"empty file; expected a header: {','.join(ELEMENT_FIELDS)}", source)
            return None
        columns: dict[str, int] = {}
        for i, name in enumerate(header):
            if name not in _ELEMENT_KEYS:
                self.add(1, name, f"unknown column (expected {','.join(ELEMENT_FIELDS)})", source)
            elif name in columns:
                self.add(1, name, "duplicate column", source)
            columns[name] = i
        missing = [c for c in ("id", "kind") if c not in columns]
        if missing:
            self.add(1, "", f"header lacks column(s): {', '.join(missing)}", source)
        return None if missing or len(columns) != len(header) else columns

    def csv_element(self, cells: tuple[str, ...], source: str, line: int) -> _Draft | None:
        before = len(self.problems)
        eid, kind_name, parents, area, subs, address, contract, name, snmp, uplinks, name_en = cells
        kind = _KINDS.get(kind_name)
        if kind is None:
            self.add(line, "kind", _kind_message(kind_name), source)
        subscribers = None
        if subs:
            if subs.isascii() and subs.isdigit():
                subscribers = int(subs)
            else:
                self.add(line, "subscribers", f"expected a whole number >= 0, got {subs!r}", source)
        flag = None
        if contract:
            flag = _CSV_BOOLS.get(contract.lower())
            if flag is None:
                self.add(line, "contract", f"expected true or false, got {contract!r}", source)
        if not eid:
            self.add(line, "id", "missing", source)
            return None
        return _Draft(
            eid, kind, tuple(parents.split(";")) if parents else (), area or None, subscribers,
            address or None, flag, name, snmp or None,
            tuple(uplinks.split(";")) if uplinks else (), name_en, source, line, "", None,
            len(self.problems) == before,
        )  # fmt: skip

    def keep(self, draft: _Draft | None) -> None:
        """Register an element: unique id, and a valid, unique address if it has one."""
        if draft is None:
            return
        first = self.drafts.get(draft.id)
        if first is not None:
            src, line, _ = first.where("id")
            self.flag(draft, "id", f"duplicate element id {draft.id!r} (first at {src}:{line})")
            return
        self.drafts[draft.id] = draft
        if draft.address is None:
            return
        if draft.kind in PASSIVE_KINDS:
            message = f"a {draft.kind} element is passive (not probed) and has no address"
            self.flag(draft, "address", message)
            return
        address = _canonical_address(draft.address)
        if address is None:
            self.flag(draft, "address", f"{draft.address!r} is not an IPv4 or IPv6 address")
            return
        owner = self.addresses.setdefault(address, draft.id)
        if owner != draft.id:
            self.flag(draft, "address", f"address {address} is already {owner!r}'s")
        draft.address = address

    def flag(self, draft: _Draft, field: str, message: str) -> None:
        source, line, name = draft.where(field)
        self.add(line, name, message, source)

    # -- subscribers ----------------------------------------------------------

    def read_subscribers(
        self, rel: str, key_line: int
    ) -> tuple[dict[str, str], dict[str, tuple[str, str, str]]]:
        """subscriber -> element, and subscriber -> (address, phone, name) when the
        file has any of those columns (rows with all three empty are left out)."""
        path = self.base / rel
        source = str(path)
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f)
                header = next(reader, None)
                columns = self.subscriber_header(header, source)
                if columns is None:
                    return {}, {}
                if len(columns) == len(SUBSCRIBER_COLUMNS):
                    try:
                        subscribers = dict(reader)  # the fast path: one C loop
                        rows = reader.line_num - 1
                    except ValueError:  # a row without exactly two cells
                        subscribers, rows = {}, -1
                    details: dict[str, tuple[str, str, str]] = {}
                else:
                    subscribers, details, rows = _with_details(list(reader), columns)
                if rows != len(subscribers) or "" in subscribers or "" in subscribers.values():
                    f.seek(0)
                    subscribers = self.subscriber_rows(csv.reader(f), source, len(columns))
                    details = {}
        except OSError as exc:
            self.add(key_line, "subscribers_csv", f"cannot read {source}: {exc.strerror or exc}")
            return {}, {}
        except (csv.Error, UnicodeDecodeError) as exc:
            self.add(None, "", f"unreadable CSV: {exc}", source)
            return {}, {}
        return subscribers, details

    def subscriber_header(self, header: list[str] | None, source: str) -> list[str] | None:
        expected = ",".join(SUBSCRIBER_COLUMNS)
        if header is None or header[:2] != list(SUBSCRIBER_COLUMNS):
            got = "nothing" if header is None else ",".join(header)
            optional = ",".join(SUBSCRIBER_DETAILS)
            message = f"expected the header {expected} (then any of {optional}), got {got}"
            self.add(1, "", message, source)
            return None
        extra = header[2:]
        bad = [c for c in extra if c not in SUBSCRIBER_DETAILS]
        twice = sorted({c for c in extra if extra.count(c) > 1})
        if bad or twice:
            message = (
                f"unknown column {bad[0]!r} (optional: {', '.join(SUBSCRIBER_DETAILS)})"
                if bad
                else f"column {twice[0]!r} appears twice"
            )
            self.add(1, bad[0] if bad else twice[0], message, source)
            return None
        return header

    def subscriber_rows(self, reader: Any, source: str, width: int) -> dict[str, str]:
        """The slow path, taken only when something is wrong: find the lines."""
        next(reader)
        subscribers: dict[str, str] = {}
        lines: dict[str, int] = {}
        for row in reader:
            line = reader.line_num
            if len(row) != width:
                if row:
                    self.add(line, "", f"expected {width} columns, found {len(row)}", source)
                continue
            sub, element = row[0], row[1]
            if not sub or not element:
                self.add(line, "subscriber" if not sub else "element", "empty cell", source)
            elif sub in lines:
                message = f"duplicate subscriber {sub!r} (first at line {lines[sub]})"
                self.add(line, "subscriber", message, source)
            else:
                subscribers[sub] = element
                lines[sub] = line
        return subscribers

    def unknown_elements(self, subscribers: dict[str, str], source: str) -> None:
        """Rare, so the file is read again to find the lines."""
        unknown = {e for e in set(subscribers.values()) if e not in self.drafts}
        rows: dict[str, list[str]] = {}
        with open(source, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            for row in reader:
                if len(row) >= 2 and row[1] in unknown and subscribers.get(row[0]) == row[1]:
                    rows.setdefault(row[1], []).append(str(reader.line_num))
        for element, lines in rows.items():
            first = int(lines[0])
            more = f" (lines {_listing(lines)})" if len(lines) > 1 else ""
            self.add(first, "element", f"unknown element {element!r}{more}", source)

    # -- the graph ------------------------------------------------------------

    def resolve(self, mapped: Counter[str]) -> dict[str, Element]:
        """Check parents, cycles and roots; inherit area and contract; build elements."""
        children, pending = self.link()
        order = [eid for eid, n in pending.items() if n == 0]
        for eid in order:  # Kahn's sort, growing while walked: parents before children
            for kid in children[eid]:
                pending[kid] -= 1
                if not pending[kid]:
                    order.append(kid)
        cycles = []
        if len(order) < len(pending):
            cycles = self.report_cycles({eid for eid, n in pending.items() if n})
        reached = self.inherit(order)
        if len(reached) < len(self.drafts):
            self.report_cut_off(children, [e for e in order if e not in reached] + cycles, reached)
        return self.elements(mapped)

    def link(self) -> tuple[dict[str, list[str]], dict[str, int]]:
        """Each element's children and number of known parents; bad references reported."""
        children: dict[str, list[str]] = {eid: [] for eid in self.drafts}
        pending = dict.fromkeys(self.drafts, 0)
        for eid, d in self.drafts.items():
            if d.area is not None and d.area not in self.areas:
                self.flag(d, "area", f"unknown area {d.area!r}")
            for i, p in enumerate(d.parents):
                kids = children.get(p)
                if kids is None:
                    self.flag(d, "parents", f"unknown parent {p!r}")
                elif i and p in d.parents[:i]:
                    self.flag(d, "parents", f"parent {p!r} listed twice")
                else:
                    kids.append(eid)
                    pending[eid] += 1
        return children, pending

    def report_cycles(self, stuck: set[str]) -> list[str]:
        """Walk up from each stuck element (each has a stuck parent) to find the cycles."""
        done: set[str] = set()
        members: list[str] = []
        for start in sorted(stuck, key=lambda e: self.drafts[e].line):
            path: dict[str, None] = {}
            eid = start
            while eid not in done and eid not in path:
                path[eid] = None
                eid = next(p for p in self.drafts[eid].parents if p in stuck)
            if eid in path:
                cycle = [*list(path)[list(path).index(eid) :], eid]
                members += cycle[:-1]
                message = f"cycle: {' -> '.join(reversed(cycle))} (each a parent of the next)"
                self.flag(self.drafts[eid], "parents", message)
            done.update(path)
        return members

    def inherit(self, order: list[str]) -> set[str]:
        """Parents first: check roots, find what reaches one, inherit area and contract."""
        reached: set[str] = set()
        for eid in order:
            d = self.drafts[eid]
            if not d.parents:
                if d.contract is None:
                    d.contract = True
                if not d.sound:  # e.g. a misspelt "parents": taken as a root, quietly
                    reached.add(eid)
                    continue
                if d.kind in CITY_KINDS:
                    reached.add(eid)
                else:
                    kinds = ", ".join(sorted(CITY_KINDS))
                    self.flag(d, "parents", f"a {d.kind} element needs parents; roots are {kinds}")
                if d.area is None:
                    self.flag(d, "area", "missing (a root has no parent to inherit it from)")
                continue
            first = self.drafts.get(d.parents[0])  # None: an unknown parent, reported
            if first is not None:
                if d.area is None:
                    d.area = first.area
                if d.contract is None:
                    d.contract = first.contract
            if not reached.isdisjoint(d.parents):
                reached.add(eid)
        return reached

    def report_cut_off(
        self, children: dict[str, list[str]], heads: list[str], reached: set[str]
    ) -> None:
        """Every element cut off from the roots lies below a problem already reported
        (no parents, unknown parents, a cycle): name each group once, at its head."""
        for head in heads:
            if head in reached:
                continue
            group = [head]
            reached.add(head)
            for eid in group:
                for kid in children[eid]:
                    if kid not in reached:
                        reached.add(kid)
                        group.append(kid)
            if len(group) > 1:
                below = f"{len(group) - 1} element(s) below it ({_listing(group[1:])})"
                message = f"{head!r} and {below} are not reachable from any root"
                self.flag(self.drafts[head], "parents", message)

    def elements(self, mapped: Counter[str]) -> dict[str, Element]:
        elements: dict[str, Element] = {}
        for d in self.drafts.values():
            subscribers = mapped.get(d.id, 0)
            if d.subscribers is not None:
                if d.subscribers < subscribers:
                    message = f"says {d.subscribers}, but the subscribers CSV maps {subscribers}"
                    self.flag(d, "subscribers", message)
                subscribers = d.subscribers
            if d.kind is not None and d.area is not None and d.contract is not None:
                elements[d.id] = Element(
                    d.id, d.kind, d.parents, d.area, subscribers, d.address, d.contract,
                    d.name, d.snmp, d.uplinks, d.line, d.name_en,
                )  # fmt: skip
        return elements


def _canonical_address(text: str) -> str | None:
    try:
        socket.inet_pton(socket.AF_INET, text)  # strict dotted quad: already canonical
        return text
    except OSError:
        pass  # IPv6, or not an address: ipaddress is slower but says which
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _kind_message(name: str) -> str:
    return f"unknown kind {name!r} (expected one of: {', '.join(_KINDS)})"


def _threshold(key: str, raw: object) -> tuple[int | float | None, str]:
    """A threshold value and, when it is unusable, why."""
    default = _THRESHOLD_DEFAULTS[key]
    if isinstance(raw, bool):
        return None, f"expected a number, got {_show(raw)}"
    if isinstance(default, int):
        if not isinstance(raw, int):
            return None, f"expected a whole number, got {_show(raw)}"
        return (raw, "") if raw >= 1 else (None, f"must be at least 1, got {raw}")
    value: float
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):  # YAML 1.1 reads 1e-6 (no dot) as text
        try:
            value = float(raw)
        except ValueError:
            return None, f"expected a number, got {_show(raw)}"
    else:
        return None, f"expected a number, got {_show(raw)}"
    if key in _UNIT_THRESHOLDS:
        ok, wanted = 0 < value <= 1, "in (0, 1]"
    else:
        ok, wanted = 0 < value < math.inf, "a finite number > 0"
    return (value, "") if ok else (None, f"must be {wanted}, got {raw}")


def _with_details(
    rows: list[list[str]], columns: list[str]
) -> tuple[dict[str, str], dict[str, tuple[str, str, str]], int]:
    """The fast path with optional columns: C-level maps over the rows. The row
    count comes back as -1 when a row has the wrong width (the slow path names it)."""
    width = len(columns)
    if any(len(row) != width for row in rows):
        return {}, {}, -1
    subscribers = dict(map(itemgetter(0, 1), rows))
    picks = [columns.index(c) if c in columns else width for c in SUBSCRIBER_DETAILS]
    pick = itemgetter(*picks)
    for row in rows:
        row.append("")  # the cell of an absent column
    details = {row[0]: cells for row in rows if any(cells := pick(row))}
    return subscribers, details, len(rows)


def _share_ids(subscribers: dict[str, str], drafts: Mapping[str, object]) -> None:
    """Point every subscriber at its element's own id string, not a copy per CSV row
    (10^6 subscribers: ~60 MB of duplicate strings)."""
    own = {e: e for e in drafts}
    for sub, element in subscribers.items():
        subscribers[sub] = own.get(element, element)
