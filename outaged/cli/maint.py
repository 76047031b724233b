"""`outagectl maint add|list|cancel`: planned work (割接) windows (docs/api.md)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from rich.table import Table

from outaged.cli import api_json, render
from outaged.cli.client import ApiError
from outaged.cli.i18n import Lang, translate
from outaged.cli.settings import api_time
from outaged.errors import OutagedError

if TYPE_CHECKING:
    from outaged.cli.commands import Ctx

_AHEAD = re.compile(r"^\+(\d+)([mhd])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400}


class WhenError(OutagedError):
    """--from / --to that is not a time."""


def parse_when(text: str, now: datetime, tz: tzinfo | None) -> datetime:
    """`now`, `+30m` / `+2h` / `+1d` from now, or an ISO-8601 time (local to `tz` if naive)."""
    if text == "now":
        return now
    ahead = _AHEAD.match(text)
    if ahead:
        return now + timedelta(seconds=int(ahead[1]) * _UNIT_S[ahead[2]])
    value = datetime.fromisoformat(text)  # ValueError for anything else
    if value.tzinfo is not None:
        return value
    return value.replace(tzinfo=tz) if tz is not None else value.astimezone()


def _when(ctx: Ctx, option: str, text: str) -> str:
    try:
        return api_time(parse_when(text, ctx.clock(), ctx.settings.tz))
    except ValueError:
        raise WhenError(translate("err.when", ctx.lang, option=option, text=text)) from None


async def cmd_add(ctx: Ctx, args: argparse.Namespace) -> None:
    body: dict[str, Any] = {
        "element": args.element,
        "start": _when(ctx, "--from", args.start),
        "end": _when(ctx, "--to", args.end),
    }
    if args.note:
        body["note"] = args.note
    data = await ctx.api.post_json("/api/v1/maintenance", body)
    if args.json:
        return ctx.dump(data)
    ctx.show(translate("ctl.maint.added", ctx.lang, id=data["id"], element=data["element"]))


async def cmd_list(ctx: Ctx, args: argparse.Namespace) -> None:
    data = await ctx.api.get_json("/api/v1/maintenance")
    if args.json:
        return ctx.dump(data)
    found = [dict(w) for w in data["maintenance"]]
    if not found:
        return ctx.show(translate("ctl.maint.empty", ctx.lang))
    ctx.show(table(found, ctx.lang, ctx.tz(data), ctx.clock(), ctx.names(data, args)))


async def cmd_cancel(ctx: Ctx, args: argparse.Namespace) -> None:
    try:
        data = await ctx.api.call("DELETE", f"/api/v1/maintenance/{args.window}")
    except ApiError as exc:
        if exc.status != 404 or ctx.lang == "en":  # English: the daemon's own words
            raise
        raise ApiError(404, translate("err.no_window", ctx.lang, id=args.window), []) from exc
    if args.json:
        return ctx.show(data[1])
    ctx.show(translate("ctl.maint.cancelled", ctx.lang, id=args.window))


def table(
    found: Sequence[Mapping[str, Any]],
    lang: Lang,
    tz: tzinfo | None,
    now: datetime,
    names: api_json.Names,
) -> Table:
    title = translate("ctl.maint.title", lang, n=len(found))
    t = render.listing_table(title, lang, tz, now)
    for key in ("id", "element", "from", "to", "note", "by"):
        t.add_column(translate(f"ctl.maint.col.{key}", lang))
    for w in found:
        element = str(w.get("element") or "")
        start, end = api_json.parse_time(str(w["start"])), api_json.parse_time(str(w["end"]))
        t.add_row(
            str(w["id"]),
            names.element(element) if element in names.elements else element,
            render.fmt_short(start, tz, now),
            render.fmt_short(end, tz, now),
            str(w.get("note") or ""),
            str(w.get("declared_by") or ""),
        )
    return t


def add_parsers(
    command: Callable[[str, Any, str], argparse.ArgumentParser], h: Callable[[str], str]
) -> None:
    p = command("maint", None, h("maint"))
    sub = p.add_subparsers(dest="maint", required=True, metavar="ACTION")
    add = sub.add_parser("add", help=h("maint_add"), description=h("maint_add"))
    add.set_defaults(run=cmd_add)
    add.add_argument("--element", required=True, help=h("maint_element"))
    add.add_argument("--from", dest="start", required=True, help=h("maint_from"))
    add.add_argument("--to", dest="end", required=True, help=h("maint_to"))
    add.add_argument("--note", help=h("maint_note"))
    add.add_argument("--json", action="store_true", help=h("json"))
    listing = sub.add_parser("list", help=h("maint_list"), description=h("maint_list"))
    listing.set_defaults(run=cmd_list)
    listing.add_argument("--json", action="store_true", help=h("json"))
    listing.add_argument("-o", "--output", choices=["wide"], help=h("output"))
    cancel = sub.add_parser("cancel", help=h("maint_cancel"), description=h("maint_cancel"))
    cancel.set_defaults(run=cmd_cancel)
    cancel.add_argument("window", metavar="ID", help=h("maint_id"))
    cancel.add_argument("--json", action="store_true", help=h("json"))
