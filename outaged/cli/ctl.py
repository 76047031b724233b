"""`outagectl`: the dispatchers' command line, a client of outaged's HTTP API (docs/api.md).

Settings come from flags, then the environment (OUTAGED_URL, OUTAGED_TOKEN,
OUTAGED_LANG), then ~/.config/outaged/ctl.yaml; exit codes are in `Exit` and
docs/outagectl.md.
"""

from __future__ import annotations

import argparse
import asyncio
import errno as _errno
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml
from rich.console import Console, RenderableType
from rich.text import Text

from outaged.cli import maint, render
from outaged.cli.i18n import ARGPARSE_ZH, MESSAGES, Lang, label, pick_lang, translate
from outaged.cli.lookup_view import lookup_text
from outaged.cli.status_view import reload_text, status_text
from outaged.errors import InputError, OutagedError, Problem
from outaged.records.actions import SEVERITIES
from outaged.zones import parse_zone

DEFAULT_URL = "http://127.0.0.1:8470"
CONFIG_KEYS = ("url", "token", "lang", "tz")
T = TypeVar("T")


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


@dataclass(frozen=True, slots=True)
class CtlProblem:
    """A problem with ctl.yaml as a catalogue key, so it can be said in either language."""

    path: Path
    line: int | None
    field: str
    key: str  # `cfg.` key in outaged/cli/i18n/common.py
    fmt: tuple[tuple[str, str], ...] = ()

    def problem(self, lang: Lang) -> Problem:
        message = translate(self.key, lang, **dict(self.fmt))
        return Problem(str(self.path), self.line, self.field, message)


class CtlConfigError(InputError):
    """outagectl's own config file (ctl.yaml) is unreadable or invalid."""

    def __init__(self, found: list[CtlProblem]) -> None:
        self.found = found
        super().__init__([f.problem("en") for f in found])

    def text(self, lang: Lang) -> str:
        return "\n".join(str(f.problem(lang)) for f in self.found)


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


# ---- settings ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    url: str
    token: str | None
    lang: Lang
    tz: tzinfo | None  # None: the machine's local zone
    config_path: Path
    timeout_s: float
    tz_name: str | None = None  # as the user gave it (--tz, ctl.yaml); None: the daemon's zone


def default_config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "outaged" / "ctl.yaml"


