"""The API's JSON (docs/api.md) read into typed views for outagectl's screens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from outaged.cli.i18n import Lang, translate
from outaged.outages import reasons
from outaged.outages.reasons import Why
from outaged.topology.model import display_name


def parse_time(text: str) -> datetime:
    """An API time (`2026-11-22T08:15:00.000Z`) as an aware datetime."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"time without an offset: {text!r}")
    return value


def opt_time(obj: Mapping[str, Any], key: str) -> datetime | None:
    text = obj.get(key)
    return None if text is None else parse_time(str(text))


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Names:
    """Display names the API sent beside the ids (`names`, docs/api.md), for one language.

    `wide` (`-o wide`) shows the id after the name, so both can be read and copied.
    """

    lang: Lang = "en"
    elements: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    areas: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    people: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    wide: bool = False

    @classmethod
    def from_json(cls, obj: Any, lang: Lang, wide: bool = False) -> Names:
        """Read a `names` object; anything missing or malformed is just no names."""

        def table(key: str) -> dict[str, tuple[str, str]]:
            found = obj.get(key) if isinstance(obj, Mapping) else None
            if not isinstance(found, Mapping):
                return {}
            return {
                str(k): (str(v.get("name") or ""), str(v.get("name_en") or ""))
                for k, v in found.items()
                if isinstance(v, Mapping)
            }

        return cls(lang, table("elements"), table("areas"), table("people"), wide)

    def _show(self, table: Mapping[str, tuple[str, str]], ident: str) -> str:
        name, name_en = table.get(ident, ("", ""))
        shown = display_name(ident, name, name_en, self.lang)
        return f"{shown} ({ident})" if self.wide and shown != ident else shown

    def element(self, ident: str) -> str:
        return self._show(self.elements, ident)

    def area(self, ident: str) -> str:
        return self._show(self.areas, ident)

    def person(self, ident: str) -> str:
        return self._show(self.people, ident)

    def actor(self, ident: str) -> str:
        """Who did it: the daemon, a person of the topology, or a token's name."""
        if ident == "daemon":
            return translate("actor.daemon", self.lang)
        return self.person(ident)


@dataclass(frozen=True, slots=True)
class NextDeadline:
    name: str
    due: datetime
    late: bool


