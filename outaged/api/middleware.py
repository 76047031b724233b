"""The API's middleware: every error as JSON in one shape, and bearer-token auth."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestPayloadError

from outaged.api.auth import token_hash
from outaged.api.inputs import HttpError, check_query
from outaged.errors import (
    AuthError,
    NetworkStillDown,
    NotFoundError,
    Problem,
    SignalError,
    StoreError,
    TransitionError,
    UnstorableError,
)
from outaged.pipeline import IdempotencyConflict
from outaged.store.base import Store, Token

log = logging.getLogger("outaged.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN = web.RequestKey("token", Token)


def error_body(
    message: str, problems: Sequence[Problem] = (), refused: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error": message,
        "problems": [{"field": p.field, "line": p.line, "message": p.message} for p in problems],
    }
    if refused is not None:  # an action the outage's state does not allow, for clients
        body["refused"] = refused
    return body


def error_response(
    status: int,
    message: str,
    problems: Sequence[Problem] = (),
    refused: dict[str, Any] | None = None,
) -> web.Response:
    return web.json_response(error_body(message, problems, refused), status=status, dumps=dumps)


def dumps(obj: Any) -> str:
    return encoded(obj).decode("utf-8")


def encoded(obj: Any) -> bytes:
    """`obj` as JSON in UTF-8 (what `json_answer` sends)."""
    text = json.dumps(obj, ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate quoted from a request: escape it
        return json.dumps(obj).encode("ascii")


def json_answer(
    body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """An encoded JSON body answered as `web.json_response` would, less its work."""
    return web.Response(
        body=body, status=status, headers=headers, content_type="application/json", charset="utf-8"
    )


# What a request may be refused for: the client's to fix, never the daemon's.
REFUSALS = (
    HttpError,
    SignalError,
    TransitionError,
    UnstorableError,
    IdempotencyConflict,
    NotFoundError,
    AuthError,
)


def refusal(exc: Exception) -> tuple[int, dict[str, Any]]:
    """The status and body a refusal is answered with (one of REFUSALS); also what
    a queued request's refusal is stored as (outaged.api.queued)."""
    if isinstance(exc, HttpError):
        return exc.status, error_body(str(exc), exc.problems)
    if isinstance(exc, SignalError):
        count = len(exc.problems)
        first = exc.problems[0] if exc.problems else None
        message = f"{count} problems in request"
        if first is not None and count == 1:
            where = f"line {first.line}: " if first.line is not None else ""
            message = f"{where}{first.field}: {first.message}" if first.field else first.message
        return 422, error_body(message, exc.problems)
    if isinstance(exc, NetworkStillDown):  # before TransitionError, of which it is one
        refused = {"action": exc.action, "state": exc.state, "allowed": [exc.state]}
        return 409, error_body(str(exc), refused=refused | {"still_down": list(exc.down)})
    if isinstance(exc, TransitionError):
        refused = {"action": exc.action, "state": exc.state, "allowed": list(exc.allowed)}
        return 409, error_body(str(exc), refused=refused if exc.action else None)
    if isinstance(exc, UnstorableError):  # this item, not the store: retrying it will not help
        return 422, error_body(f"cannot be stored: {exc}", exc.problems)
    if isinstance(exc, IdempotencyConflict):
        return 409, error_body(str(exc))
    if isinstance(exc, NotFoundError):
        return 404, error_body(str(exc))
    if isinstance(exc, AuthError):
        return 401, error_body(str(exc))
    raise TypeError(f"not a refusal: {type(exc).__name__}")