def load_config(path: Path, explicit: bool) -> dict[str, str]:
    """ctl.yaml as a dict of known string keys; a missing default file is no config."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if not explicit:
            return {}
        raise CtlConfigError([CtlProblem(path, None, "", "cfg.no_file")]) from None
    except OSError as exc:
        reason = (("reason", str(exc.strerror)),)
        raise CtlConfigError([CtlProblem(path, None, "", "cfg.unreadable", reason)]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = None if line is None else line + 1
        raise CtlConfigError([CtlProblem(path, where, "", "cfg.not_yaml")]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CtlConfigError([CtlProblem(path, None, "", "cfg.not_mapping")])
    known = (("known", ", ".join(CONFIG_KEYS)),)
    problems = [
        CtlProblem(path, None, str(key), "cfg.unknown_key", known)
        for key in data
        if key not in CONFIG_KEYS
    ]
    problems += [
        CtlProblem(path, None, str(key), "cfg.not_string")
        for key, value in data.items()
        if key in CONFIG_KEYS and not isinstance(value, str)
    ]
    if problems:
        raise CtlConfigError(problems)
    return {str(k): str(v) for k, v in data.items()}


parse_tz = parse_zone  # an IANA zone, UTC, an offset (+08:00), or None/`local`


_RELATIVE = re.compile(r"^(\d+)([mhdw])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: datetime, tz: tzinfo | None) -> datetime:
    """`24h`, `7d`, `30m`, `2w` before `now`, or an ISO-8601 time (local to `tz` if naive).

    OverflowError: a time before year 1 or after 9999 (in UTC too, as the API is sent it)."""
    match = _RELATIVE.match(text)
    if match:
        return now - timedelta(seconds=int(match[1]) * _UNIT_S[match[2]])
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration (24h, 7d) nor an ISO-8601 time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz) if tz is not None else value.astimezone()
    value.astimezone(UTC)  # OverflowError at the ends of the range
    return value


def api_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _tz(flag: str | None, from_file: str | None, path: Path) -> tzinfo | None:
    if flag is not None:
        return parse_tz(flag)  # ValueError: a usage error, reported by argparse
    try:
        return parse_tz(from_file)
    except ValueError as exc:
        zone = (("text", str(from_file)),)
        raise CtlConfigError([CtlProblem(path, None, "tz", "cfg.unknown_tz", zone)]) from exc


def resolve(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """Flags, then environment, then the config file, then defaults."""
    path = Path(args.config) if args.config else default_config_path(env)
    file = load_config(path, explicit=args.config is not None)
    return Settings(
        url=(args.url or env.get("OUTAGED_URL") or file.get("url") or DEFAULT_URL).rstrip("/"),
        token=args.token or env.get("OUTAGED_TOKEN") or file.get("token"),
        lang=pick_lang(args.lang or env.get("OUTAGED_LANG") or file.get("lang") or _locale(env)),
        tz=_tz(args.tz, file.get("tz"), path),
        config_path=path,
        timeout_s=args.timeout,
        tz_name=args.tz if args.tz is not None else file.get("tz"),
    )


def _locale(env: Mapping[str, str]) -> str | None:
    return env.get("LC_ALL") or env.get("LC_MESSAGES") or env.get("LANG")


def early_lang(argv: Sequence[str], env: Mapping[str, str]) -> Lang:
    """The language for help and usage errors, before the arguments are parsed:
    --lang, OUTAGED_LANG, the config file's `lang:`, the locale."""
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            return pick_lang(argv[i + 1])
        if arg.startswith("--lang="):
            return pick_lang(arg.split("=", 1)[1])
    if env.get("OUTAGED_LANG"):
        return pick_lang(env["OUTAGED_LANG"])
    config = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--config"), None)
    try:
        file = load_config(Path(config) if config else default_config_path(env), explicit=False)
    except CtlConfigError:
        file = {}
    return pick_lang(file.get("lang") or _locale(env))


# ---- the API client ------------------------------------------------------------------


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


# ---- commands ------------------------------------------------------------------------


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

    def names(self, data: Any, args: argparse.Namespace) -> render.Names:
        found = data.get("names") if isinstance(data, dict) else None
        wide = getattr(args, "output", None) == "wide"
        return render.Names.from_json(found, self.lang, wide)

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
    outages = read(lambda: [render.OutageView.from_json(o) for o in data["outages"]])
    if not outages:
        return ctx.show(translate("ctl.list.empty", ctx.lang))
    names = ctx.names(data, args)
    ctx.show(render.outage_table(outages, ctx.lang, ctx.tz(data), ctx.clock(), names))


async def _list_suspected(ctx: Ctx, args: argparse.Namespace) -> None:
    data = await ctx.api.get_json("/api/v1/suspected")
    if args.json:
        return ctx.dump(data)
    found = read(lambda: [dict(f) for f in data["suspected"]])
    if not found:
        return ctx.show(translate("ctl.suspected.empty", ctx.lang))
    names = ctx.names(data, args)
    ctx.show(render.suspected_table(found, ctx.lang, ctx.tz(data), ctx.clock(), names))


async def cmd_show(ctx: Ctx, args: argparse.Namespace) -> None:
    data = await ctx.api.get_json(f"/api/v1/outages/{args.id}")
    if args.json:
        return ctx.dump(data)
    outage = read(lambda: render.OutageView.from_json(data))
    names = ctx.names(data, args)
    ctx.show(render.outage_detail(outage, ctx.lang, ctx.tz(data), ctx.clock(), names))


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
    if args.json:
        return ctx.dump(data)
    outage = read(lambda: render.OutageView.from_json(data))
    ctx.show(render.action_done(outage, action, ctx.lang, ctx.tz(data), ctx.clock()))