@dataclass(frozen=True, slots=True)
class Deadline:
    name: str
    due: datetime
    met_at: datetime | None
    status: str  # pending, met, late (met after due), missed, void
    owner: str = ""  # a person id, or a role: noc, dispatcher, daemon, interface


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    seq: int
    at: datetime
    actor: str
    kind: str  # engine event, "notification_*", or an action name
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Scope:
    whole: bool
    elements: int
    subscribers: int
    parts: tuple[str, ...]
    communities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OutageView:
    """One outage as the API returns it; the detail fields are empty in a list row."""

    id: int
    root: str
    root_name: str
    area: str
    path: tuple[str, ...]
    state: str
    network_status: str
    severity: str
    assignee: str | None
    occurred_at: datetime
    first_report_at: datetime | None
    opened_at: datetime
    arrived_at: datetime | None
    response_s: float | None
    restore_by: datetime | None
    scope: Scope
    confidence: float
    degraded: bool
    flapping: bool
    reason: str
    why: Why
    cause: str | None
    possible_cause: str | None
    lost_redundancy: tuple[str, ...]
    external_message: str | None
    diagnosis_note: str | None
    method: str | None
    result: str | None
    prevention: str | None
    cancel_reason: str | None
    merged_into: int | None
    next_deadline: NextDeadline | None
    allowed_actions: tuple[str, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> OutageView:
        """Read one outage object; KeyError/TypeError/ValueError when it is not one."""
        scope = obj["scope"]
        nxt = obj.get("next_deadline")
        return cls(
            id=int(obj["id"]),
            root=str(obj["root"]),
            root_name=str(obj.get("root_name") or ""),
            area=str(obj.get("area") or ""),
            path=tuple(str(p) for p in obj.get("path") or ()),
            state=str(obj["state"]),
            network_status=str(obj.get("network_status") or ""),
            severity=str(obj["severity"]),
            assignee=_opt_str(obj, "assignee"),
            occurred_at=parse_time(obj["occurred_at"]),
            first_report_at=opt_time(obj, "first_report_at"),
            opened_at=parse_time(obj["opened_at"]),
            arrived_at=opt_time(obj, "arrived_at"),
            response_s=None if obj.get("response_s") is None else float(obj["response_s"]),
            restore_by=opt_time(obj, "restore_by"),
            scope=Scope(
                whole=bool(scope["whole"]),
                elements=int(scope["elements"]),
                subscribers=int(scope["subscribers"]),
                parts=tuple(str(p) for p in scope.get("parts") or ()),
                communities=tuple(str(c) for c in scope.get("communities") or ()),
            ),
            confidence=float(obj.get("confidence") or 0.0),
            degraded=bool(obj.get("degraded")),
            flapping=bool(obj.get("flapping")),
            reason=str(obj.get("reason") or ""),
            why=reasons.from_json(obj.get("reason_parts")),
            cause=_opt_str(obj, "cause"),
            possible_cause=_opt_str(obj, "possible_cause"),
            lost_redundancy=tuple(str(e) for e in obj.get("lost_redundancy") or ()),
            external_message=_opt_str(obj, "external_message"),
            diagnosis_note=_opt_str(obj, "diagnosis_note"),
            method=_opt_str(obj, "method"),
            result=_opt_str(obj, "result"),
            prevention=_opt_str(obj, "prevention"),
            cancel_reason=_opt_str(obj, "cancel_reason"),
            merged_into=None if obj.get("merged_into") is None else int(obj["merged_into"]),
            next_deadline=None
            if nxt is None
            else NextDeadline(str(nxt["name"]), parse_time(nxt["due"]), bool(nxt["late"])),
            allowed_actions=tuple(str(a) for a in obj.get("allowed_actions") or ()),
            deadlines=tuple(
                Deadline(
                    str(d["name"]),
                    parse_time(d["due"]),
                    opt_time(d, "met_at"),
                    str(d["status"]),
                    str(d.get("owner") or ""),
                )
                for d in obj.get("deadlines") or ()
            ),
            timeline=tuple(
                TimelineEntry(
                    int(t["seq"]),
                    parse_time(t["at"]),
                    str(t.get("actor") or ""),
                    str(t["kind"]),
                    dict(t.get("payload") or {}),
                )
                for t in obj.get("timeline") or ()
            ),
        )


@dataclass(frozen=True, slots=True)
class Stats:
    since: datetime
    until: datetime
    outages: int
    by_severity: Mapping[str, int]
    by_cause: Mapping[str, int]
    by_area: Mapping[str, int]
    mean_dispatch_s: float | None
    mean_arrive_s: float | None
    mean_restore_s: float | None
    met: int
    late: int
    missed: int
    share_met: float | None

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Stats:
        def counts(key: str) -> dict[str, int]:
            return {str(k): int(v) for k, v in (obj.get(key) or {}).items()}

        def mean(key: str) -> float | None:
            return None if obj.get(key) is None else float(obj[key])

        dl = obj.get("deadlines") or {}
        share = dl.get("share_met")
        return cls(
            since=parse_time(obj["since"]),
            until=parse_time(obj["until"]),
            outages=int(obj["outages"]),
            by_severity=counts("by_severity"),
            by_cause=counts("by_cause"),
            by_area=counts("by_area"),
            mean_dispatch_s=mean("mean_time_to_dispatch_s"),
            mean_arrive_s=mean("mean_time_to_arrive_s"),
            mean_restore_s=mean("mean_time_to_restore_s"),
            met=int(dl.get("met") or 0),
            late=int(dl.get("late") or 0),
            missed=int(dl.get("missed") or 0),
            share_met=None if share is None else float(share),
        )
