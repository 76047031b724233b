"""outagectl's commands: one coroutine each, on a `Ctx` (the API, the settings, the
console); `outagectl maint` is in outaged/cli/maint.py.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, TypeVar

from rich.console import Console, RenderableType
from rich.text import Text

from outaged.cli import api_json, detail_view, list_view, queued_view, stats_view
from outaged.cli.client import Api, BadAnswer
from outaged.cli.i18n import Lang, label, translate
from outaged.cli.lookup_view import lookup_text
from outaged.cli.settings import Settings, api_time
from outaged.cli.status_view import reload_text, status_text
from outaged.errors import OutagedError
from outaged.zones import parse_zone

T = TypeVar("T")


@dataclass(slots=True)
class Ctx:
    api: Api
    settings: Settings
    console: Console
    clock: Callable[[], datetime]

    @property
    def lang(self) -> Lang:
        return self.settings.lang

    def tz(self, data: Any) -> tzinfo | None:
        """The user's zone if they chose one, else the daemon's (`timezone` in its
        answer, from the topology), else this machine's."""
        if self.settings.tz_name is not None:
            return self.settings.tz
        zone = data.get("timezone") if isinstance(data, dict) else None
        try:
            return parse_zone(zone) if isinstance(zone, str) else None
        except ValueError:
            return None

    def names(self, data: Any, args: argparse.Namespace) -> api_json.Names:
        found = data.get("names") if isinstance(data, dict) else None
        wide = getattr(args, "output", None) == "wide"
        return api_json.Names.from_json(found, self.lang, wide)

    def show(self, renderable: RenderableType) -> None:
        self.console.print(Text(renderable) if isinstance(renderable, str) else renderable)

    def dump(self, data: Any) -> None:
        self.console.out(json.dumps(data, ensure_ascii=False, indent=2), highlight=False)


Command = Callable[[Ctx, argparse.Namespace], Awaitable[None]]


def read(parse: Callable[[], T]) -> T:
    """Run a view parser over API JSON; a shape other than docs/api.md's is a BadAnswer."""
    try:
        return parse()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadAnswer(f"unexpected JSON ({type(exc).__name__}: {exc})") from exc


async def cmd_list(ctx: Ctx, args: argparse.Namespace) -> None:
    if args.suspected:
        return await _list_suspected(ctx, args)
    params = {
        key: ",".join(value)
        for key, value in (("status", args.status), ("severity", args.severity))
        if value
    }
    if args.area:
        params["area"] = args.area
    if args.since is not None:
        params["since"] = api_time(args.since)
    if args.at_risk:
        params["at_risk"] = "true"
    data = await ctx.api.get_json("/api/v1/outages", params)
    if args.json:
        return ctx.dump(data)
    outages = read(lambda: [api_json.OutageView.from_json(o) for o in data["outages"]])
    if not outages:
        return ctx.show(translate("ctl.list.empty", ctx.lang))
    names = ctx.names(data, args)
    ctx.show(list_view.outage_table(outages, ctx.lang, ctx.tz(data), ctx.clock(), names))


async def _list_suspected(ctx: Ctx, args: argparse.Namespace) -> None:
    data = await ctx.api.get_json("/api/v1/suspected")
    if args.json:
        return ctx.dump(data)
    found = read(lambda: [dict(f) for f in data["suspected"]])
    if not found:
        return ctx.show(translate("ctl.suspected.empty", ctx.lang))
    names = ctx.names(data, args)
    ctx.show(list_view.suspected_table(found, ctx.lang, ctx.tz(data), ctx.clock(), names))


async def cmd_show(ctx: Ctx, args: argparse.Namespace) -> None:
    data = await ctx.api.get_json(f"/api/v1/outages/{args.id}")
    if args.json:
        return ctx.dump(data)
    outage = read(lambda: api_json.OutageView.from_json(data))
    names = ctx.names(data, args)
    ctx.show(detail_view.outage_detail(outage, ctx.lang, ctx.tz(data), ctx.clock(), names))


# CLI option dest -> API action field
_ACTION_FIELDS = {
    "note": "note",
    "assignee": "assignee",
    "cause": "cause",
    "message": "external_message",
    "method": "method",
    "result": "result",
    "prevention": "prevention",
    "reason": "reason",
    "at": "at",
    "message_en": "external_message_en",
    "severity": "severity",
}


async def cmd_action(ctx: Ctx, args: argparse.Namespace) -> None:
    action = "verify_failed" if getattr(args, "failed", False) else args.action
    body = {"action": action}
    body |= {
        field: value
        for dest, field in _ACTION_FIELDS.items()
        if (value := getattr(args, dest, None)) is not None
    }
    if getattr(args, "force", False):
        body["force"] = "true"
    data = await ctx.api.post_json(f"/api/v1/outages/{args.id}/actions", body)
    if "queued" in data:  # a standby stored it: the leader's decision, if it comes soon
        return await _queued(ctx, str(data["queued"]), args, action, args.id)
    if args.json:
        return ctx.dump(data)
    outage = read(lambda: api_json.OutageView.from_json(data))
    ctx.show(detail_view.action_done(outage, action, ctx.lang, ctx.tz(data), ctx.clock()))


