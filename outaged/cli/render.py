"""What outagectl prints: the API's JSON read into typed views, then tables and text.

Pure: every function takes the language, the user's time zone and `now`, and
returns a rich renderable or a string; nothing here reads a clock or a socket.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from io import StringIO
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from outaged import zones
from outaged.cli.i18n import Lang, label, say, translate
from outaged.outages import reasons
from outaged.outages.reasons import Why
from outaged.topology.model import display_name

_DEADLINE_STYLE = {"met": "green", "late": "yellow", "missed": "bold red", "void": "dim"}
_SEVERITY_STYLE = {"S1": "bold red", "S2": "red", "S3": "yellow", "S4": ""}


# ---- views of the API's JSON (docs/api.md) --------------------------------------------


def parse_time(text: str) -> datetime:
    """An API time (`2026-11-22T08:15:00.000Z`) as an aware datetime."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"time without an offset: {text!r}")
    return value


def _opt_time(obj: Mapping[str, Any], key: str) -> datetime | None:
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
            first_report_at=_opt_time(obj, "first_report_at"),
            opened_at=parse_time(obj["opened_at"]),
            arrived_at=_opt_time(obj, "arrived_at"),
            response_s=None if obj.get("response_s") is None else float(obj["response_s"]),
            restore_by=_opt_time(obj, "restore_by"),
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
                    _opt_time(d, "met_at"),
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


# ---- time ----------------------------------------------------------------------------


def fmt_time(at: datetime | None, tz: tzinfo | None, lang: Lang) -> str:
    """Full local time with its zone, `2026-11-22 16:01:10 +08:00`."""
    if at is None:
        return translate("field.none", lang)
    return zones.local_time(at, tz)


def times_in(tz: tzinfo | None, now: datetime, lang: Lang) -> str:
    """The caption saying which zone the times of a table are in."""
    return translate("ctl.times_in", lang, zone=zones.zone_name(tz, now))


def fmt_short(at: datetime, tz: tzinfo | None, now: datetime) -> str:
    """`16:01` today (in `tz`), `11-21 16:01` on another day."""
    local = at.astimezone(tz)
    if local.date() == now.astimezone(tz).date():
        return local.strftime("%H:%M")
    return local.strftime("%m-%d %H:%M")


