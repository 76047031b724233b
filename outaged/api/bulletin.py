"""The call centre's API: GET /api/v1/lookup, the answer to a call inside a known
outage, and the `eta` action's time as the dispatcher typed it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from outaged.api.access import Api, require
from outaged.api.auth import Permission
from outaged.api.inputs import HttpError, single_param
from outaged.api.middleware import dumps
from outaged.directory.index import MAX_RESULTS, Found
from outaged.directory.lookup import Open, lookup, message, planned_windows, say
from outaged.errors import Problem
from outaged.outages.lifecycle import Action
from outaged.records.actions import ETA_AHEAD_S, ActionRequest
from outaged.topology.names import names_json
from outaged.zones import parse_zone

KEYS = ("subscriber", "phone", "address")
MAX_QUERY = 200


def open_outages(api: Api) -> list[Open]:
    """Open outages as the decision loop holds them (in memory: no store round trip)."""
    ledger = api.pipeline.ledger
    engine = api.pipeline.engine
    return [
        Open(engine.outages[oid], record)
        for oid, record in sorted(ledger.records.items())
        if record.active and oid in engine.outages
    ]


def find(api: Api, key: str, value: str, limit: int = MAX_RESULTS) -> Found:
    directory = api.directory
    if directory is None:
        return Found((), 0)
    if key == "subscriber":
        return directory.by_id(value)
    return directory.by_phone(value) if key == "phone" else directory.by_address(value, limit)


def lookup_body(api: Api, key: str, value: str, limit: int) -> dict[str, Any]:
    found = find(api, key, value, limit)
    tz = parse_zone(api.index.topology.timezone)
    now = api.clock()
    windows = planned_windows(api.pipeline.engine)
    matches = lookup(found, api.index, open_outages(api), windows, now, tz)
    return {
        "query": {key: value},
        "total": found.total,
        "matches": matches,
        "names": names_json(matches, api.index.topology),
        "timezone": api.index.topology.timezone,
    }


def lookup_query(request: web.Request) -> tuple[str, str, int]:
    """Exactly one of subscriber, phone, address; an optional limit."""
    given = [(k, single_param(request.query, k)) for k in KEYS]
    present = [(k, v) for k, v in given if v is not None]
    if len(present) != 1:
        message = "give exactly one of subscriber, phone, address"
        fields = [k for k, _ in present] or list(KEYS)
        raise HttpError(422, message, [Problem("api", None, f, message) for f in fields])
    key, value = present[0]
    assert value is not None
    value = value.strip()
    if not value or len(value) > MAX_QUERY or not value.isprintable():
        why = f"expected 1 to {MAX_QUERY} printable characters"
        raise HttpError(422, f"{key}: {why}", [Problem("api", None, key, why)])
    limit_text = single_param(request.query, "limit")
    limit = MAX_RESULTS
    if limit_text is not None:
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
            why = "expected a whole number from 1 to 100"
            raise HttpError(422, f"limit: {why}", [Problem("api", None, "limit", why)])
        limit = int(limit_text)
    return key, value, limit


class Bulletin:
    def __init__(self, api: Api) -> None:
        self.api = api

    async def lookup(self, request: web.Request) -> web.Response:
        require(request, Permission.LOOKUP, "look up subscribers")
        key, value, limit = lookup_query(request)
        await self.api.pipeline.settled()  # what the store holds, not a step ahead of it
        return web.json_response(lookup_body(self.api, key, value, limit), dumps=dumps)


def inside_json(api: Api, inside: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Per report that joined an open outage: which, and what to tell the caller."""
    if not inside:
        return []
    known = {o.outage.id: o for o in open_outages(api)}
    tz = parse_zone(api.index.topology.timezone)
    now = api.clock()
    answers = []
    for position, oid in inside:
        item = known.get(oid)
        if item is None:
            continue
        text = message(item, api.index, now, tz)
        answers.append({"index": position, "outage": oid, "message": text, "say": say(oid, text)})
    return answers


def eta_fields(request: ActionRequest, now: float, zone: str | None) -> ActionRequest:
    """`at` as typed (14:30 meaning the next 14:30 in the display zone, or ISO 8601
    with an offset) turned into an absolute ISO time; 422 naming `at` otherwise."""
    if request.action is not Action.ETA:
        return request
    text = request.fields["at"]
    tz = parse_zone(zone)
    try:
        if len(text) <= 5 and ":" in text:
            hour, minute = (int(part) for part in text.split(":"))
            local = datetime.fromtimestamp(now, tz)
            at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if at.timestamp() <= now:
                at += timedelta(days=1)
        else:
            at = datetime.fromisoformat(text)
            if at.tzinfo is None:
                raise ValueError("needs an offset (or give HH:MM)")
    except ValueError as exc:
        why = f"expected HH:MM or an ISO 8601 time with offset ({exc})"
        raise HttpError(422, f"at: {why}", [Problem("api", None, "at", why)]) from None
    refused: str | None = None
    if at.timestamp() <= now:
        refused = "is in the past"
    elif at.timestamp() > now + ETA_AHEAD_S:
        refused = f"more than {ETA_AHEAD_S / 86400:g} days ahead; give the repair estimate"
    if refused is not None:
        raise HttpError(422, f"at: {refused}", [Problem("api", None, "at", refused)])
    fields = dict(request.fields, at=at.isoformat())
    return ActionRequest(request.action, fields)
