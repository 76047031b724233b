"""The items of a report or signal POST: each checked and made a Signal, every
problem named by its place in the request."""

from __future__ import annotations

import asyncio
from typing import Any

from outaged.api.access import Api
from outaged.errors import Problem, SignalError
from outaged.intake import MAX_ID_TEXT, check_limits, parse_signal, received, text_problem
from outaged.signals import Signal
from outaged.store.base import Token

MAX_TICKET_ID = 2**63 - 1
_PARSE_CHUNK = 100  # batch items validated between two looks at the event loop


def ticket_id(raw: object) -> str | None:
    """A call-centre ticket id (string or integer) as stored; None if unusable."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return str(raw) if 0 <= raw <= MAX_TICKET_ID else None
    if isinstance(raw, str) and raw and text_problem(raw, MAX_ID_TEXT) is None:
        return raw
    return None


async def parse_batch(
    api: Api, items: list[Any], plural: str, batch: bool, token: Token, clock: float | None = None
) -> tuple[list[Signal], list[str | None]]:
    """`parse_items` in chunks, letting the loop run between them: a batch of
    1,000 takes tens of ms to validate, which /healthz and replies would wait out.
    Checked against `clock` (now; read here if not given)."""
    clock = api.clock() if clock is None else clock
    problems: list[Problem] = []
    signals: list[Signal] = []
    ext_ids: list[str | None] = []
    for start in range(0, len(items), _PARSE_CHUNK):
        if start:
            await asyncio.sleep(0)
        chunk = items[start : start + _PARSE_CHUNK]
        try:
            found, ids = parse_items(api, chunk, plural, batch, token, clock, start + 1)
        except SignalError as exc:
            problems += exc.problems
            continue
        signals += found
        ext_ids += ids
    if problems:
        raise SignalError(problems)
    return signals, ext_ids


def parse_items(
    api: Api,
    items: list[Any],
    plural: str,
    batch: bool,
    token: Token,
    clock: float | None = None,
    first: int = 1,
) -> tuple[list[Signal], list[str | None]]:
    """Items `first`, `first` + 1, ... of a request, checked against `clock` (now)."""
    clock = api.clock() if clock is None else clock
    now = received(clock)
    problems: list[Problem] = []
    signals: list[Signal] = []
    ext_ids: list[str | None] = []
    for number, item in enumerate(items, start=first):
        prefix = f"{plural}[{number - 1}]." if batch else ""
        line = number if batch else None
        if not isinstance(item, dict):
            problems.append(Problem("api", line, prefix.rstrip("."), "expected a JSON object"))
            continue
        obj = dict(item)
        ext_id: str | None = None
        if plural == "reports":
            if obj.get("kind", "report") != "report":
                problems.append(Problem("api", line, f"{prefix}kind", "must be 'report'"))
                continue
            obj["kind"] = "report"
            raw_id = obj.pop("id", None)
            if raw_id is not None:
                ext_id = ticket_id(raw_id)
                if ext_id is None:
                    problems.append(
                        Problem(
                            "api",
                            line,
                            f"{prefix}id",
                            f"expected a ticket id: a string of 1 to {MAX_ID_TEXT} "
                            f"characters, or an integer 0 to {MAX_TICKET_ID}",
                        )
                    )
                    continue
        elif obj.get("kind") in ("manual", "maintenance"):
            obj["actor"] = token.name  # who said so is the token, whatever the body says
        try:
            signal = parse_signal(
                obj, api.index.topology, source="api", line=line, strict=True, received_at=now
            )
            late = check_limits(signal, clock, api.limits)
            problems += [Problem("api", line, prefix + f, m) for f, m in late]
            if not late:
                signals.append(signal)
                ext_ids.append(ext_id)
        except SignalError as exc:
            problems += [
                Problem(
                    p.source,
                    p.line,
                    prefix + p.field if p.field else prefix.rstrip("."),
                    p.message,
                )
                for p in exc.problems
            ]
    if problems:
        raise SignalError(problems)
    return signals, ext_ids
