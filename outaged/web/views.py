"""What the board shows, as plain data for the templates. Pure: the open outages,
planned work, the clock and the language are passed in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from outaged.cli.i18n import Lang, label, translate
from outaged.cli.render import fmt_duration
from outaged.directory.lookup import Open, clock_text, expected_restore, message
from outaged.signals import Maintenance
from outaged.topology.graph import GraphIndex
from outaged.topology.model import Topology, display_name

UPCOMING_S = 7 * 86400.0


def element_name(topology: Topology, ident: str, lang: Lang) -> str:
    found = topology.elements.get(ident)
    return ident if found is None else display_name(ident, found.name, found.name_en, lang)


def area_name(topology: Topology, ident: str, lang: Lang) -> str:
    found = topology.areas.get(ident)
    return ident if found is None else display_name(ident, found.name, found.name_en, lang)


def outage_card(
    item: Open, index: GraphIndex, now: float, tz: tzinfo | None, lang: Lang
) -> dict[str, Any]:
    o, r = item.outage, item.record
    topology = index.topology
    eta, source = expected_restore(item)
    if eta is None:
        eta_text = translate("board.eta_unknown", lang)
    else:
        key = "board.eta_estimate" if source == "estimate" else "board.eta_deadline"
        eta_text = translate(key, lang, eta=clock_text(eta, now, tz))
    communities = [element_name(topology, c, lang) for c in o.scope.communities_touched]
    scope_key = "board.scope_whole" if o.scope.whole else "board.scope_partial"
    return {
        "id": o.id,
        "severity": o.severity.value,
        "severity_label": label("severity", o.severity.value, lang),
        "state": label("state", r.state.value, lang),
        "root": element_name(topology, o.root, lang),
        "scope": translate(
            scope_key,
            lang,
            subscribers=o.scope.subscribers,
            communities="、".join(communities) if lang == "zh-CN" else ", ".join(communities),
        ),
        "message": message(item, index, now, tz)[lang],
        "eta": eta_text,
        "overdue": eta is not None and now > eta,
        "since": fmt_duration(now - o.opened_at, lang),
        "opened": clock_text(o.opened_at, now, tz),
        "calls": r.calls,
        "cause": label("cause", o.cause, lang) if o.cause else "",
    }


def by_area(
    opens: Sequence[Open], index: GraphIndex, now: float, tz: tzinfo | None, lang: Lang
) -> list[dict[str, Any]]:
    """Areas with open outages, most severe first; inside, most severe then oldest."""
    groups: dict[str, list[Open]] = {}
    for item in opens:
        root = index.topology.elements.get(item.outage.root)
        groups.setdefault(root.area if root is not None else "", []).append(item)
    areas = []
    for area, items in groups.items():
        items.sort(key=lambda i: (i.outage.severity.rank, i.outage.opened_at))
        cards = [outage_card(i, index, now, tz, lang) for i in items]
        worst = items[0].outage.severity.rank
        areas.append((worst, area, cards))
    areas.sort(key=lambda a: (a[0], a[1]))
    return [
        {"id": area, "name": area_name(index.topology, area, lang), "outages": cards}
        for _, area, cards in areas
    ]


def planned(
    windows: Iterable[Maintenance], topology: Topology, now: float, tz: tzinfo | None, lang: Lang
) -> dict[str, list[dict[str, str]]]:
    ongoing: list[dict[str, str]] = []
    upcoming: list[dict[str, str]] = []
    for w in sorted(windows, key=lambda w: w.start):
        if w.end <= now or w.start > now + UPCOMING_S:
            continue
        row = {
            "element": element_name(topology, w.element, lang),
            "start": clock_text(w.start, now, tz),
            "end": clock_text(w.end, now, tz),
            "note": w.note,
        }
        (ongoing if w.start <= now else upcoming).append(row)
    return {"ongoing": ongoing, "upcoming": upcoming}


def now_text(now: float, tz: tzinfo | None) -> str:
    return f"{datetime.fromtimestamp(now, tz):%Y-%m-%d %H:%M:%S}"
