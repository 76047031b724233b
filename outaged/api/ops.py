"""The daemon's own state over HTTP: GET /api/v1/status and POST /api/v1/reload (admin).

`Operations` is what the routes need from the running daemon (outaged.app.App):
its status as JSON and a reload that answers with what happened.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from outaged.api.auth import Permission
from outaged.api.middleware import dumps
from outaged.reload import ReloadResult


class Operations(Protocol):
    async def quiet(self) -> None: ...  # no election runs on its thread (outaged.pipeline)

    def status_json(self) -> dict[str, Any]: ...

    async def reload(self) -> ReloadResult: ...


def add_ops_routes(app: web.Application, ops: Operations, require: Any) -> None:
    """`require(request, permission, what)` authorises as every other route does."""

    async def status(request: web.Request) -> web.Response:
        require(request, Permission.READ, "read the daemon's status")
        await ops.quiet()
        return web.json_response(ops.status_json(), dumps=dumps)

    async def reload(request: web.Request) -> web.Response:
        require(request, Permission.ADMIN, "reload the configuration")
        result = await ops.reload()
        return web.json_response(result.to_json(), dumps=dumps)

    app.router.add_get("/api/v1/status", status)
    app.router.add_post("/api/v1/reload", reload)
