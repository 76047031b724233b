"""`outagectl list` and `outagectl suspected`: one row an outage, or a concentration."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from rich.table import Table
from rich.text import Text

from outaged.cli.api_json import Names, OutageView, opt_time
from outaged.cli.i18n import Lang, label, translate
from outaged.cli.render import (
    NO_NAMES,
    add_row,
    fmt_duration,
    fmt_short,
    in_lang,
    listing_table,
    root_shown,
    time_left,
)

_SEVERITY_STYLE = {"S1": "bold red", "S2": "red", "S3": "yellow", "S4": ""}


def outage_table(
    outages: Iterable[OutageView],
    lang: Lang,
    tz: tzinfo | None,
    now: datetime,
    names: Names = NO_NAMES,
) -> Table:
    names = in_lang(names, lang)
    rows = list(outages)
    table = listing_table(translate("ctl.list.title", lang, n=len(rows)), lang, tz, now)
    for key in ("id", "severity", "root", "status", "age", "next", "left"):
        table.add_column(translate(f"ctl.col.{key}", lang), no_wrap=key in {"id", "severity"})
    for o in rows:
        nxt = o.next_deadline
        add_row(
            table,
            str(o.id),
            Text(o.severity, style=_SEVERITY_STYLE.get(o.severity, "")),
            root_shown(o, names),
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
    names = in_lang(names, lang)
    rows = list(found)
    table = listing_table(translate("ctl.suspected.title", lang, n=len(rows)), lang, tz, now)
    for key in ("element", "class", "since", "callers"):
        table.add_column(translate(f"ctl.suspected.col.{key}", lang))
    for f in rows:
        element = str(f.get("element") or "")
        since = opt_time(f, "first_at")
        add_row(
            table,
            names.element(element) if element in names.elements else element,
            translate(f"ctl.suspected.class.{f.get('class')}", lang),
            "" if since is None else fmt_short(since, tz, now),
            translate("ctl.suspected.callers", lang, n=f.get("reporters"), of=f.get("subscribers")),
        )
    return table
