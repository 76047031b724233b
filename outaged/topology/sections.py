"""The people and routing sections of topology.yaml: people, areas (with their
shifts), leadership, service centres, thresholds and the time zone."""

from __future__ import annotations

import math
from dataclasses import fields, replace
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from outaged.topology.fields import Fields, Reader, show
from outaged.topology.model import (
    Area,
    Kind,
    LeadershipRule,
    Person,
    ServiceCentre,
    Severity,
    Shift,
    Thresholds,
)
from outaged.topology.shifts import parse_clock, parse_days
from outaged.topology.yamlsrc import YamlList, YamlMap

LANGS = ("zh-CN", "en")

_PERSON_KEYS = frozenset({"id", "name", "name_en", "email", "phone", "webhook", "lang"})

_AREA_KEYS = frozenset(
    {"id", "name", "name_en", "interface", "roster", "manager", "area_manager", "shifts"}
)

_SHIFT_KEYS = frozenset({"days", "from", "to"})

DEFAULT_LEADERSHIP = frozenset({Severity.S1, Severity.S2, Severity.S3})

_LEADERSHIP_KEYS = frozenset({"person", "severities"})

_CENTRE_KEYS = frozenset({"id", "name", "name_en", "contacts", "communities"})

_SEVERITIES = {s.value: s for s in Severity}

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


class Sections(Reader):
    def read_timezone(self, top: Fields) -> str | None:
        zone = top.ident("timezone")
        if zone is None:
            return None
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            top.bad("timezone", f"unknown time zone {zone!r} (an IANA name such as Asia/Shanghai)")
            return None
        return zone

    def read_people(self, doc: YamlMap) -> dict[str, Person]:
        people: dict[str, Person] = {}
        seen: dict[str, int] = {}
        for i, node in self.entries(doc, "people"):
            f = Fields(self, node, f"people[{i}].", _PERSON_KEYS)
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

    def person(self, f: Fields, key: str, *, required: bool = False) -> str | None:
        pid = f.ident(key, required=required)
        if pid is not None and pid not in self.people:
            f.bad(key, f"unknown person {pid!r}")
        return pid

    def person_list(self, f: Fields, key: str, *, required: bool = False) -> list[str]:
        pids = f.located(key, required=required)
        for pid, line in pids:
            if pid not in self.people:
                self.add(line, f"{f.prefix}{key}", f"unknown person {pid!r}")
        return [pid for pid, _ in pids]

    def read_areas(self, doc: YamlMap) -> dict[str, Area]:
        areas: dict[str, Area] = {}
        seen: dict[str, int] = {}
        for i, node in self.entries(doc, "areas"):
            f = Fields(self, node, f"areas[{i}].", _AREA_KEYS)
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
        self, f: Fields, node: YamlMap, people: set[str]
    ) -> dict[str, tuple[Shift, ...]]:
        """`shifts: {person: [{days: [mon-fri], from: "08:00", to: "20:00"}, ...]}`."""
        value = node.get("shifts")
        if value is None:
            return {}
        if not isinstance(value, YamlMap):
            f.bad("shifts", f"expected a mapping of person id to shifts, got {show(value)}")
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
                self.add(value.line_of(pid), where, f"expected a list of shifts, got {show(items)}")
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
            self.add(line, where, f"expected {{days, from, to}}, got {show(item)}")
            return None
        g = Fields(self, item, f"{where}.", _SHIFT_KEYS)
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
            f = Fields(self, node, f"leadership[{i}].", _LEADERSHIP_KEYS)
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
            f = Fields(self, node, f"service_centres[{i}].", _CENTRE_KEYS)
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
                doc.line_of("thresholds"), "thresholds", f"expected a mapping, got {show(value)}"
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


def _clock(g: Fields, key: str) -> dt_time | None:
    value = g.node.get(key)
    if value is None:
        g.bad(key, "missing")
        return None
    found = parse_clock(value)
    if found is None:
        g.bad(key, f'expected a time "HH:MM" in quotes, got {show(value)}')
    return found


def _threshold(key: str, raw: object) -> tuple[int | float | None, str]:
    """A threshold value and, when it is unusable, why."""
    default = _THRESHOLD_DEFAULTS[key]
    if isinstance(raw, bool):
        return None, f"expected a number, got {show(raw)}"
    if isinstance(default, int):
        if not isinstance(raw, int):
            return None, f"expected a whole number, got {show(raw)}"
        return (raw, "") if raw >= 1 else (None, f"must be at least 1, got {raw}")
    value: float
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):  # YAML 1.1 reads 1e-6 (no dot) as text
        try:
            value = float(raw)
        except ValueError:
            return None, f"expected a number, got {show(raw)}"
    else:
        return None, f"expected a number, got {show(raw)}"
    if key in _UNIT_THRESHOLDS:
        ok, wanted = 0 < value <= 1, "in (0, 1]"
    else:
        ok, wanted = 0 < value < math.inf, "a finite number > 0"
    return (value, "") if ok else (None, f"must be {wanted}, got {raw}")