def fmt_duration(seconds: float | None, lang: Lang) -> str:
    """The two largest non-zero units: `2h 5m`, `3d`, `45s`; zh-CN `2小时5分`."""
    if seconds is None:
        return translate("field.none", lang)
    total = round(abs(seconds))
    counts = [("d", total // 86400), ("h", total % 86400 // 3600), ("m", total % 3600 // 60)]
    counts.append(("s", total % 60))
    first = next((i for i, (_, n) in enumerate(counts) if n), len(counts) - 1)
    shown = [(u, n) for u, n in counts[first : first + 2] if n] or [("s", 0)]
    sep = "" if lang == "zh-CN" else " "
    return sep.join(translate(f"unit.{u}", lang, n=n) for u, n in shown)


def time_left(due: datetime, now: datetime, lang: Lang) -> Text:
    """`12m left`, or `5m late` in red once `due` has passed."""
    delta = (due - now).total_seconds()
    if delta < 0:
        return Text(translate("dur.late", lang, d=fmt_duration(delta, lang)), style="bold red")
    return Text(translate("dur.left", lang, d=fmt_duration(delta, lang)))


# ---- list ----------------------------------------------------------------------------

NO_NAMES = Names()


def _add_row(table: Table, *cells: RenderableType) -> None:
    """Strings become Text: a note like "[/]" or ":fire:" is data, not rich markup."""
    table.add_row(*(Text(c) if isinstance(c, str) else c for c in cells))


def _names(names: Names, lang: Lang) -> Names:
    return names if names.lang == lang else dataclasses.replace(names, lang=lang)


def _root(o: OutageView, names: Names) -> str:
    """The root's display name; the API's `root_name` when no names came with it."""
    if o.root in names.elements:
        return names.element(o.root)
    if names.wide:
        return f"{o.root} {o.root_name}" if o.root_name else o.root
    return o.root_name or o.root


def _listing_table(title: str, lang: Lang, tz: tzinfo | None, now: datetime) -> Table:
    """A listing's table: its title, and the zone its times are in as the caption."""
    return Table(
        title=title,
        title_justify="left",
        caption=times_in(tz, now, lang),
        caption_justify="left",
    )


def outage_table(
    outages: Iterable[OutageView],
    lang: Lang,
    tz: tzinfo | None,
    now: datetime,
    names: Names = NO_NAMES,
) -> Table:
    names = _names(names, lang)
    rows = list(outages)
    table = _listing_table(translate("ctl.list.title", lang, n=len(rows)), lang, tz, now)
    for key in ("id", "severity", "root", "status", "age", "next", "left"):
        table.add_column(translate(f"ctl.col.{key}", lang), no_wrap=key in {"id", "severity"})
    for o in rows:
        nxt = o.next_deadline
        _add_row(
            table,
            str(o.id),
            Text(o.severity, style=_SEVERITY_STYLE.get(o.severity, "")),
            _root(o, names),
            label("state", o.state, lang),
            fmt_duration((now - o.occurred_at).total_seconds(), lang),
            ""
            if nxt is None
            else f"{label('deadline', nxt.name, lang)} {fmt_short(nxt.due, tz, now)}",
            "" if nxt is None else time_left(nxt.due, now, lang),
        )
    return table


def suspected_table(
    found: Iterable[Mapping[str, Any]],
    lang: Lang,
    tz: tzinfo | None,
    now: datetime,
    names: Names = NO_NAMES,
) -> Table:
    """Suspected concentrations (SPEC §2): where the NOC is asked to check."""
    names = _names(names, lang)
    rows = list(found)
    table = _listing_table(translate("ctl.suspected.title", lang, n=len(rows)), lang, tz, now)
    for key in ("element", "class", "since", "callers"):
        table.add_column(translate(f"ctl.suspected.col.{key}", lang))
    for f in rows:
        element = str(f.get("element") or "")
        since = _opt_time(f, "first_at")
        _add_row(
            table,
            names.element(element) if element in names.elements else element,
            translate(f"ctl.suspected.class.{f.get('class')}", lang),
            "" if since is None else fmt_short(since, tz, now),
            translate("ctl.suspected.callers", lang, n=f.get("reporters"), of=f.get("subscribers")),
        )
    return table


# ---- show ----------------------------------------------------------------------------


def _grid(rows: Iterable[tuple[str, RenderableType]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in rows:
        _add_row(grid, key, value)
    return grid


def _t(key: str, lang: Lang) -> str:
    return translate(key, lang)


def reason_text(o: OutageView, lang: Lang, names: Names) -> str:
    """Why the engine thinks so, in `lang`; the stored English when it sent no phrases."""
    return say(o.why, lang, names.element) if o.why else o.reason


def summary_rows(
    o: OutageView, lang: Lang, tz: tzinfo | None, now: datetime, names: Names = NO_NAMES
) -> list[tuple[str, RenderableType]]:
    names = _names(names, lang)
    none = _t("field.none", lang)
    rows: list[tuple[str, RenderableType]] = [
        (_t("field.severity", lang), label("severity", o.severity, lang)),
        (_t("field.status", lang), label("state", o.state, lang)),
        (_t("field.network_status", lang), label("network", o.network_status, lang)),
        (_t("field.area", lang), names.area(o.area) if o.area else none),
        (_t("field.assignee", lang), names.person(o.assignee) if o.assignee else none),
        (_t("field.occurred_at", lang), fmt_time(o.occurred_at, tz, lang)),
        (_t("field.first_report_at", lang), fmt_time(o.first_report_at, tz, lang)),
        (_t("field.opened_at", lang), fmt_time(o.opened_at, tz, lang)),
        (_t("field.response_time", lang), fmt_duration(o.response_s, lang)),
        (_t("field.arrived_at", lang), fmt_time(o.arrived_at, tz, lang)),
        (_t("field.restore_by", lang), fmt_time(o.restore_by, tz, lang)),
        (_t("field.cause", lang), label("cause", o.cause, lang) if o.cause else none),
    ]
    possible = names.element(o.possible_cause) if o.possible_cause else None
    optional = (
        ("field.possible_cause", possible),
        ("field.diagnosis_note", o.diagnosis_note),
        ("field.external_message", o.external_message),
        ("field.method", o.method),
        ("field.result", o.result),
        ("field.advice", o.prevention),
    )
    rows.extend((_t(key, lang), value) for key, value in optional if value)
    if o.cancel_reason:
        rows.append((_t("action.cancel", lang), o.cancel_reason))
    if o.merged_into is not None:
        rows.append((_t("state.merged", lang), str(o.merged_into)))
    if o.next_deadline is not None:
        nxt = o.next_deadline
        when = Text(f"{label('deadline', nxt.name, lang)} {fmt_time(nxt.due, tz, lang)}  ")
        rows.append((_t("ctl.col.next", lang), when + time_left(nxt.due, now, lang)))
    rows.append((_t("field.reason", lang), reason_text(o, lang, names) or none))
    return rows


def _listing(items: Iterable[str], lang: Lang) -> str:
    return _t("punct.list", lang).join(items) or _t("field.none", lang)


def scope_rows(
    o: OutageView, lang: Lang, names: Names = NO_NAMES
) -> list[tuple[str, RenderableType]]:
    names = _names(names, lang)
    s = o.scope
    yes, no = _t("field.yes", lang), _t("field.no", lang)
    rows: list[tuple[str, RenderableType]] = [
        (_t("field.subscribers", lang), str(s.subscribers)),
        (_t("field.elements", lang), str(s.elements)),
        (_t("field.extent", lang), _t("field.whole" if s.whole else "field.partial", lang)),
        (_t("field.parts", lang), _listing(map(names.element, s.parts), lang)),
        (_t("field.communities", lang), _listing(map(names.element, s.communities), lang)),
        (_t("field.confidence", lang), f"{o.confidence:.0%}"),
    ]
    if o.lost_redundancy:
        lost = _listing(map(names.element, o.lost_redundancy), lang)
        rows.append((_t("field.lost_redundancy", lang), lost))
    if o.degraded:
        rows.append((_t("field.degraded", lang), yes))
    rows.append((_t("field.flapping", lang), yes if o.flapping else no))
    return rows


def deadline_table(o: OutageView, lang: Lang, tz: tzinfo | None, names: Names = NO_NAMES) -> Table:
    table = Table(title=_t("field.deadlines", lang), title_justify="left")
    for key in ("deadline", "due", "done", "result", "owner"):
        table.add_column(_t(f"ctl.col.{key}", lang))
    for d in o.deadlines:
        _add_row(
            table,
            label("deadline", d.name, lang),
            fmt_time(d.due, tz, lang),
            fmt_time(d.met_at, tz, lang),
            Text(label("deadline.status", d.status, lang), style=_DEADLINE_STYLE.get(d.status, "")),
            owner_name(d.owner, lang, names),
        )
    return table


def owner_name(owner: str, lang: Lang, names: Names = NO_NAMES) -> str:
    """Who owed a deadline: a role in words, or the person's name."""
    if not owner:
        return translate("field.none", lang)
    named = label("owner", owner, lang)
    return named if named != owner else _names(names, lang).person(owner)


# action payload key -> catalogue label (None: shown bare), in the order shown
_PAYLOAD_FIELDS = (
    ("note", None),
    ("assignee", "field.assignee"),
    ("cause", "field.cause"),
    ("severity", "field.severity"),
    ("reason", "field.reason"),
    ("external_message", "field.external_message"),
    ("method", "field.method"),
    ("result", "field.result"),
    ("prevention", "field.advice"),
    ("into", "state.merged"),
)


def _link_detail(kind: str, p: Mapping[str, Any], lang: Lang) -> str | None:
    """An ended outage and the ones after it (issue 7 §1), from the structured payload."""
    if kind == "follows":
        state = str(p.get("state") or "")
        key = {"cancelled": "ctl.follows.cancelled", "closed": "ctl.follows.closed"}
        text = translate(
            key.get(state, "ctl.follows.other"),
            lang,
            id=p.get("outage"),
            state=label("state", state, lang),
        )
        reason = p.get("reason")
        return f"{text}{translate('punct.colon', lang)}{reason}" if reason else text
    if kind == "followed_by":
        return translate("ctl.followed_by", lang, id=p.get("outage"))
    return None


def event_detail(entry: TimelineEntry, lang: Lang, names: Names = NO_NAMES) -> str:
    """One line saying what a timeline entry changed, from its payload."""
    names = _names(names, lang)
    p = entry.payload
    linked = _link_detail(entry.kind, p, lang)
    if linked is not None:
        return linked
    why = reasons.from_json(p.get("reason_parts"))
    colon = translate("punct.colon", lang)
    if entry.kind.startswith("outage_"):
        root = names.element(str(p.get("root", "")))
        text = say(why, lang, names.element) if why else str(p.get("reason", ""))
        return f"{p.get('severity', '')} {root}{colon}{text}".strip()
    if entry.kind == "notification_queued":
        to = _listing((names.person(str(x)) for x in p.get("to") or ()), lang)
        return f"→ {to}{colon}{label('notify', str(p.get('why', '')), lang)}"
    if entry.kind in _CLOCK_KINDS:
        return _clock_detail(p, lang, names)
    if entry.kind == "topology_removed":  # removed elements have no names left: ids
        how = "ctl.removed.watched" if p.get("watched") else "ctl.removed.unwatched"
        elements = _listing((str(x) for x in p.get("elements") or ()), lang)
        return f"{elements} — {translate(how, lang)}"
    if entry.kind in ("notification_sent", "notification_failed"):
        who = names.person(str(p.get("to", "")))
        what = label("notify", str(p.get("event", "")), lang)
        line = f"→ {who} ({label('channel', str(p.get('channel', '')), lang)}){colon}{what}"
        if not p.get("reason"):
            return line
        reason = label("delivery", str(p["reason"]), lang)
        # the peer's own words (an SMTP reply, an HTTP status) are English: en only
        return f"{line}; {reason}" + (f"{colon}{p.get('detail', '')}" if lang == "en" else "")
    parts: list[str] = []
    if p.get("from") and p.get("to") and p["from"] != p["to"]:
        parts.append(
            f"{label('state', str(p['from']), lang)} → {label('state', str(p['to']), lang)}"
        )
    if why:  # the daemon's own action (a relapse reopens): its reason, not the English note
        parts.append(say(why, lang, names.element))
    probed = "checked" in p  # the re-probe after a repair report: what it found, not the note
    if probed:
        parts.append(_reprobe_detail(p, lang, names))
    for key, field_key in _PAYLOAD_FIELDS:
        if not p.get(key) or ((why or probed) and key == "note"):
            continue
        value = str(p[key])
        if key == "cause":
            value = label("cause", value, lang)
        elif key == "assignee":
            value = names.person(value)
        parts.append(value if field_key is None else f"{translate(field_key, lang)}{colon}{value}")
    return translate("punct.reasons", lang).join(parts)


def _reprobe_detail(p: Mapping[str, Any], lang: Lang, names: Names) -> str:
    down = [names.element(str(e)) for e in p.get("still_down") or ()]
    checked = [names.element(str(e)) for e in p.get("checked") or ()]
    if down:
        return translate("ctl.reprobe.down", lang, elements=_listing(down, lang))
    if checked:
        return translate("ctl.reprobe.up", lang, elements=_listing(checked, lang))
    return translate("ctl.reprobe.none", lang)


_CLOCK_KINDS = frozenset({"reminder", "escalation", "reassigned", "deadline_missed"})


def _clock_detail(p: Mapping[str, Any], lang: Lang, names: Names) -> str:
    """A reminder, escalation, reassignment or miss: the step, who owed it, who was told."""
    colon = translate("punct.colon", lang)
    parts = [label("deadline", str(p.get("deadline", "")), lang)]
    parts.append(
        translate("ctl.clock.owner", lang, who=owner_name(str(p.get("owner", "")), lang, names))
    )
    if p.get("level"):
        parts.append(translate("ctl.clock.level", lang, level=p["level"]))
    if p.get("late"):
        parts.append(translate("ctl.clock.late", lang))
    told = p.get("assignee") if "assignee" in p else p.get("to")  # reassigned: to whom
    people = told if isinstance(told, list) else [told] if told else []
    line = translate("punct.reasons", lang).join(parts)
    if people:
        line += f"{colon}→ {_listing((names.person(str(x)) for x in people), lang)}"
    return line


def event_label(kind: str, lang: Lang) -> str:
    """Engine events and notifications have labels of their own; the rest are actions."""
    named = label("event", kind, lang)
    return named if named != kind else label("action", kind, lang)


def timeline_table(o: OutageView, lang: Lang, tz: tzinfo | None, names: Names = NO_NAMES) -> Table:
    names = _names(names, lang)
    table = Table(title=_t("field.timeline", lang), title_justify="left")
    for key in ("at", "actor", "event", "detail"):
        table.add_column(_t(f"ctl.col.{key}", lang), no_wrap=key == "at")
    for entry in o.timeline:
        _add_row(
            table,
            fmt_time(entry.at, tz, lang),
            names.actor(entry.actor),
            event_label(entry.kind, lang),
            event_detail(entry, lang, names),
        )
    return table


# API action -> the outagectl command that performs it
_COMMANDS = {"callback_done": "callback", "verify_failed": "verify --failed"}


def allowed_text(o: OutageView, lang: Lang) -> str:
    """`ack, assign` in English (the commands to type); `接单 (ack)、指派 (assign)` in zh-CN."""
    if lang == "en":
        return ", ".join(_COMMANDS.get(a, a) for a in o.allowed_actions) or _t("field.none", lang)
    shown = (f"{label('action', a, lang)} ({_COMMANDS.get(a, a)})" for a in o.allowed_actions)
    return _listing(shown, lang)


def outage_detail(
    o: OutageView, lang: Lang, tz: tzinfo | None, now: datetime, names: Names = NO_NAMES
) -> Group:
    names = _names(names, lang)
    title = translate(
        "ctl.show.title",
        lang,
        id=o.id,
        root=_root(o, names),
        severity=o.severity,
        status=label("state", o.state, lang),
    )
    path = " → ".join(map(names.element, o.path)) or names.element(o.root)
    return Group(
        Text(title, style="bold"),
        Text(times_in(tz, now, lang), style="dim"),
        _grid(summary_rows(o, lang, tz, now, names)),
        Text(""),
        Text(_t("field.location", lang), style="bold underline"),
        Text(path),
        Text(""),
        Text(_t("field.scope", lang), style="bold underline"),
        _grid(scope_rows(o, lang, names)),
        Text(""),
        deadline_table(o, lang, tz, names),
        timeline_table(o, lang, tz, names),
        _grid([(_t("ctl.show.allowed", lang), allowed_text(o, lang))]),
    )


def action_done(o: OutageView, action: str, lang: Lang, tz: tzinfo | None, now: datetime) -> Text:
    line = Text(
        translate(
            "ctl.done",
            lang,
            id=o.id,
            action=label("action", action, lang),
            state=label("state", o.state, lang),
        )
    )
    if o.next_deadline is not None:
        nxt = o.next_deadline
        line.append(f"\n{_t('ctl.col.next', lang)}{_t('punct.colon', lang)}")
        line.append(f"{label('deadline', nxt.name, lang)} ")
        line.append(f"{fmt_short(nxt.due, tz, now)} {zones.offset(nxt.due.astimezone(tz))}  ")
        line.append(time_left(nxt.due, now, lang))
    missing = report_missing(o)
    if missing:
        hint = translate("ctl.report_missing", lang, id=o.id, fields=", ".join(missing))
        line.append(f"\n{hint}")
    return line


def report_missing(o: OutageView) -> list[str]:
    """The fault report fields still owed, when its `report` deadline is not met."""
    owed = any(d.name == "report" and d.met_at is None and d.status != "void" for d in o.deadlines)
    fields = (("method", o.method), ("result", o.result), ("prevention", o.prevention))
    return [f"--{name}" for name, value in fields if not value] if owed else []


# ---- stats ---------------------------------------------------------------------------


def _count_table(
    title: str,
    counts: Mapping[str, int],
    lang: Lang,
    show: Callable[[str], str],
    by_key: bool = False,
) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(_t("ctl.col.key", lang))
    table.add_column(_t("ctl.col.count", lang), justify="right")
    order = sorted(counts.items(), key=lambda kv: kv[0] if by_key else (-kv[1], kv[0]))
    for key, count in order:
        _add_row(table, show(key), str(count))
    return table


def stats_view(s: Stats, lang: Lang, tz: tzinfo | None, names: Names = NO_NAMES) -> Group:
    names = _names(names, lang)
    share = "—" if s.share_met is None else f"{s.share_met:.1%}"
    decided = s.met + s.late + s.missed
    times = _grid(
        [
            (_t(f"ctl.stats.to_{key}", lang), fmt_duration(value, lang))
            for key, value in (
                ("dispatch", s.mean_dispatch_s),
                ("arrive", s.mean_arrive_s),
                ("restore", s.mean_restore_s),
            )
        ]
    )
    span = f"{fmt_time(s.since, tz, lang)} – {fmt_time(s.until, tz, lang)}"

    def severity(key: str) -> str:
        return label("severity", key, lang)

    def cause(key: str) -> str:
        return label("cause", key, lang)

    return Group(
        Text(translate("ctl.stats.title", lang, span=span), style="bold"),
        Text(translate("ctl.stats.total", lang, n=s.outages)),
        _count_table(_t("ctl.stats.by_severity", lang), s.by_severity, lang, severity, True),
        _count_table(_t("ctl.stats.by_cause", lang), s.by_cause, lang, cause),
        _count_table(_t("ctl.stats.by_area", lang), s.by_area, lang, names.area),
        Text(_t("ctl.stats.times", lang), style="bold underline"),
        times,
        Text(translate("ctl.stats.deadlines_met", lang, share=share, met=s.met, total=decided)),
    )


def to_text(renderable: RenderableType, width: int = 120, color: bool = False) -> str:
    """Render to a string: plain for tests and pipes, ANSI colours when `color`."""
    out = StringIO()
    console = Console(
        file=out,
        width=width,
        color_system="standard" if color else None,
        force_terminal=color,
        highlight=False,
    )
    console.print(Text(renderable) if isinstance(renderable, str) else renderable)
    return out.getvalue()