def answer(request: web.Request, exc: Exception) -> web.StreamResponse:
    """The JSON answer to what a handler raised (a redirect is raised on)."""
    if isinstance(exc, REFUSALS):
        if isinstance(exc, UnstorableError):
            log.warning("refused %s %s: %s", request.method, request.path, exc)
        status, body = refusal(exc)
        return web.json_response(body, status=status, dumps=dumps)
    if isinstance(exc, StoreError):
        log.error("store failed during %s %s: %s", request.method, request.path, exc)
        return error_response(503, f"storage unavailable: {exc}")
    if isinstance(exc, RequestPayloadError | BadHttpMessage):  # the body does not decode
        coding = request.headers.get("Content-Encoding", "identity")
        log.warning("refused %s %s: body unreadable as %r", request.method, request.path, coding)
        return error_response(400, f"request body is not valid Content-Encoding {coding!r}")
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return error_response(413, f"request body too large: {exc.text}")
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        response = error_response(exc.status, exc.reason)
        if "Allow" in exc.headers:  # 405 says which methods are (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    # A bug, not the client's fault: the traceback goes to the log, never to them.
    log.error("internal error during %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, INTERNAL)


INTERNAL = "internal error (logged by the daemon)"


# The query parameters each route takes (docs/openapi.yaml); any other is refused.
QUERY_PARAMS: dict[str, frozenset[str]] = {
    "/api/v1/outages": frozenset({"status", "severity", "area", "since", "limit", "at_risk"}),
    "/api/v1/outages/{id}/report": frozenset({"lang", "tz"}),
    "/api/v1/stats": frozenset({"since", "until"}),
    "/api/v1/lookup": frozenset({"subscriber", "phone", "address", "limit"}),
}


class Tokens:
    """`store.token_by_hash`, its answers reused within one turn of the event loop.

    The store reads its token generation on every call, so a revoke committed
    before a request arrives refuses that request. Kept here is what a call
    answered, until a callback queued just before the call runs: the event loop
    runs its callbacks in the order they were queued, and a request's handler is
    queued only after its bytes arrived, so every request that finds the answer
    here arrived before the store was asked (a request arriving after the call
    is queued behind the callback and finds nothing kept). An answer the store
    gave after waiting (a read through its thread) is not kept: the turn it was
    asked in is over. Only valid tokens are kept."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._kept: dict[str, Token] = {}
        self._turn = 0  # turns ended so far
        self._armed = False  # the end of this turn is queued

    async def find(self, sha256: str) -> Token | None:
        found = self._kept.get(sha256)
        if found is not None:
            return found
        if not self._armed:
            asyncio.get_running_loop().call_soon(self._end_turn)
            self._armed = True
        turn = self._turn
        found = await self.store.token_by_hash(sha256)
        if found is not None and found.revoked_at is None and turn == self._turn:
            self._kept[sha256] = found
        return found

    def _end_turn(self) -> None:
        self._kept.clear()
        self._turn += 1
        self._armed = False


def api_middleware(store: Store) -> Middleware:
    """Every error answered as JSON (`answer`), and a bearer token required under
    /api/: one middleware, so a request pays for one frame and one try."""

    tokens = Tokens(store)

    @web.middleware
    async def api(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.path.startswith("/api/"):
                refused = await _authorise(request, tokens)
                if refused is not None:
                    return refused
            return await handler(request)
        except Exception as exc:
            return answer(request, exc)

    return api


async def _authorise(request: web.Request, tokens: Tokens) -> web.Response | None:
    """None with the request's token kept (`TOKEN`), or the 401 answer."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        log.warning("refused %s %s: missing bearer token", request.method, request.path)
        return error_response(401, "missing bearer token")
    token = token.strip()
    # Tokens are ASCII (`new_token`): any other byte cannot name one.
    found = await tokens.find(token_hash(token)) if token.isascii() else None
    if found is None:
        log.warning("refused %s %s: unknown token", request.method, request.path)
        return error_response(401, "unknown or revoked token")
    if found.revoked_at is not None:
        log.warning("refused %s %s: revoked token %r", request.method, request.path, found.name)
        return error_response(401, "unknown or revoked token")
    request[TOKEN] = found
    if "?" in request.raw_path:  # without a query there is no parameter to refuse
        resource = request.match_info.route.resource
        if resource is not None:
            check_query(request.query, QUERY_PARAMS.get(resource.canonical, frozenset()))
    return None
