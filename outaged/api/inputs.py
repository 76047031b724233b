"""What a request may carry, checked before anything reaches the pipeline. Pure.

Every refusal is an HttpError with the API's error shape: a message, and problems
that name the field (a dotted path into the body, or the query parameter).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

from multidict import MultiMapping

from outaged.errors import Problem
from outaged.intake import parse_time, text_problem
from outaged.outages.lifecycle import ACTIVE, State
from outaged.store.base import OutageQuery
from outaged.topology.model import Severity

MAX_DEPTH = 32  # the deepest body the API takes has 3 levels; 32 leaves room for notes
MAX_ID = 2**63 - 1  # outage ids are SQLite INTEGERs
ACTIVE_STATES = frozenset(s.value for s in ACTIVE)
_DIGITS = re.compile(r"[0-9]{1,19}")
L = TypeVar("L", bound=str)


class HttpError(Exception):
    def __init__(self, status: int, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problems = problems or []


def printable(text: str) -> str:
    """`text` safe to put in a response: lone surrogates shown as \\udxxx escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def read_json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 (422 for a bad string) saying why."""
    try:
        obj = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError as exc:
        raise HttpError(
            400, f"request body is not valid JSON at line {exc.lineno} column {exc.colno}"
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise HttpError(400, "request body must be a JSON object")
    problems = check_tree(obj)
    if problems:
        raise HttpError(422, _summary(problems), problems)
    return obj


def _too_deep() -> HttpError:
    return HttpError(400, f"request body is nested deeper than {MAX_DEPTH} levels")


def check_tree(obj: object) -> list[Problem]:
    """Every string (keys too) in a parsed body: no lone surrogate, no control
    character, not too long; and no deeper than MAX_DEPTH. Iterative: a deep body
    must not exhaust the stack here either."""
    problems: list[Problem] = []
    stack: list[tuple[object, str, int]] = [(obj, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(value, str):
            message = text_problem(value)
            if message is not None:
                problems.append(Problem("api", _batch_line(path), path, message))
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{path}.{printable(key)}" if path else printable(key)
                message = text_problem(key)
                if message is not None:
                    problems.append(
                        Problem("api", _batch_line(name), name, f"field name {message}")
                    )
                stack.append((item, name, depth + 1))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                stack.append((item, f"{path}[{i}]", depth + 1))
    problems.sort(key=lambda p: p.field)
    return problems


_BATCH_ITEM = re.compile(r"(?:reports|signals)\[(\d+)\]")


def _batch_line(path: str) -> int | None:
    """The line of a batch item (1-based, as the other batch errors give it), if
    `path` is inside one."""
    match = _BATCH_ITEM.match(path)
    return int(match[1]) + 1 if match else None


def _summary(problems: list[Problem]) -> str:
    if len(problems) == 1:
        p = problems[0]
        return f"{p.field}: {p.message}" if p.field else p.message
    return f"{len(problems)} problems in request"


def outage_id(text: str) -> int:
    """The {id} of an outage path: 1 to 2^63-1 in ASCII digits, else 404 naming `id`."""
    if _DIGITS.fullmatch(text) and 1 <= int(text) <= MAX_ID:
        return int(text)
    shown = printable(text)[:40]
    raise HttpError(
        404,
        f"unknown outage {shown!r}",
        [Problem("api", None, "id", f"outage ids are integers 1 to {MAX_ID}")],
    )


def unknown_outage(oid: int) -> HttpError:
    return HttpError(404, f"unknown outage {oid}", [Problem("api", None, "id", "no such outage")])


def check_query(query: MultiMapping[str], known: frozenset[str]) -> None:
    """Refuse a query parameter the route does not take: a typo such as `?sevrity=S1`
    would otherwise answer for every severity."""
    unknown = sorted({printable(k) for k in query if k not in known})
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        message = f"unknown query parameter (this route takes: {takes})"
        raise HttpError(
            422,
            f"{unknown[0]}: {message}",
            [Problem("api", None, name, message) for name in unknown],
        )


def single_param(query: MultiMapping[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise HttpError(
            422,
            f"{name}: given {len(values)} times; give it once",
            [Problem("api", None, name, "given more than once")],
        )
    if not values:
        return None
    text = values[0]
    message = text_problem(text)
    if message is not None:
        raise HttpError(422, f"{name}: {message}", [Problem("api", None, name, message)])
    return text


def query_time(query: MultiMapping[str], name: str) -> float | None:
    text = single_param(query, name)
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        raise HttpError(422, f"{name}: {exc}", [Problem("api", None, name, str(exc))]) from None


def stats_range(query: MultiMapping[str], now: float, default_s: float) -> tuple[float, float]:
    until = query_time(query, "until")
    until = now if until is None else until
    since = query_time(query, "since")
    since = max(0.0, until - default_s) if since is None else since
    if since >= until:
        message = "must be before until"
        raise HttpError(422, f"since: {message}", [Problem("api", None, "since", message)])
    return since, until


def query_lang(query: MultiMapping[str], langs: tuple[L, ...]) -> L:
    """`lang`: one of `langs`, the first when absent (never when empty)."""
    lang = single_param(query, "lang")
    if lang is None:
        return langs[0]
    for known in langs:
        if lang == known:
            return known
    raise HttpError(
        422,
        f"unknown lang {lang!r}; one of {', '.join(langs)}",
        [Problem("api", None, "lang", "unsupported language")],
    )


MAX_LIMIT = 1000


def at_risk_param(query: MultiMapping[str]) -> bool:
    """GET /outages?at_risk=true|false."""
    text = single_param(query, "at_risk")
    if text is None or text == "false":
        return False
    if text == "true":
        return True
    problem = Problem("api", None, "at_risk", f"expected true or false, got {text!r}")
    raise HttpError(422, f"{problem.field}: {problem.message}", [problem])


def outage_query(query: MultiMapping[str], areas: Mapping[str, object]) -> OutageQuery:
    """GET /outages: status, severity, area, since, limit (docs/api.md "List")."""
    problems: list[Problem] = []

    def choices(
        name: str, known: frozenset[str], special: dict[str, frozenset[str] | None]
    ) -> frozenset[str] | None:
        text = single_param(query, name)
        if text is None:
            return special.get("")  # absent: the default; given empty: refused below
        if text and text in special:
            return special[text]
        values = frozenset(v.strip() for v in text.split(",") if v.strip())
        bad = sorted(values - known)
        if bad or not values:
            problems.append(
                Problem(
                    "api",
                    None,
                    name,
                    f"unknown value(s) {', '.join(bad) or text!r}; "
                    f"one of {', '.join(sorted(known))}",
                )
            )
        return values

    special = {"": ACTIVE_STATES, "active": ACTIVE_STATES, "all": None}
    states = choices("status", frozenset(s.value for s in State), special)
    severities = choices("severity", frozenset(s.value for s in Severity), {})
    since = None
    try:
        since = query_time(query, "since")
    except HttpError as exc:
        problems += exc.problems
    limit = 200
    text = single_param(query, "limit")
    if text is not None:
        if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= MAX_LIMIT:
            problems.append(Problem("api", None, "limit", f"expected 1 to 1000, got {text!r}"))
        else:
            limit = int(text)
    area = single_param(query, "area")
    if area is not None and area not in areas:
        known = ", ".join(sorted(areas))
        problems.append(Problem("api", None, "area", f"unknown area {area!r}; one of {known}"))
    if problems:
        raise HttpError(422, "; ".join(f"{p.field}: {p.message}" for p in problems), problems)
    return OutageQuery(states=states, severities=severities, area=area, since=since, limit=limit)
