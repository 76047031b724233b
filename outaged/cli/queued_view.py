"""outagectl and a request a standby queued (several instances, docs/deploy/ha.md):
wait briefly for the leader's decision (GET /api/v1/queued/{id}), then say it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from outaged.cli.client import ApiError
from outaged.cli.i18n import Lang, label, translate

WAIT_S = 5.0  # a live leader decides within its poll_s (1 s by default)
EVERY_S = 0.2

GetJson = Callable[[str], Awaitable[Any]]


def path(queued_id: str) -> str:
    return f"/api/v1/queued/{queued_id}"


async def wait(
    get_json: GetJson,
    queued_id: str,
    wait_s: float = WAIT_S,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> dict[str, Any] | None:
    """The decided outcome (done or refused), or None while still pending after `wait_s`."""
    end = clock() + wait_s
    while True:
        found = await get_json(path(queued_id))
        if found.get("state") != "pending":
            return dict(found)
        if clock() >= end:
            return None
        await sleep(EVERY_S)


def text(
    found: dict[str, Any] | None, queued_id: str, action: str | None, outage: Any, lang: Lang
) -> str:
    """What to say of a decided (or still pending) queued request that was not refused."""
    if found is None and action is None:
        return translate("ctl.queued.still", lang, queued=queued_id)
    if found is None:
        shown = label("action", str(action), lang)
        return translate(
            "ctl.queued.pending", lang, id=outage, action=shown, queued=queued_id, wait=WAIT_S
        )
    body = found.get("body") or {}
    if found.get("kind") == "signals":
        return translate(
            "ctl.queued.signals",
            lang,
            queued=queued_id,
            accepted=body.get("accepted", 0),
            duplicates=body.get("duplicates", 0),
        )
    return translate(
        "ctl.queued.done",
        lang,
        id=body.get("outage", outage),
        action=label("action", str(body.get("action", action)), lang),
        state=label("state", str(body.get("state", "")), lang),
    )


GIVEN_UP = ("unreadable", "refused", "failing")  # outaged.ha.inbox.REASONS


def refusal(found: dict[str, Any], lang: Lang) -> ApiError:
    """A refused queued request as the error the leader's direct answer would be;
    one the leader gave up said in the reader's language (its error a detail)."""
    error = ApiError.from_body(int(found["status"]), "", json.dumps(found["body"]))
    given = found["body"].get("given_up") if isinstance(found["body"], dict) else None
    if not isinstance(given, dict) or given.get("reason") not in GIVEN_UP:
        return error
    message = translate(
        f"ctl.queued.{given['reason']}",
        lang,
        queued=given.get("row", found.get("id")),
        kind=label("queued", str(given.get("kind", found.get("kind"))), lang),
        tries=given.get("tries", 0),
    )
    return ApiError(error.status, message, error.problems)