async def cmd_report_fault(ctx: Ctx, args: argparse.Namespace) -> None:
    body: dict[str, Any] = {"kind": "manual", "element": args.element}
    if args.note:
        body["note"] = args.note
    if args.cleared:
        body["cleared"] = True
    data = await ctx.api.post_json("/api/v1/signals", body)
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
    names = render.Names(
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
    stats = read(lambda: render.Stats.from_json(data))
    ctx.show(render.stats_view(stats, ctx.lang, ctx.tz(data), ctx.names(data, args)))


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


# ---- arguments -----------------------------------------------------------------------


def _globals(parser: argparse.ArgumentParser, h: Callable[[str], str]) -> None:
    parser.add_argument("--url", help=h("url"))
    parser.add_argument("--token", help=h("token"))
    parser.add_argument("--lang", choices=["zh-CN", "en"], help=h("lang"))
    parser.add_argument("--tz", help=h("tz"))
    parser.add_argument("--config", help=h("config"))
    parser.add_argument("--timeout", type=float, help=h("timeout"))


def build_parser(lang: Lang = "en") -> argparse.ArgumentParser:
    """The argument parser, its help in `lang` (argparse's own words too, see `main`)."""

    def h(key: str) -> str:
        return translate(f"help.{key}", lang, url=DEFAULT_URL)

    parser = argparse.ArgumentParser(prog="outagectl", description=h("prog"))
    _globals(parser, h)
    parser.set_defaults(timeout=10.0)
    # the same options after the subcommand; SUPPRESS keeps them from overwriting
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    _globals(common, h)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Command, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=text, description=text)
        p.set_defaults(run=run)
        p.add_argument("--json", action="store_true", help=h("json"))
        return p

    def wide(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("-o", "--output", choices=["wide"], help=h("output"))
        return p

    p = wide(command("list", cmd_list, h("list")))
    p.add_argument("--status", action="append", help=h("status"))
    p.add_argument("--severity", action="append", help=h("severity"))
    p.add_argument("--area", help=h("area"))
    p.add_argument("--since", help=h("since"))
    p.add_argument("--suspected", action="store_true", help=h("suspected"))
    p.add_argument("--at-risk", action="store_true", help=h("at_risk"))
    wide(command("show", cmd_show, h("show"))).add_argument("id", type=int, metavar="ID")
    _action_commands(command, h)
    p = command("report-fault", cmd_report_fault, h("report_fault"))
    p.add_argument("element", metavar="ELEMENT", help=h("element"))
    p.add_argument("--note", help=h("what_you_saw"))
    p.add_argument("--cleared", action="store_true", help=h("cleared"))
    command("report", cmd_report, h("report")).add_argument("id", type=int, metavar="ID")
    p = wide(command("stats", cmd_stats, h("stats")))
    p.add_argument("--since", help=h("stats_since"))
    p.add_argument("--until", help=h("until"))
    command("whoami", cmd_whoami, h("whoami"))
    command("status", cmd_status, h("status_cmd"))
    command("reload", cmd_reload, h("reload"))
    p = wide(command("lookup", cmd_lookup, h("lookup")))
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--subscriber", help=h("lookup_subscriber"))
    which.add_argument("--phone", help=h("lookup_phone"))
    which.add_argument("--address", help=h("lookup_address"))
    p.add_argument("--limit", type=int, help=h("lookup_limit"))
    return parser


def _action_commands(
    command: Callable[..., argparse.ArgumentParser], h: Callable[[str], str]
) -> None:
    def action(name: str, api_action: str, text: str, note: bool = True) -> argparse.ArgumentParser:
        p = command(name, cmd_action, text)
        p.set_defaults(action=api_action)
        p.add_argument("id", type=int, metavar="ID", help=h("id"))
        if note:
            p.add_argument("--note", help=h("note"))
        return p

    def report_fields(p: argparse.ArgumentParser) -> None:
        p.add_argument("--method", help=h("method"))
        p.add_argument("--result", help=h("result"))
        p.add_argument("--prevention", help=h("prevention"))

    action("ack", "ack", h("ack"))
    action("assign", "assign", h("assign")).add_argument(
        "assignee", metavar="PERSON", help=h("person")
    )
    action("arrive", "arrive", h("arrive"))
    p = action("diagnose", "diagnose", h("diagnose"))
    p.add_argument("--cause", required=True, help=h("cause"))
    p.add_argument("--message", help=h("message"))
    report_fields(p)
    action("progress", "progress", h("progress"), note=False).add_argument(
        "--note", required=True, help=h("note")
    )
    report_fields(action("restore", "restore", h("restore")))
    p = action("verify", "verify", h("verify"))
    p.add_argument("--failed", action="store_true", help=h("failed"))
    p.add_argument("--force", action="store_true", help=h("force"))
    p.add_argument("--reason", help=h("force_reason"))
    action("callback", "callback_done", h("callback"))
    report_fields(action("close", "close", h("close")))
    action("reopen", "reopen", h("reopen"))
    action("cancel", "cancel", h("cancel"), note=False).add_argument(
        "--reason", required=True, help=h("cancel_reason")
    )
    p = action("eta", "eta", h("eta"))
    p.add_argument("--at", required=True, help=h("eta_at"))
    p.add_argument("--message", help=h("message"))
    p.add_argument("--message-en", dest="message_en", help=h("message_en"))
    p = action("severity", "severity", h("severity_cmd"))
    p.add_argument("severity", choices=SEVERITIES, metavar="LEVEL", help=h("severity_level"))
    p.add_argument("--reason", required=True, help=h("severity_reason"))
    p = action("note", "note", h("note_cmd"), note=False)
    p.add_argument("note", metavar="TEXT", help=h("note"))
    p.add_argument("--message", help=h("note_message"))
    report_fields(p)  # the fault report may be completed after the close
    maint.add_parsers(command, h)


# ---- entry point ---------------------------------------------------------------------


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


async def execute(
    run: Command, args: argparse.Namespace, settings: Settings, console: Console
) -> None:
    timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        ctx = Ctx(Api(session, settings.url, settings.token), settings, console, _now)
        await run(ctx, args)


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def argparse_words(lang: Lang) -> Iterator[None]:
    """argparse's own words (`usage:`, `options`, its errors) in `lang` while inside.

    argparse looks its messages up through the module's gettext `_` at call time;
    outagectl carries its own catalogue instead of installing .mo files.
    """
    if lang == "en":
        yield
        return
    original = argparse._  # type: ignore[attr-defined]
    argparse._ = lambda text: ARGPARSE_ZH.get(text, text)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._ = original  # type: ignore[attr-defined]


def main(argv: Sequence[str] | None = None) -> int:
    env = os.environ
    words = list(sys.argv[1:] if argv is None else argv)
    with argparse_words(early_lang(words, env)):
        return _main(words, env)


def _main(argv: list[str], env: Mapping[str, str]) -> int:
    lang = early_lang(argv, env)
    parser = build_parser(lang)
    args = parser.parse_args(argv)
    try:
        settings = resolve(args, env)
    except CtlConfigError as exc:
        print(translate("err.usage", lang, message=exc.text(lang)), file=sys.stderr)
        return Exit.USAGE
    except ValueError:  # --tz
        parser.error(translate("err.tz", lang, text=args.tz))
    if not settings.url.startswith(("http://", "https://")):
        parser.error(translate("err.url", settings.lang, url=settings.url))
    for name in ("since", "until"):
        if getattr(args, name, None) is not None:
            text = getattr(args, name)
            try:
                setattr(args, name, parse_since(text, _now(), settings.tz))
            except ValueError:
                parser.error(translate("err.since", settings.lang, option=name, text=text))
            except OverflowError:
                parser.error(translate("err.since_range", settings.lang, option=name, text=text))
    console = Console(file=sys.stdout, highlight=False)
    try:
        asyncio.run(execute(args.run, args, settings, console))
    except OutagedError as exc:
        code, text = error_text(exc, settings, getattr(args, "id", None))
        print(f"outagectl: {text}", file=sys.stderr)
        return code
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
