"""Planned work (割接) over the API: declare, list and call off windows.

    POST   /api/v1/maintenance        {"element", "start", "end", "note"} -> 201 the window
    GET    /api/v1/maintenance        windows under way or to come
    DELETE /api/v1/maintenance/{id}   call one off -> 200 the window, "cancelled": true

A window is a `maintenance` signal like one posted to /signals (same checks,
same limits, stored and taken back after a restart); calling it off is a
signal too, so the decision loop, the store and the notices stay in one order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from outaged.api.access import require as _require
from outaged.api.auth import Permission
from outaged.api.items import parse_items
from outaged.api.middleware import dumps
from outaged.dispatch.planned import listed, window_id
from outaged.errors import NotFoundError, Problem, SignalError
from outaged.outages.model import iso
from outaged.signals import Maintenance
from outaged.topology.names import names_json

if TYPE_CHECKING:
    from outaged.api.routes import Routes

FIELDS = ("element", "start", "end", "note")


def window_json(w: Maintenance, *, cancelled: bool = False) -> dict[str, Any]:
    return {
        "id": window_id(w),
        "element": w.element,
        "start": iso(w.start),
        "end": iso(w.end),
        "note": w.note,
        "declared_by": w.actor,
        "cancelled": cancelled,
    }


class MaintenanceRoutes:
    def __init__(self, routes: Routes) -> None:
        self.api = routes.api

    def _windows(self) -> list[Maintenance]:
        return listed(self.api.pipeline.engine.maintenance, self.api.clock())

    async def add(self, request: web.Request) -> web.Response:
        from outaged.api.routes import _body

        token = _require(request, Permission.SIGNAL, "declare planned work")
        body, _ = await _body(request)
        extra = sorted(set(body) - set(FIELDS))
        if extra:
            message = f"not a field of planned work (fields: {', '.join(FIELDS)})"
            raise SignalError([Problem("api", None, name, message) for name in extra])
        item = {**body, "kind": "maintenance"}
        signals, _ = parse_items(self.api, [item], "signals", False, token)
        (window,) = signals
        assert isinstance(window, Maintenance)
        await self.api.decider().ingest(signals, [None], token.name)
        return web.json_response(window_json(window), status=201, dumps=dumps)

    async def list(self, request: web.Request) -> web.Response:
        _require(request, Permission.READ, "read planned work")
        await self.api.pipeline.settled()
        found = [window_json(w) for w in self._windows()]
        topology = self.api.index.topology
        body = {
            "maintenance": found,
            "names": names_json([f["element"] for f in found], topology),
            "timezone": topology.timezone,
        }
        return web.json_response(body, dumps=dumps)

    async def cancel(self, request: web.Request) -> web.Response:
        token = _require(request, Permission.SIGNAL, "call off planned work")
        wanted = request.match_info["id"]
        await self.api.pipeline.settled()
        found = [w for w in self._windows() if window_id(w) == wanted]
        if not found:
            raise NotFoundError(f"no planned work {wanted!r} under way or to come")
        w = found[0]
        now = self.api.clock()
        off = Maintenance(now, w.element, w.start, w.end, w.note, token.name, cancelled=True)
        await self.api.decider().ingest([off], [None], token.name)
        return web.json_response(window_json(w, cancelled=True), dumps=dumps)


def add_routes(app: web.Application, routes: Routes) -> None:
    m = MaintenanceRoutes(routes)
    app.router.add_post("/api/v1/maintenance", m.add)
    app.router.add_get("/api/v1/maintenance", m.list)
    app.router.add_delete("/api/v1/maintenance/{id}", m.cancel)
