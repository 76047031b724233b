"""outagectl's settings: flags, then the environment (OUTAGED_URL, OUTAGED_TOKEN,
OUTAGED_LANG), then ~/.config/outaged/ctl.yaml; times given on the command line.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import yaml

from outaged.cli.i18n import Lang, pick_lang, translate
from outaged.errors import InputError, Problem
from outaged.zones import parse_zone

DEFAULT_URL = "http://127.0.0.1:8470"
CONFIG_KEYS = ("url", "token", "lang", "tz")


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
