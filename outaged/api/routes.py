"""aiohttp routes for API v1 (docs/api.md): parse, authorise, hand to the pipeline, render."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from outaged.api.access import Api
from outaged.api.access import require as _require
from outaged.api.alertmanager import parse_webhook
from outaged.api.auth import Permission, Role, allowed
from outaged.api.bulletin import Bulletin, eta_fields, inside_json
from outaged.api.inputs import (
    MAX_LIMIT,
    HttpError,
    at_risk_param,
    outage_id,
    outage_query,
    printable,
    query_lang,
    read_json,
    single_param,
    stats_range,
    unknown_outage,
)
from outaged.api.items import parse_batch
from outaged.api.lean import lean_report
from outaged.api.maintenance import add_routes as add_maintenance_routes
from outaged.api.middleware import TOKEN, api_middleware, dumps, encoded, json_answer
from outaged.api.ops import add_ops_routes
from outaged.api.queued import add_routes as add_queued_routes
from outaged.api.queued import location
from outaged.api.views import (
    element_json,
    element_probes_json,
    outage_detail,
    outage_json,
    probers_json,
)
from outaged.classify.scope import covers
from outaged.errors import (
    Problem,
)
from outaged.intake import (
    SIGNAL_KINDS,
    text_problem,
)
from outaged.outages.lifecycle import ACTIVE
from outaged.outages.model import suspicion_json
from outaged.pipeline import IdemKey, Ingested, Replayed
from outaged.probes.probers import address_map
from outaged.records.actions import parse_action
from outaged.records.model import Deadline, Entry
from outaged.records.report import LANGS, render_report
from outaged.records.stats import stats
from outaged.signals import Signal
from outaged.steps import Queued
from outaged.store.base import OutageQuery, OutageRow, Token
from outaged.topology.graph import GraphIndex
from outaged.topology.names import names_json
from outaged.web.pages import Pages
from outaged.zones import parse_zone

log = logging.getLogger("outaged.api")

MAX_KEY = 200
STATS_DEFAULT_S = 30 * 86400.0


def build_app(api: Api, max_body_bytes: int) -> web.Application:
    app = web.Application(client_max_size=max_body_bytes, middlewares=[api_middleware(api.store)])
    r = Routes(api)
    app.router.add_get("/healthz", r.healthz)
    app.router.add_get("/readyz", r.readyz)
    app.router.add_get("/api/v1/whoami", r.whoami)
    app.router.add_post("/api/v1/reports", r.reports)
    app.router.add_post("/api/v1/signals", r.signals)
    app.router.add_get("/api/v1/outages", r.outages)
    app.router.add_get("/api/v1/outages/{id}", r.outage)
    app.router.add_post("/api/v1/outages/{id}/actions", r.action)
    app.router.add_get("/api/v1/outages/{id}/report", r.report)
    app.router.add_get("/api/v1/elements/{id}", r.element)
    app.router.add_get("/api/v1/stats", r.stats)
    app.router.add_get("/api/v1/suspected", r.suspected)
    add_maintenance_routes(app, r)
    app.router.add_post("/api/v1/alertmanager", r.alertmanager)
    add_queued_routes(app, api)
    if api.registry is not None:
        app.router.add_get("/metrics", r.metrics)
    if api.ops is not None:
        add_ops_routes(app, api.ops, _require)
    app.router.add_get("/api/v1/lookup", Bulletin(api).lookup)
    Pages(api).add_routes(app)
    return app


async def _body(request: web.Request) -> tuple[dict[str, Any], bytes]:
    raw = await request.read()
    return read_json(raw), raw


def _idem(request: web.Request, raw: bytes) -> IdemKey | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key or len(key) > MAX_KEY:
        message = f"must be 1 to {MAX_KEY} characters"
        raise HttpError(
            422,
            f"Idempotency-Key {message}",
            [Problem("api", None, "Idempotency-Key", message)],
        )
    bad = text_problem(key)
    if bad is not None:
        raise HttpError(
            422, f"Idempotency-Key {bad}", [Problem("api", None, "Idempotency-Key", bad)]
        )
    digest = hashlib.sha256(request.method.encode() + request.path.encode() + b"\0" + raw)
    return IdemKey(key, digest.hexdigest())


def _replayed(outcome: Replayed) -> web.Response:
    return web.Response(
        status=outcome.status,
        text=outcome.body,
        content_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


def _queued(outcome: Queued, **more: Any) -> web.Response:
    """Stored for the leader to decide (another instance leads, or none does yet)."""
    body = {"queued": outcome.id, "location": location(outcome.id), **more}
    headers = {"Location": location(outcome.id)}  # its outcome, once decided
    return web.json_response(body, status=202, headers=headers, dumps=dumps)


def _outage_id(request: web.Request) -> int:
    return outage_id(request.match_info["id"])


class Routes:
    def __init__(self, api: Api) -> None:
        self.api = api
        self._by_address: tuple[GraphIndex, dict[str, str]] | None = None

    @property
    def index(self) -> GraphIndex:
        """The topology now (a reload swaps it)."""
        return self.api.index

    # ---- health ----------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def metrics(self, request: web.Request) -> web.Response:
        """Prometheus text format; unauthenticated like /healthz (bind to the NOC's network)."""
        assert self.api.registry is not None  # routed only with one
        await self.api.pipeline.quiet()  # the collectors iterate memory
        body = generate_latest(self.api.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def readyz(self, request: web.Request) -> web.Response:
        status = self.api.status()
        if status != "ready":
            return web.json_response({"status": status}, status=503)
        failing = self.api.pipeline.failing
        if failing is not None:
            return web.json_response({"status": "failing", "reason": failing}, status=503)
        await self.api.pipeline.quiet()
        engine = self.api.pipeline.engine
        body: dict[str, Any] = {
            "status": "ready",
            "open_outages": len(engine.open_outages()),
            "detached_outages": len(engine.detached),
        }
        if self.api.probers is not None:
            body["probers"] = probers_json(self.api.probers.statuses())
        return web.json_response(body)

    async def whoami(self, request: web.Request) -> web.Response:
        token = request[TOKEN]
        return web.json_response({"name": token.name, "role": token.role})

    # ---- signals in ------------------------------------------------------

    async def reports(self, request: web.Request) -> web.Response:
        token = _require(request, Permission.REPORT, "post reports")
        return await self._ingest(request, token, "reports")

    async def signals(self, request: web.Request) -> web.Response:
        token = _require(request, Permission.REPORT, "post signals")
        return await self._ingest(request, token, "signals")

    def _require_kinds(
        self, request: web.Request, token: Token, items: list[Any], batch: bool
    ) -> None:
        """Only customer reports for a role without the signal permission (issue 7 §4):
        a probe, trap, manual fault or maintenance window can open or silence outages."""
        if allowed(Role(token.role), Permission.SIGNAL):
            return
        problems: list[Problem] = []
        kinds: list[str] = []
        for number, item in enumerate(items, start=1):
            kind = item.get("kind") if isinstance(item, dict) else None
            if isinstance(kind, str) and kind != "report" and kind in SIGNAL_KIND_NAMES:
                where = f"signals[{number - 1}].kind" if batch else "kind"
                problems.append(
                    Problem(
                        "api",
                        number if batch else None,
                        where,
                        f"role {token.role!r} may not post {kind} signals",
                    )
                )
                if kind not in kinds:
                    kinds.append(kind)
        if problems:
            log.warning(
                "refused %s %s: token %r (%s) may not post %s signals",
                request.method,
                request.path,
                token.name,
                token.role,
                ", ".join(kinds),
            )
            raise HttpError(
                403, f"role {token.role!r} may not post {', '.join(kinds)} signals", problems
            )

    async def alertmanager(self, request: web.Request) -> web.Response:
        token = _require(request, Permission.SIGNAL, "post alerts")
        body, raw = await _body(request)
        idem = _idem(request, raw)
        index = self.index
        parsed = parse_webhook(
            body,
            index,
            lambda: self._addresses(index),
            self.api.alert_label,
            token.name,
            self.api.clock(),
            self.api.limits,
        )
        for refused in parsed.refused:
            self.api.alerts_counted(refused.result)
            log.warning(
                "alert %d (%s) refused: %s", refused.index, refused.alertname, refused.reason
            )
        if not parsed.signals:
            problems = [
                Problem("api", None, f"alerts[{r.index}].labels", r.reason) for r in parsed.refused
            ]
            message = problems[0].message if problems else "no alerts in the payload"
            raise HttpError(422, message, problems)
        outcome = await self.api.decider().ingest(
            list(parsed.signals), [None] * len(parsed.signals), token.name, idem
        )
        for _ in parsed.signals:
            self.api.alerts_counted("accepted")
        if isinstance(outcome, Queued):
            return _queued(outcome, refused=[r.to_json() for r in parsed.refused])
        if isinstance(outcome, Replayed):
            return _replayed(outcome)
        assert isinstance(outcome, Ingested)
        answer = {**_ingested(outcome), "refused": [r.to_json() for r in parsed.refused]}
        return web.json_response(answer, status=202, dumps=dumps)

    def _addresses(self, index: GraphIndex) -> dict[str, str]:
        """Element by address, for alerts that name only an instance (kept per topology)."""
        if self._by_address is None or self._by_address[0] is not index:
            self._by_address = (index, address_map(index.topology))
        return self._by_address[1]

    async def _ingest(self, request: web.Request, token: Token, plural: str) -> web.Response:
        raw = await request.read()
        clock = self.api.clock()
        lean = None
        signals: list[Signal]
        if plural == "reports":
            lean = lean_report(raw, self.index.topology, clock, self.api.limits)
        if lean is not None:  # nothing to say about it: straight to the pipeline
            signals, ext_ids = [lean[0]], [lean[1]]
            idem = _idem(request, raw)
        else:
            signals, ext_ids, idem = await self._parse(request, token, plural, raw, clock)

        def render(outcome: Ingested) -> str:
            return dumps(self._ingested(outcome))

        outcome = await self.api.decider().ingest(signals, ext_ids, token.name, idem, render)
        if isinstance(outcome, Queued):
            return _queued(outcome, accepted=len(signals))
        if isinstance(outcome, Replayed):
            return _replayed(outcome)
        assert isinstance(outcome, Ingested)
        if not outcome.decisions and not outcome.inside:  # nothing decided: a known answer
            plain = _PLAIN.get((outcome.accepted, outcome.duplicates))
            if plain is not None:
                return json_answer(plain, status=202)
        if outcome.inside:
            await self.api.pipeline.quiet()  # what it tells the callers iterates memory
        return json_answer(encoded(self._ingested(outcome)), status=202)

    async def _parse(
        self, request: web.Request, token: Token, plural: str, raw: bytes, clock: float
    ) -> tuple[list[Signal], list[str | None], IdemKey | None]:
        """The body's signals, every problem of it named (the general validator)."""
        body = read_json(raw)
        idem = _idem(request, raw)
        if plural in body:
            items = body[plural]
            if not isinstance(items, list):
                raise HttpError(400, f"{plural!r} must be a list of objects")
            extra = sorted(set(body) - {plural})
            if extra:
                message = f"not a field of a batch (only {plural!r})"
                raise HttpError(
                    422,
                    f"{extra[0]}: {message}",
                    [Problem("api", None, name, message) for name in extra],
                )
            if len(items) > self.api.max_batch:
                raise HttpError(
                    413, f"{len(items)} {plural} in one batch; at most {self.api.max_batch}"
                )
            batch = True
        else:
            items, batch = [body], False
        if plural == "signals":
            self._require_kinds(request, token, items, batch)
        signals, ext_ids = await parse_batch(self.api, items, plural, batch, token, clock)
        return signals, ext_ids, idem

    def _ingested(self, outcome: Ingested) -> dict[str, Any]:
        body = _ingested(outcome)
        body["inside"] = inside_json(self.api, outcome.inside)
        return body

    # ---- outages ---------------------------------------------------------

    async def outages(self, request: web.Request) -> web.Response:
        _require(request, Permission.READ, "read outages")
        query = outage_query(request.query, self.index.topology.areas)
        risky = at_risk_param(request.query)
        limit = query.limit
        if risky:  # filtered after reading: read as many as a page may hold
            query = dataclasses.replace(query, limit=MAX_LIMIT)
        rows = await self.api.store.outages(query)
        deadlines = await self.api.store.deadlines([r.outage.id for r in rows])
        now = self.api.clock()
        body = [outage_json(r, deadlines[r.outage.id], self.index, now) for r in rows]
        if risky:
            body = [o for o in body if o["at_risk"]][:limit]
        topology = self.index.topology
        answer: dict[str, Any] = {"outages": body, "names": names_json(body, topology)}
        answer["timezone"] = topology.timezone
        return web.json_response(answer, dumps=dumps)

    async def _fetch(self, outage_id: int) -> tuple[OutageRow, list[Deadline], list[Entry]]:
        store = self.api.store
        row = await store.outage(outage_id)
        if row is None:
            raise unknown_outage(outage_id)
        deadlines = (await store.deadlines([outage_id]))[outage_id]
        return row, deadlines, await store.timeline(outage_id)

    async def _detail(self, outage_id: int) -> dict[str, Any]:
        row, deadlines, timeline = await self._fetch(outage_id)
        body = outage_detail(row, deadlines, timeline, self.index, self.api.clock())
        body["names"] = names_json(body, self.index.topology)
        body["timezone"] = self.index.topology.timezone
        return body

    async def outage(self, request: web.Request) -> web.Response:
        _require(request, Permission.READ, "read outages")
        return web.json_response(await self._detail(_outage_id(request)), dumps=dumps)

    async def action(self, request: web.Request) -> web.Response:
        token = _require(request, Permission.ACT, "post actions")
        outage_id = _outage_id(request)
        body, raw = await _body(request)
        parsed = parse_action(body, self.index.topology)
        parsed = eta_fields(parsed, self.api.clock(), self.index.topology.timezone)
        _require(request, Permission.ACT, f"{parsed.action.value} outages", action=parsed.action)
        if self.api.front is not None:  # an unknown outage is a 404 before anything is stored
            await self._fetch(outage_id)
        outcome = await self.api.decider().act(outage_id, parsed, token.name, _idem(request, raw))
        if isinstance(outcome, Queued):
            return _queued(outcome, outage=outage_id, action=parsed.action.value)
        headers = {"Idempotent-Replayed": "true"} if isinstance(outcome, Replayed) else None
        detail = await self._detail(outage_id)
        return web.json_response(detail, headers=headers, dumps=dumps)

    async def report(self, request: web.Request) -> web.Response:
        _require(request, Permission.READ, "read outages")
        lang = query_lang(request.query, LANGS)
        zone = single_param(request.query, "tz")
        try:
            tz = parse_zone(self.index.topology.timezone if zone is None else zone)
        except ValueError as exc:
            raise HttpError(422, f"tz: {exc}", [Problem("api", None, "tz", str(exc))]) from None
        row, deadlines, timeline = await self._fetch(_outage_id(request))
        now = self.api.clock()
        text = render_report(row, deadlines, timeline, self.index, now, lang, tz)
        return web.Response(text=text, content_type="text/markdown", charset="utf-8")

    # ---- elements and statistics ----------------------------------------

    async def element(self, request: web.Request) -> web.Response:
        _require(request, Permission.READ, "read elements")
        element_id = request.match_info["id"]
        if element_id not in self.index.topology.elements:
            raise HttpError(
                404,
                f"unknown element {printable(element_id)[:200]!r}",
                [Problem("api", None, "id", "no such element in the topology")],
            )
        rows = await self.api.store.outages(OutageQuery(states=_ACTIVE, limit=1000))
        rows = [r for r in rows if covers(self.index, r.outage.scope, element_id)]
        deadlines = await self.api.store.deadlines([r.outage.id for r in rows])
        now = self.api.clock()
        found = [outage_json(r, deadlines[r.outage.id], self.index, now) for r in rows]
        await self.api.pipeline.settled()
        health = self.api.pipeline.engine.health.get(element_id)
        body = element_json(element_id, self.index, health, found)
        if self.api.probers is not None:
            body["probes"] = element_probes_json(self.api.probers.element(element_id))
        return web.json_response(body, dumps=dumps)

    async def stats(self, request: web.Request) -> web.Response:
        _require(request, Permission.READ, "read statistics")
        now = self.api.clock()
        since, until = stats_range(request.query, now, STATS_DEFAULT_S)
        rows = await self.api.store.outages(OutageQuery(since=since, until=until, limit=1_000_000))
        deadlines = await self.api.store.deadlines([r.outage.id for r in rows])
        body = stats(rows, deadlines, since, until, now)
        body["names"] = names_json(list(body.get("by_area") or ()), self.index.topology)
        body["timezone"] = self.index.topology.timezone
        return web.json_response(body, dumps=dumps)

    async def suspected(self, request: web.Request) -> web.Response:
        """Suspected concentrations: calls unusual for one place, not for the city."""
        _require(request, Permission.READ, "read suspected concentrations")
        await self.api.pipeline.settled()
        found = [suspicion_json(s) for s in self.api.pipeline.engine.suspected_now()]
        body = {
            "suspected": found,
            "names": names_json([f["element"] for f in found], self.index.topology),
            "timezone": self.index.topology.timezone,
        }
        return web.json_response(body, dumps=dumps)


_ACTIVE = frozenset(s.value for s in ACTIVE)
SIGNAL_KIND_NAMES = frozenset(SIGNAL_KINDS)


def _ingested(outcome: Ingested) -> dict[str, Any]:
    return {
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates,
        "decisions": [d.to_json() for d in outcome.decisions],
    }


# The answer to a single report that decided nothing (most of them), encoded once.
_PLAIN: dict[tuple[int, int], bytes] = {
    (accepted, 1 - accepted): encoded(
        {"accepted": accepted, "duplicates": 1 - accepted, "decisions": [], "inside": []}
    )
    for accepted in (0, 1)
}
