"""An outage's timeline: each entry's label and one line saying what it changed
(outagectl show, and the fault report of outaged.records.report)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from rich.table import Table

from outaged.cli.api_json import Names, OutageView, TimelineEntry
from outaged.cli.i18n import Lang, label, say, translate
from outaged.cli.render import NO_NAMES, add_row, fmt_time, in_lang, listing
from outaged.outages import reasons


def owner_name(owner: str, lang: Lang, names: Names = NO_NAMES) -> str:
    """Who owed a deadline: a role in words, or the person's name."""
    if not owner:
        return translate("field.none", lang)
    named = label("owner", owner, lang)
    return named if named != owner else in_lang(names, lang).person(owner)


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
    names = in_lang(names, lang)
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
        to = listing((names.person(str(x)) for x in p.get("to") or ()), lang)
        return f"→ {to}{colon}{label('notify', str(p.get('why', '')), lang)}"
    if entry.kind in _CLOCK_KINDS:
        return _clock_detail(p, lang, names)
    if entry.kind == "topology_removed":  # removed elements have no names left: ids
        how = "ctl.removed.watched" if p.get("watched") else "ctl.removed.unwatched"
        elements = listing((str(x) for x in p.get("elements") or ()), lang)
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
        return translate("ctl.reprobe.down", lang, elements=listing(down, lang))
    if checked:
        return translate("ctl.reprobe.up", lang, elements=listing(checked, lang))
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
        line += f"{colon}→ {listing((names.person(str(x)) for x in people), lang)}"
    return line


def event_label(kind: str, lang: Lang) -> str:
    """Engine events and notifications have labels of their own; the rest are actions."""
    named = label("event", kind, lang)
    return named if named != kind else label("action", kind, lang)


def timeline_table(o: OutageView, lang: Lang, tz: tzinfo | None, names: Names = NO_NAMES) -> Table:
    names = in_lang(names, lang)
    table = Table(title=translate("field.timeline", lang), title_justify="left")
    for key in ("at", "actor", "event", "detail"):
        table.add_column(translate(f"ctl.col.{key}", lang), no_wrap=key == "at")
    for entry in o.timeline:
        add_row(
            table,
            fmt_time(entry.at, tz, lang),
            names.actor(entry.actor),
            event_label(entry.kind, lang),
            event_detail(entry, lang, names),
        )
    return table
