"""`outagectl show`: one outage in full, and the line an action prints when done."""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from outaged import zones
from outaged.cli.api_json import Names, OutageView
from outaged.cli.i18n import Lang, label, say, translate
from outaged.cli.render import (
    NO_NAMES,
    add_row,
    fmt_duration,
    fmt_short,
    fmt_time,
    grid,
    in_lang,
    listing,
    root_shown,
    time_left,
    times_in,
)
from outaged.cli.timeline_view import owner_name, timeline_table

_DEADLINE_STYLE = {"met": "green", "late": "yellow", "missed": "bold red", "void": "dim"}


def reason_text(o: OutageView, lang: Lang, names: Names) -> str:
    """Why the engine thinks so, in `lang`; the stored English when it sent no phrases."""
    return say(o.why, lang, names.element) if o.why else o.reason


def summary_rows(
    o: OutageView, lang: Lang, tz: tzinfo | None, now: datetime, names: Names = NO_NAMES
) -> list[tuple[str, RenderableType]]:
    names = in_lang(names, lang)
    none = translate("field.none", lang)
    rows: list[tuple[str, RenderableType]] = [
        (translate("field.severity", lang), label("severity", o.severity, lang)),
        (translate("field.status", lang), label("state", o.state, lang)),
        (translate("field.network_status", lang), label("network", o.network_status, lang)),
        (translate("field.area", lang), names.area(o.area) if o.area else none),
        (translate("field.assignee", lang), names.person(o.assignee) if o.assignee else none),
        (translate("field.occurred_at", lang), fmt_time(o.occurred_at, tz, lang)),
        (translate("field.first_report_at", lang), fmt_time(o.first_report_at, tz, lang)),
        (translate("field.opened_at", lang), fmt_time(o.opened_at, tz, lang)),
        (translate("field.response_time", lang), fmt_duration(o.response_s, lang)),
        (translate("field.arrived_at", lang), fmt_time(o.arrived_at, tz, lang)),
        (translate("field.restore_by", lang), fmt_time(o.restore_by, tz, lang)),
        (translate("field.cause", lang), label("cause", o.cause, lang) if o.cause else none),
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
    rows.extend((translate(key, lang), value) for key, value in optional if value)
    if o.cancel_reason:
        rows.append((translate("action.cancel", lang), o.cancel_reason))
    if o.merged_into is not None:
        rows.append((translate("state.merged", lang), str(o.merged_into)))
    if o.next_deadline is not None:
        nxt = o.next_deadline
        when = Text(f"{label('deadline', nxt.name, lang)} {fmt_time(nxt.due, tz, lang)}  ")
        rows.append((translate("ctl.col.next", lang), when + time_left(nxt.due, now, lang)))
    rows.append((translate("field.reason", lang), reason_text(o, lang, names) or none))
    return rows


def scope_rows(
    o: OutageView, lang: Lang, names: Names = NO_NAMES
) -> list[tuple[str, RenderableType]]:
    names = in_lang(names, lang)
    s = o.scope
    yes, no = translate("field.yes", lang), translate("field.no", lang)
    rows: list[tuple[str, RenderableType]] = [
        (translate("field.subscribers", lang), str(s.subscribers)),
        (translate("field.elements", lang), str(s.elements)),
        (
            translate("field.extent", lang),
            translate("field.whole" if s.whole else "field.partial", lang),
        ),
        (translate("field.parts", lang), listing(map(names.element, s.parts), lang)),
        (translate("field.communities", lang), listing(map(names.element, s.communities), lang)),
        (translate("field.confidence", lang), f"{o.confidence:.0%}"),
    ]
    if o.lost_redundancy:
        lost = listing(map(names.element, o.lost_redundancy), lang)
        rows.append((translate("field.lost_redundancy", lang), lost))
    if o.degraded:
        rows.append((translate("field.degraded", lang), yes))
    rows.append((translate("field.flapping", lang), yes if o.flapping else no))
    return rows


def deadline_table(o: OutageView, lang: Lang, tz: tzinfo | None, names: Names = NO_NAMES) -> Table:
    table = Table(title=translate("field.deadlines", lang), title_justify="left")
    for key in ("deadline", "due", "done", "result", "owner"):
        table.add_column(translate(f"ctl.col.{key}", lang))
    for d in o.deadlines:
        add_row(
            table,
            label("deadline", d.name, lang),
            fmt_time(d.due, tz, lang),
            fmt_time(d.met_at, tz, lang),
            Text(label("deadline.status", d.status, lang), style=_DEADLINE_STYLE.get(d.status, "")),
            owner_name(d.owner, lang, names),
        )
    return table


# API action -> the outagectl command that performs it
_COMMANDS = {"callback_done": "callback", "verify_failed": "verify --failed"}


def allowed_text(o: OutageView, lang: Lang) -> str:
    """`ack, assign` in English (the commands to type); `接单 (ack)、指派 (assign)` in zh-CN."""
    if lang == "en":
        return ", ".join(_COMMANDS.get(a, a) for a in o.allowed_actions) or translate(
            "field.none", lang
        )
    shown = (f"{label('action', a, lang)} ({_COMMANDS.get(a, a)})" for a in o.allowed_actions)
    return listing(shown, lang)


def outage_detail(
    o: OutageView, lang: Lang, tz: tzinfo | None, now: datetime, names: Names = NO_NAMES
) -> Group:
    names = in_lang(names, lang)
    title = translate(
        "ctl.show.title",
        lang,
        id=o.id,
        root=root_shown(o, names),
        severity=o.severity,
        status=label("state", o.state, lang),
    )
    path = " → ".join(map(names.element, o.path)) or names.element(o.root)
    return Group(
        Text(title, style="bold"),
        Text(times_in(tz, now, lang), style="dim"),
        grid(summary_rows(o, lang, tz, now, names)),
        Text(""),
        Text(translate("field.location", lang), style="bold underline"),
        Text(path),
        Text(""),
        Text(translate("field.scope", lang), style="bold underline"),
        grid(scope_rows(o, lang, names)),
        Text(""),
        deadline_table(o, lang, tz, names),
        timeline_table(o, lang, tz, names),
        grid([(translate("ctl.show.allowed", lang), allowed_text(o, lang))]),
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
        line.append(f"\n{translate('ctl.col.next', lang)}{translate('punct.colon', lang)}")
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
