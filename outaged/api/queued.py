"""What became of a request another instance queued (several instances, outaged.ha).

    POST on a standby -> 202 {"queued": id}, Location: /api/v1/queued/{id}
    the leader decides it -> its answer (status, JSON body) stored in that commit
    GET /api/v1/queued/{id} on any instance -> pending | done | refused, with it

The stored answer is the one the leader gives when asked directly: the same
status and error body for a refusal; for an accepted request what it
produced (the report's decisions, the action's outage and its state after).
A request the leader gave up (it cannot be read, or its decision step keeps
failing: outaged.ha.inbox.Reader) is refused with 422 and a `given_up` object
naming the row, its kind, the stage, the reason and the error (`given_up`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from outaged.api.access import Api, require
from outaged.api.auth import Permission, Role, allowed
from outaged.api.bulletin import inside_json
from outaged.api.inputs import HttpError, printable
from outaged.api.middleware import INTERNAL, REFUSALS, TOKEN, dumps, error_body, refusal
from outaged.errors import Problem
from outaged.outages.model import iso
from outaged.records.model import Record
from outaged.steps import Act, Ingested, Intake, Outcome, Replayed

if TYPE_CHECKING:  # the inbox (and psycopg) only with several instances
    from outaged.ha.inbox import GivenUp

PATH = "/api/v1/queued/{id}"
_ID = re.compile(r"[0-9a-f]{32}")  # outaged.ha.inbox.Writer: uuid4().hex
_ASKERS = (Permission.READ, Permission.REPORT, Permission.SIGNAL, Permission.ACT)


def location(queued_id: str) -> str:
    return PATH.replace("{id}", queued_id)


def answer(api: Api) -> Callable[[Intake | Act, Outcome | BaseException], tuple[int, str]]:
    """The leader's answer to a decided request, as status and JSON text."""

    def render(item: Intake | Act, outcome: Outcome | BaseException) -> tuple[int, str]:
        if isinstance(outcome, REFUSALS):
            status, body = refusal(outcome)
            return status, dumps(body)
        if isinstance(outcome, BaseException):  # a bug or the store: as the API answers it
            return 500, dumps(error_body(INTERNAL))
        if isinstance(outcome, Replayed) and outcome.body:
            return outcome.status, outcome.body
        if isinstance(outcome, Ingested):
            return 202, dumps(ingested(api, outcome))
        return 200, dumps(acted(item, outcome))

    return render


def given_up(given: GivenUp) -> tuple[int, str]:
    """What a request the leader gave up is answered: 422, and why."""
    from outaged.ha.inbox import READ  # loaded already: only the inbox gives rows up

    what = "cannot be read" if given.stage == READ else "failed its decision step"
    if given.tries > 1:
        what += f" {given.tries} times"
    message = (
        f"queued {given.kind} request {given.row} {what}; the leader gave it up: {given.error}"
    )
    field = "payload" if given.stage == READ else given.kind
    body = error_body(message, [Problem("inbox", None, field, given.error)])
    body["given_up"] = {
        "row": given.row,
        "kind": given.kind,
        "stage": given.stage,
        "reason": given.reason,
        "tries": given.tries,
        "error": given.error,
    }
    return 422, dumps(body)


def ingested(api: Api, outcome: Ingested) -> dict[str, Any]:
    return {
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "decisions": [d.to_json() for d in outcome.decisions],
        "inside": inside_json(api, outcome.inside),
    }


def acted(item: Intake | Act, outcome: Record | Replayed) -> dict[str, Any]:
    assert isinstance(item, Act)  # signals are answered with Ingested
    body: dict[str, Any] = {"outage": item.outage_id, "action": item.request.action.value}
    if isinstance(outcome, Record):
        body["state"] = outcome.state.value
    else:
        body["replayed"] = True  # the Idempotency-Key's first use did it
    return body


def add_routes(app: web.Application, api: Api) -> None:
    async def queued(request: web.Request) -> web.Response:
        role = Role(request[TOKEN].role)
        if not any(allowed(role, p) for p in _ASKERS):  # whoever may post one
            require(request, Permission.READ, "read queued requests")
        text = request.match_info["id"]
        found = await api.store.queued(text) if _ID.fullmatch(text) else False
        if found is False:
            raise HttpError(
                404,
                f"unknown queued request {printable(text)[:40]!r}",
                [Problem("api", None, "id", "never queued, or its outcome is past retention")],
            )
        if found is True:
            return web.json_response({"id": text, "state": "pending"}, dumps=dumps)
        body = {
            "id": text,
            "kind": found.kind,
            "state": "refused" if found.refused else "done",
            "status": found.status,
            "body": json.loads(found.body),
            "decided_at": iso(found.decided_at),
        }
        return web.json_response(body, dumps=dumps)

    app.router.add_get(PATH, queued)
