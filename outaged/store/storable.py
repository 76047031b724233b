"""What the store can hold, checked before an item enters a decision step. Pure.

SQLite refuses a string with a lone UTF-16 surrogate (it is not UTF-8) and an
integer outside its 64-bit INTEGER; a NUL cuts a C string short and a NaN is
stored as NULL. Found inside a step such a value fails the commit of everything
else in it, so the pipeline asks here first and refuses just that item, naming
the field. The API's own checks (outaged.api.inputs) come earlier and say more;
this covers every way in (probes, traps, the CLI's actor names, embedders).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from enum import Enum

from outaged.errors import Problem

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1  # SQLite INTEGER
SURROGATE = "contains a lone UTF-16 surrogate (not a character)"


def text_problem(text: str) -> str | None:
    """Why SQLite cannot keep `text` as it is, if it cannot. ASCII is checked in C."""
    if "\x00" in text:
        return "contains a NUL character"
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE
    return None


def problems(value: object, path: str) -> list[Problem]:
    """Everything in `value` (strings, numbers, and what dataclasses, mappings and
    sequences hold) that the store would refuse, each named by its dotted path."""
    found: list[Problem] = []
    stack: list[tuple[object, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        message: str | None = None
        if isinstance(item, Enum) or item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            message = text_problem(item)
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                message = f"integer out of range ({INT_MIN} to {INT_MAX})"
        elif isinstance(item, float):
            if not math.isfinite(item):
                message = "not a finite number"
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            for name in _field_names(type(item)):
                stack.append((getattr(item, name), _join(where, name)))
        elif isinstance(item, Mapping):
            for key, inner in item.items():
                name = str(key)
                key_problem = text_problem(name)
                if key_problem is not None:
                    found.append(Problem("api", None, _join(where, name), f"name {key_problem}"))
                stack.append((inner, _join(where, name)))
        elif isinstance(item, Sequence):
            for i, inner in enumerate(item):
                stack.append((inner, f"{where}[{i}]"))
        if message is not None:
            found.append(Problem("api", None, where, message))
    found.sort(key=lambda p: p.field)
    return found


_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _join(path: str, name: str) -> str:
    shown = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return f"{path}.{shown}" if path else shown


def intake_problems(
    signals: Sequence[object], ext_ids: Sequence[str | None], actor: str | None, key: str | None
) -> list[Problem]:
    """What the store would refuse in one intake: its signals (`signals[i].field`
    when there are several), their ticket ids (`id`), the actor, the idempotency key."""
    found: list[Problem] = []
    many = len(signals) > 1
    for i, (signal, ext_id) in enumerate(zip(signals, ext_ids, strict=True)):
        if flat_ok(signal) and (ext_id is None or text_problem(ext_id) is None):
            continue
        where = f"signals[{i}]" if many else ""
        found += problems(signal, where)
        if ext_id is not None:
            found += problems(ext_id, f"{where}.id" if where else "id")
    return found + _who(actor, key)


def action_problems(fields: Mapping[str, str], actor: str, key: str | None) -> list[Problem]:
    """What the store would refuse in one action: its fields, the actor, the key."""
    return problems(fields, "") + _who(actor, key)


def _who(actor: str | None, key: str | None) -> list[Problem]:
    found = problems(actor, "actor") if actor is not None else []
    if key is not None:
        found += problems(key, "Idempotency-Key")
    return found


def flat_ok(item: object) -> bool:
    """A quick yes for a flat dataclass (a signal) of plain fields the store takes;
    False means "look closer" with `problems`, not necessarily bad."""
    for name in _field_names(type(item)):
        value = getattr(item, name)
        kind = type(value)
        if kind is str:
            if "\x00" in value or (not value.isascii() and text_problem(value) is not None):
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif kind is int:
            if not INT_MIN <= value <= INT_MAX:
                return False
        elif not (value is None or kind is bool or isinstance(value, Enum)):
            return False
    return True
