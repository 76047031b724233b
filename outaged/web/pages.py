"""aiohttp handlers of the board (/board) and the statistics page (/stats):
server-rendered Jinja2, a cookie session from a token, nothing shown without one."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any

import jinja2
from aiohttp import web

from outaged.api.access import Api
from outaged.api.auth import Permission, Role, allowed, token_hash
from outaged.api.bulletin import KEYS, MAX_QUERY, find, open_outages
from outaged.cli.i18n import LANGS, Lang, label, translate
from outaged.cli.render import fmt_duration
from outaged.directory.lookup import lookup, planned_windows
from outaged.store.base import OutageQuery
from outaged.web import charts, views
from outaged.web.session import COOKIE, TTL_S, Session, Sessions
from outaged.zones import parse_zone

log = logging.getLogger("outaged.web")

POLL_MS = 2000  # the board asks for changes this often (the goal: seen within 5 s)


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("outaged.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class PageError(Exception):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.status = status


def page_lang(request: web.Request) -> Lang:
    value = request.query.get("lang", "zh-CN")
    for lang in LANGS:
        if value == lang:
            return lang
    raise PageError(422, "lang", f"expected one of {', '.join(LANGS)}")


class Pages:
    def __init__(self, api: Api, sessions: Sessions | None = None) -> None:
        self.api = api
        self.sessions = sessions or Sessions()
        self.env = environment()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.root)
        app.router.add_get("/board", self.board)
        app.router.add_get("/board/live", self.live)
        app.router.add_get("/stats", self.stats)
        app.router.add_get("/stats.csv", self.stats_csv)
        app.router.add_post("/login", self.login)
        app.router.add_post("/logout", self.logout)

    # ---- rendering -------------------------------------------------------

    def render(self, name: str, lang: Lang, status: int = 200, **context: Any) -> web.Response:
        def t(key: str, **fmt: object) -> str:
            return translate(key, lang, **fmt)

        other: Lang = "en" if lang == "zh-CN" else "zh-CN"
        html = self.env.get_template(name).render(t=t, lang=lang, other=other, **context)
        response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
            "connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    async def guarded(
        self, request: web.Request, show: Callable[[Session, Lang], Awaitable[web.Response]]
    ) -> web.Response:
        try:
            lang = page_lang(request)
        except PageError as exc:
            return web.Response(status=exc.status, text=str(exc))
        session = await self.session(request)
        if session is None:
            nxt = request.path_qs if request.path != "/board/live" else "/board"
            return self.render("login.html", lang, 401, error="", next=nxt)
        try:
            return await show(session, lang)
        except PageError as exc:
            return web.Response(status=exc.status, text=str(exc))

    async def session(self, request: web.Request) -> Session | None:
        now = self.api.clock()
        session = self.sessions.get(request.cookies.get(COOKIE), now)
        if session is None:
            return None
        token = await self.api.store.token_by_hash(session.token_sha256)
        if token is None or token.revoked_at is not None:  # revoked since: the session ends
            self.sessions.drop(request.cookies.get(COOKIE))
            return None
        return session

    # ---- login -----------------------------------------------------------

    async def root(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/board")

    async def login(self, request: web.Request) -> web.Response:
        try:
            lang = page_lang(request)
        except PageError as exc:
            return web.Response(status=exc.status, text=str(exc))
        form = await request.post()
        raw, nxt = form.get("token"), form.get("next")
        target = (
            nxt
            if isinstance(nxt, str) and nxt.startswith("/") and nxt[1:2] not in ("/", "\\")
            else "/board"
        )
        if not isinstance(raw, str) or not raw.strip():
            return self.render(
                "login.html", lang, 400, error=translate("board.login_missing", lang), next=target
            )
        token = await self.api.store.token_by_hash(token_hash(raw.strip()))
        if token is None or token.revoked_at is not None:
            log.warning("board login refused: unknown or revoked token")
            return self.render(
                "login.html", lang, 401, error=translate("board.login_bad", lang), next=target
            )
        if not allowed(Role(token.role), Permission.READ):
            log.warning("board login refused: token %r (%s) may not read", token.name, token.role)
            error = translate("board.login_role", lang, role=token.role)
            return self.render("login.html", lang, 403, error=error, next=target)
        sid = self.sessions.create(token.sha256, token.name, token.role, self.api.clock())
        response = web.HTTPSeeOther(target)
        response.set_cookie(
            COOKIE, sid, httponly=True, samesite="Strict", max_age=int(TTL_S), path="/"
        )
        log.info("board login: %r (%s)", token.name, token.role)
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        self.sessions.drop(request.cookies.get(COOKIE))
        response = web.HTTPSeeOther("/board")
        response.del_cookie(COOKIE, path="/")
        raise response

    # ---- the board -------------------------------------------------------

    def _live_context(self, lang: Lang) -> dict[str, Any]:
        api = self.api
        now = api.clock()
        tz = parse_zone(api.index.topology.timezone)
        opens = open_outages(api)
        windows = planned_windows(api.pipeline.engine)
        return {
            "areas": views.by_area(opens, api.index, now, tz, lang),
            "planned": views.planned(windows, api.index.topology, now, tz, lang),
            "count": len(opens),
            "now": views.now_text(now, tz),
        }

    async def board(self, request: web.Request) -> web.Response:
        return await self.guarded(request, lambda s, lang: self._board(request, s, lang))

    async def _board(self, request: web.Request, session: Session, lang: Lang) -> web.Response:
        by, q = request.query.get("by", "address"), request.query.get("q", "").strip()
        if by not in KEYS:
            raise PageError(422, "by", f"expected one of {', '.join(KEYS)}")
        if len(q) > MAX_QUERY or not q.isprintable():
            raise PageError(422, "q", f"expected at most {MAX_QUERY} printable characters")
        results: list[dict[str, Any]] | None = None
        total = 0
        await self.api.pipeline.settled()  # no await from here to the page's last read
        if q:
            if not allowed(Role(session.role), Permission.LOOKUP):
                raise PageError(403, "q", f"role {session.role!r} may not look up subscribers")
            found = find(self.api, by, q)
            now = self.api.clock()
            tz = parse_zone(self.api.index.topology.timezone)
            windows = planned_windows(self.api.pipeline.engine)
            results = lookup(found, self.api.index, open_outages(self.api), windows, now, tz)
            total = found.total
            for r in results:
                r["path_names"] = [
                    views.element_name(self.api.index.topology, e, lang) for e in r["path"]
                ]
        return self.render(
            "board.html",
            lang,
            user=session.name,
            by=by,
            q=q,
            results=results,
            total=total,
            can_lookup=allowed(Role(session.role), Permission.LOOKUP),
            poll_ms=POLL_MS,
            **self._live_context(lang),
        )

    async def live(self, request: web.Request) -> web.Response:
        """The board's changing part, polled by its page."""

        async def show(session: Session, lang: Lang) -> web.Response:
            await self.api.pipeline.settled()
            return self.render("live.html", lang, **self._live_context(lang))

        return await self.guarded(request, show)

    # ---- statistics ------------------------------------------------------

    async def _figures(self, request: web.Request) -> tuple[dict[str, Any], str, str]:
        """The figures for `since`..`until`, whole days (YYYY-MM-DD) in the display zone;
        the last 91 days by default."""
        now = self.api.clock()
        tz = parse_zone(self.api.index.topology.timezone)
        today = datetime.fromtimestamp(now, tz).date()
        last = _day(request.query.get("until"), "until", today)
        first = _day(request.query.get("since"), "since", last - timedelta(days=90))
        if first > last:
            raise PageError(422, "since", "must not be after until")
        since = datetime.combine(first, time(), tz).timestamp()
        until = min(now, datetime.combine(last + timedelta(days=1), time(), tz).timestamp())
        store = self.api.store
        rows = await store.outages(OutageQuery(since=since, until=until, limit=1_000_000))
        deadlines = await store.deadlines([r.outage.id for r in rows])
        body = charts.figures(rows, deadlines, since, until, now, tz)
        return body, first.isoformat(), last.isoformat()

    async def stats(self, request: web.Request) -> web.Response:
        async def show(session: Session, lang: Lang) -> web.Response:
            body, since, until = await self._figures(request)
            topology = self.api.index.topology

            def t(key: str, **fmt: object) -> str:
                return translate(key, lang, **fmt)

            def labelled(section: str, prefix: str) -> dict[str, int]:
                return {label(prefix, k, lang): v for k, v in body[section].items()}

            areas = {views.area_name(topology, k, lang): v for k, v in body["by_area"].items()}
            times = []
            for deadline, key, target in charts.TIMED:
                mean = body[key]
                share = charts.share_met(body["by_deadline"].get(deadline, {}))
                times.append(
                    {
                        "name": label("deadline", deadline, lang),
                        "mean": "—" if mean is None else fmt_duration(mean, lang),
                        "target": t(target),
                        "share": "—" if share is None else f"{share:.0%}",
                    }
                )
            share = body["deadlines"]["share_met"]
            met = {
                label("deadline", k, lang): round(100 * v, 1)
                for k, c in body["by_deadline"].items()
                if (v := charts.share_met(c)) is not None
            }
            return self.render(
                "stats.html",
                lang,
                user=session.name,
                since=since,
                until=until,
                query=request.query_string,
                total=body["outages"],
                share="—" if share is None else f"{share:.0%}",
                times=times,
                charts=[
                    (
                        t("stats.by_severity"),
                        charts.bar_chart(
                            labelled("by_severity", "severity"), t("stats.by_severity")
                        ),
                    ),
                    (
                        t("stats.by_cause"),
                        charts.bar_chart(labelled("by_cause", "cause"), t("stats.by_cause")),
                    ),
                    (t("stats.by_area"), charts.bar_chart(areas, t("stats.by_area"))),
                    (t("stats.by_month"), charts.bar_chart(body["by_month"], t("stats.by_month"))),
                    (
                        t("stats.met_by_deadline"),
                        charts.bar_chart(met, t("stats.met_by_deadline"), "%"),
                    ),
                ],
            )

        return await self.guarded(request, show)

    async def stats_csv(self, request: web.Request) -> web.Response:
        async def show(session: Session, lang: Lang) -> web.Response:
            body, since, until = await self._figures(request)
            response = web.Response(
                text=charts.to_csv(body), content_type="text/csv", charset="utf-8"
            )
            name = f"outaged-stats-{since}-{until}.csv"
            response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
            return response

        return await self.guarded(request, show)


def _day(text: str | None, field: str, default: date) -> date:
    if text is None or not text.strip():
        return default
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise PageError(422, field, "expected a date YYYY-MM-DD") from None
