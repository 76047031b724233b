""" "Is this caller inside a known outage?": directory matches joined with the open
outages and planned work, and what the agent tells the caller. Pure: the open
outages, the windows and `now` are passed in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from outaged.classify.scope import covers
from outaged.cli.i18n import LANGS, translate
from outaged.directory.index import Found, Match
from outaged.outages.engine import Engine
from outaged.outages.lifecycle import AFTER_REPAIR, WORKING, State
from outaged.outages.model import Outage, iso
from outaged.records.model import Record
from outaged.signals import Maintenance
from outaged.topology.graph import GraphIndex
from outaged.topology.model import display_name
from outaged.zones import moment, short_time

UPCOMING_S = 7 * 86400.0  # planned work shown ahead of its start


def planned_windows(engine: Engine) -> list[Maintenance]:
    """Planned-work windows (割接) as the engine holds them: the one place read."""
    return list(engine.maintenance)


@dataclass(frozen=True, slots=True)
class Open:
    """An open outage as the call centre sees it."""

    outage: Outage
    record: Record


def expected_restore(item: Open) -> tuple[float | None, str | None]:
    """The interface person's estimate when given, else the restore deadline."""
    if item.record.eta is not None:
        return item.record.eta, "estimate"
    if item.outage.restore_by is not None:
        return item.outage.restore_by, "deadline"
    return None, None


def clock_text(at: float, now: float, tz: tzinfo | None) -> str:
    """14:30 today, else 12-03 14:30 (2027-01-05 14:30 in another year): what an
    agent reads out; "-" for a time no calendar holds (never an error)."""
    when, today = moment(at), moment(now)
    if when is None or today is None:
        return "-"
    return short_time(when, today, tz)


def message(item: Open, index: GraphIndex, now: float, tz: tzinfo | None) -> dict[str, str]:
    """The unified external message (统一对外口径) in both languages: the dispatcher's
    text when written, else a default for the state; the estimate added when given."""
    record, outage = item.record, item.outage
    eta, source = expected_restore(item)
    overdue = eta is not None and now > eta
    texts: dict[str, str] = {}
    for lang in LANGS:
        written = record.external_message if lang == "zh-CN" else record.external_message_en
        eta_text = clock_text(eta, now, tz) if eta is not None and not overdue else ""
        if written:
            text = written
            if source == "estimate" and eta_text:
                text += translate("bulletin.eta_sentence", lang, eta=eta_text)
        else:
            root = index.topology.elements.get(outage.root)
            place = (
                outage.root
                if root is None
                else display_name(root.id, root.name, root.name_en, lang)
            )
            key = _default_key(record.state)
            if key != "restored":
                key += "_eta" if eta_text else "_no_eta"
            text = translate(f"bulletin.default.{key}", lang, place=place, eta=eta_text)
        texts[lang] = text
    return texts


def _default_key(state: State) -> str:
    if state in AFTER_REPAIR:
        return "restored"
    if state in WORKING - {State.ACKNOWLEDGED}:
        return "on_site"
    return "working"


def outage_view(item: Open, index: GraphIndex, now: float, tz: tzinfo | None) -> dict[str, Any]:
    o, r = item.outage, item.record
    eta, source = expected_restore(item)
    root = index.topology.elements.get(o.root)
    return {
        "id": o.id,
        "severity": o.severity.value,
        "state": r.state.value,
        "root": o.root,
        "area": root.area if root is not None else "",
        "scope": {
            "whole": o.scope.whole,
            "parts": list(o.scope.parts),
            "communities": list(o.scope.communities_touched),
            "subscribers": o.scope.subscribers,
        },
        "message": message(item, index, now, tz),
        "message_written": bool(r.external_message),
        "eta": iso(eta),
        "eta_source": source,
        "eta_overdue": eta is not None and now > eta,
        "eta_note": r.eta_note,
        "opened_at": iso(o.opened_at),
        "updated_at": iso(r.updated_at if r.updated_at is not None else o.opened_at),
        "calls": r.calls,
        "cause": o.cause,
    }


def window_view(window: Maintenance, now: float) -> dict[str, Any]:
    return {
        "element": window.element,
        "start": iso(window.start),
        "end": iso(window.end),
        "note": window.note,
        "ongoing": window.start <= now < window.end,
    }


def say(outage_id: int, text: dict[str, str]) -> dict[str, str]:
    """What the agent hears back: "inside outage N, tell the caller: …"."""
    return {
        lang: translate("bulletin.say", lang, id=outage_id, message=text[lang]) for lang in LANGS
    }


def lookup(
    found: Found,
    index: GraphIndex,
    open_outages: Sequence[Open],
    windows: Iterable[Maintenance],
    now: float,
    tz: tzinfo | None,
) -> list[dict[str, Any]]:
    """One answer per matched subscriber, best match first."""
    windows = [w for w in windows if w.end > now and w.start < now + UPCOMING_S]
    answers = []
    for match in found.matches:
        answers.append(_answer(match, index, open_outages, windows, now, tz))
    return answers


def _answer(
    match: Match,
    index: GraphIndex,
    open_outages: Sequence[Open],
    windows: list[Maintenance],
    now: float,
    tz: tzinfo | None,
) -> dict[str, Any]:
    element = index.topology.subscribers[match.subscriber]
    inside = [o for o in open_outages if covers(index, o.outage.scope, element)]
    inside.sort(key=lambda o: (o.outage.severity.rank, o.outage.id))
    planned = [
        window_view(w, now)
        for w in windows
        if w.element == element or (w.element in index.tin and index.dominates(w.element, element))
    ]
    outage = outage_view(inside[0], index, now, tz) if inside else None
    status = "outage" if inside else "planned_work" if any(p["ongoing"] for p in planned) else "ok"
    answer: dict[str, Any] = {
        "subscriber": match.subscriber,
        "name": match.name,
        "address": match.address,
        "phone": match.phone,
        "score": match.score,
        "element": element,
        "path": index.path(element),
        "status": status,
        "outage": outage,
        "other_outages": [o.outage.id for o in inside[1:]],
        "planned_work": planned,
    }
    if outage is not None:
        answer["say"] = say(outage["id"], outage["message"])
    return answer
