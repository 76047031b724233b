"""outagectl's client of outaged's HTTP API (docs/api.md): the `Api` over one aiohttp
session, its failures, and the exit code and message each failure gets (`Exit`).
"""

from __future__ import annotations

import errno as _errno
import json
import os
from collections.abc import Mapping
from enum import IntEnum
from typing import Any

import aiohttp

from outaged.cli.i18n import MESSAGES, label, translate
from outaged.cli.settings import Settings
from outaged.errors import OutagedError, Problem


class Exit(IntEnum):
    OK = 0
    FAILED = 1  # the daemon failed (5xx, 503 while starting) or answered nonsense
    USAGE = 2  # bad arguments or config file
    UNREACHABLE = 3  # connection refused, timeout
    AUTH = 4  # 401 / 403
    NOT_FOUND = 5  # 404: unknown outage or element
    CONFLICT = 6  # 409: action not allowed in the outage's state
    REJECTED = 7  # 400 / 413 / 422: the daemon refused what we sent


_STATUS_EXIT = {401: Exit.AUTH, 403: Exit.AUTH, 404: Exit.NOT_FOUND, 409: Exit.CONFLICT}
_STATUS_EXIT |= {400: Exit.REJECTED, 413: Exit.REJECTED, 422: Exit.REJECTED}


class Unreachable(OutagedError):
    """No HTTP answer from the daemon at all."""

    def __init__(self, url: str, reason: str, code: str = "") -> None:
        self.url = url
        self.reason = reason
        self.code = code  # errno name (ECONNREFUSED) or "timeout", for a translated reason
        super().__init__(f"cannot reach outaged at {url}: {reason}")


class ApiError(OutagedError):
    """The daemon answered with an error status; `message` is its own words."""

    def __init__(
        self,
        status: int,
        message: str,
        problems: list[Problem],
        refused: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.problems = problems
        self.refused = refused  # 409 for an action the state does not allow (docs/api.md)
        super().__init__(f"{status}: {message}")

    @classmethod
    def from_body(cls, status: int, reason: str, text: str) -> ApiError:
        try:
            body = json.loads(text)
            message = str(body["error"])
            problems = [
                Problem("request", p.get("line"), str(p.get("field") or ""), str(p["message"]))
                for p in body.get("problems") or ()
            ]
            refused = body.get("refused")
            if refused is not None:
                refused = {
                    "action": str(refused["action"]),
                    "state": str(refused["state"]),
                    "allowed": [str(s) for s in refused["allowed"]],
                    "still_down": [str(e) for e in refused.get("still_down") or ()],
                }
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls(status, text.strip() or reason, [])
        return cls(status, message, problems, refused)


class BadAnswer(OutagedError):
    """A 2xx answer that is not the JSON docs/api.md promises."""


class Api:
    """outaged's HTTP API over one aiohttp session; failures become OutagedError subclasses."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str | None) -> None:
        self.session = session
        self.url = url
        self.token = token

    async def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> tuple[str, str]:
        """(content type, text) of a 2xx answer; ApiError for any other status."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            async with self.session.request(
                method, self.url + path, params=params, json=body, headers=headers
            ) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    raise ApiError.from_body(resp.status, resp.reason or "", text)
                return resp.content_type, text
        except aiohttp.ClientConnectionError as exc:
            os_error = getattr(exc, "os_error", None)
            errno = os_error.errno if isinstance(os_error, OSError) else None
            code = _errno.errorcode.get(errno, "") if errno else ""
            raise Unreachable(self.url, _reason(exc), code) from exc
        except TimeoutError as exc:
            raise Unreachable(self.url, "no answer in time", "timeout") from exc

    async def get_text(self, path: str, params: Mapping[str, str] | None = None) -> str:
        return (await self.call("GET", path, params))[1]

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._json(await self.call("GET", path, params))

    async def post_json(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._json(await self.call("POST", path, body=body))

    def _json(self, answer: tuple[str, str]) -> Any:
        content_type, text = answer
        try:
            return json.loads(text)
        except ValueError as exc:
            raise BadAnswer(f"{content_type} body is not JSON: {text[:80]!r}") from exc


def _reason(exc: aiohttp.ClientConnectionError) -> str:
    """`Connection refused` rather than aiohttp's `Connect call failed ('127.0.0.1', 1)`."""
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, OSError) and os_error.errno:
        return os.strerror(os_error.errno)
    return str(exc) or type(exc).__name__


def error_text(
    exc: OutagedError, settings: Settings, outage: int | None = None
) -> tuple[Exit, str]:
    """The exit code and the message for a failure; `outage` is the id the command named.

    In English the daemon's own words follow outagectl's; in zh-CN what outagectl can
    say itself (a refused action, no such outage, an unknown token, a role not
    allowed) replaces them.
    """
    lang = settings.lang
    if isinstance(exc, Unreachable):
        found = MESSAGES[lang].get(f"err.conn.{exc.code}") if exc.code else None
        reason = exc.reason if found is None else found
        return Exit.UNREACHABLE, translate("err.unreachable", lang, url=exc.url, reason=reason)
    if isinstance(exc, BadAnswer):
        return Exit.FAILED, translate("err.bad_answer", lang, url=settings.url, message=exc)
    if not isinstance(exc, ApiError):
        return Exit.FAILED, str(exc)
    code = _STATUS_EXIT.get(exc.status, Exit.FAILED)
    key = {
        Exit.AUTH: "err.auth",
        Exit.NOT_FOUND: "err.not_found",
        Exit.CONFLICT: "err.conflict",
        Exit.REJECTED: "err.rejected",
    }.get(code, "err.server")
    message = exc.message
    if exc.refused is not None and exc.refused.get("still_down") and lang != "en":
        down = translate("punct.list", lang).join(exc.refused["still_down"])
        message = translate("err.still_down", lang, elements=down)
    elif exc.refused is not None and lang != "en":  # English: the daemon's own words
        r = exc.refused
        message = translate(
            "err.transition",
            lang,
            action=label("action", r["action"], lang),
            state=label("state", r["state"], lang),
            allowed=translate("punct.list", lang).join(
                label("state", s, lang) for s in r["allowed"]
            ),
        )
    elif lang != "en":
        own = {401: "err.bad_token", 403: "err.forbidden"}.get(exc.status)
        if exc.status == 404 and outage is not None:
            own = "err.no_outage"
        message = message if own is None else translate(own, lang, id=outage)
    lines = [translate(key, lang, status=exc.status, message=message)]
    details = (f"{p.field}: {p.message}" if p.field else p.message for p in exc.problems)
    lines += [f"  {d}" for d in details if d != exc.message and message == exc.message]
    if exc.status == 401 and not settings.token:
        lines.append(translate("err.no_token", lang, path=settings.config_path))
    return code, "\n".join(lines)
