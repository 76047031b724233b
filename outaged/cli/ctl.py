"""`outagectl`: the dispatchers' command line, a client of outaged's HTTP API (docs/api.md).

Settings come from flags, then the environment (OUTAGED_URL, OUTAGED_TOKEN,
OUTAGED_LANG), then ~/.config/outaged/ctl.yaml; exit codes are in `Exit` and
docs/outagectl.md.

This module is the arguments and the entry point; the settings are in
outaged/cli/settings.py, the API client and its failures in outaged/cli/client.py,
the commands in outaged/cli/commands.py (and outaged/cli/maint.py). What others
import from here (tests, maint) stays importable from here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import aiohttp
from rich.console import Console

from outaged.cli import maint
from outaged.cli.client import Api, ApiError, BadAnswer, Exit, error_text
from outaged.cli.commands import (
    Command,
    Ctx,
    cmd_action,
    cmd_list,
    cmd_lookup,
    cmd_queued,
    cmd_reload,
    cmd_report,
    cmd_report_fault,
    cmd_show,
    cmd_stats,
    cmd_status,
    cmd_whoami,
    read,
)
from outaged.cli.i18n import ARGPARSE_ZH, Lang, translate
from outaged.cli.settings import (
    DEFAULT_URL,
    CtlConfigError,
    Settings,
    api_time,
    default_config_path,
    early_lang,
    parse_since,
    parse_tz,
    resolve,
)
from outaged.errors import OutagedError
from outaged.records.actions import SEVERITIES

__all__ = [  # importable from here as before the split
    "DEFAULT_URL",
    "ApiError",
    "BadAnswer",
    "Ctx",
    "Exit",
    "api_time",
    "argparse_words",
    "build_parser",
    "default_config_path",
    "error_text",
    "main",
    "parse_since",
    "parse_tz",
    "read",
    "resolve",
]


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
    command("queued", cmd_queued, h("queued")).add_argument("id", metavar="ID", help=h("queued_id"))
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