async def _decided(ctx: Ctx, queued_id: str, wait_s: float) -> dict[str, Any] | None:
    """A queued request's outcome once done (None: still pending); its refusal raised
    as if the leader had answered."""
    found = await queued_view.wait(ctx.api.get_json, queued_id, wait_s)
    if found is not None and found.get("state") == "refused":
        raise queued_view.refusal(found, ctx.lang)
    return found


async def _queued(
    ctx: Ctx, queued_id: str, args: argparse.Namespace, action: str | None, outage: Any
) -> None:
    wait_s = 0.0 if action is None else queued_view.WAIT_S  # `outagectl queued`: one look
    found = await _decided(ctx, queued_id, wait_s)
    if args.json:
        return ctx.dump(found or {"id": queued_id, "state": "pending"})
    ctx.show(queued_view.text(found, queued_id, action, outage, ctx.lang))


async def cmd_queued(ctx: Ctx, args: argparse.Namespace) -> None:
    await _queued(ctx, args.id, args, None, None)


async def cmd_report_fault(ctx: Ctx, args: argparse.Namespace) -> None:
    body: dict[str, Any] = {"kind": "manual", "element": args.element}
    if args.note:
        body["note"] = args.note
    if args.cleared:
        body["cleared"] = True
    data = await ctx.api.post_json("/api/v1/signals", body)
    if "queued" in data:  # a standby stored it: the leader's answer, if it comes soon
        found = await _decided(ctx, str(data["queued"]), queued_view.WAIT_S)
        if found is None:
            return await _queued(ctx, str(data["queued"]), args, None, None)
        data = found["body"]
    if args.json:
        return ctx.dump(data)
    ctx.show(translate("ctl.fault_reported", ctx.lang, element=await _element_name(ctx, args)))
    decisions = read(lambda: [(int(d["outage"]), str(d["severity"])) for d in data["decisions"]])
    for outage, severity in dict(decisions).items():
        ctx.show(translate("ctl.fault_outage", ctx.lang, id=outage, severity=severity))


async def _element_name(ctx: Ctx, args: argparse.Namespace) -> str:
    """The element's display name (the id if the daemon will not say)."""
    try:
        data = await ctx.api.get_json(f"/api/v1/elements/{args.element}")
    except OutagedError:
        return str(args.element)
    if not isinstance(data, dict):
        return str(args.element)
    names = api_json.Names(
        ctx.lang, {str(args.element): (data.get("name") or "", data.get("name_en") or "")}
    )
    return names.element(str(args.element))


async def cmd_report(ctx: Ctx, args: argparse.Namespace) -> None:
    if args.json:
        return ctx.dump(await ctx.api.get_json(f"/api/v1/outages/{args.id}"))
    params: dict[str, str] = {"lang": ctx.lang}
    if ctx.settings.tz_name is not None:
        params["tz"] = ctx.settings.tz_name
    text = await ctx.api.get_text(f"/api/v1/outages/{args.id}/report", params)
    ctx.console.out(text.rstrip("\n"), highlight=False)


async def cmd_stats(ctx: Ctx, args: argparse.Namespace) -> None:
    params = {
        key: api_time(value)
        for key, value in (("since", args.since), ("until", args.until))
        if value is not None
    }
    data = await ctx.api.get_json("/api/v1/stats", params)
    if args.json:
        return ctx.dump(data)
    stats = read(lambda: api_json.Stats.from_json(data))
    ctx.show(stats_view.stats_view(stats, ctx.lang, ctx.tz(data), ctx.names(data, args)))


async def cmd_lookup(ctx: Ctx, args: argparse.Namespace) -> None:
    """Is this caller inside a known outage? (the call centre's question)"""
    params = {k: v for k in ("subscriber", "phone", "address") if (v := getattr(args, k))}
    if args.limit is not None:
        params["limit"] = str(args.limit)
    data = await ctx.api.get_json("/api/v1/lookup", params)
    if args.json:
        return ctx.dump(data)
    text = read(
        lambda: lookup_text(data, ctx.lang, ctx.tz(data), ctx.clock(), ctx.names(data, args))
    )
    ctx.show(text)


async def cmd_whoami(ctx: Ctx, args: argparse.Namespace) -> None:
    data = await ctx.api.get_json("/api/v1/whoami")
    if args.json:
        return ctx.dump(data)
    ctx.show(read(lambda: f"{data['name']} ({label('role', str(data['role']), ctx.lang)})"))


async def cmd_status(ctx: Ctx, args: argparse.Namespace) -> None:
    data = await ctx.api.get_json("/api/v1/status")
    if args.json:
        return ctx.dump(data)
    ctx.show(read(lambda: status_text(data, ctx.lang, ctx.tz(data))))


class ReloadRefused(OutagedError):
    """The daemon kept its old configuration: the message says why, in the user's language."""


async def cmd_reload(ctx: Ctx, args: argparse.Namespace) -> None:
    data = await ctx.api.post_json("/api/v1/reload", {})
    if args.json:
        ctx.dump(data)
    ok = read(lambda: bool(data["ok"]))
    if not ok:
        problems = "\n".join(f"  {p}" for p in data.get("problems", []))
        raise ReloadRefused(translate("err.reload_refused", ctx.lang, problems=problems))
    if not args.json:
        ctx.show(read(lambda: reload_text(data, ctx.lang)))
