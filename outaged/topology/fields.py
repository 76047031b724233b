"""What the topology readers share: the problems found so far, typed reads
from a YAML mapping (`Fields`), and an element as written (`Draft`).

`Reader` holds the state of one load; the readers of each part of the files
(outaged/topology/sections.py, elements.py, subscribers.py, resolve.py) are
mixins over it, put together in load.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from outaged.errors import Problem
from outaged.topology.model import Area, Kind, Person
from outaged.topology.yamlsrc import YamlList, YamlMap

LISTED = 5  # names quoted in a message before "and N more"


def show(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, YamlMap):
        return "a mapping"
    if isinstance(value, YamlList):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def listing(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown if len(names) <= LISTED else f"{shown} and {len(names) - LISTED} more"


@dataclass(slots=True)
class Draft:
    """An element as written, before inheritance; `area`/`contract` None = inherit."""

    id: str
    kind: Kind | None  # None: the kind was invalid (already reported)
    parents: tuple[str, ...]
    area: str | None
    subscribers: int | None
    address: str | None
    contract: bool | None
    name: str
    snmp: str | None
    uplinks: tuple[str, ...]
    name_en: str
    source: str
    line: int
    prefix: str  # "elements[3]." in the YAML, "" in a CSV (the field is the column)
    key_lines: YamlMap | None  # YAML only: where each field was written
    sound: bool  # False: a field was invalid (reported); skip checks that would echo it

    def where(self, field: str) -> tuple[str, int, str]:
        line = self.line if self.key_lines is None else self.key_lines.line_of(field)
        return self.source, line, self.prefix + field


class Fields:
    """Typed reads from one YAML mapping; each bad field becomes a problem."""

    def __init__(
        self, builder: Reader, node: YamlMap, prefix: str, allowed: frozenset[str]
    ) -> None:
        self.b = builder
        self.node = node
        self.prefix = prefix
        for key in node:
            if key not in allowed:
                self.bad(key, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def bad(self, key: object, message: str) -> None:
        self.b.add(self.node.line_of(key), f"{self.prefix}{key}", message)

    def ident(self, key: str, *, required: bool = False) -> str | None:
        value = self.node.get(key)
        if value is None:
            if required:
                self.bad(key, "missing")
            return None
        if not isinstance(value, str) or not value:
            self.bad(key, f"expected a non-empty string, got {show(value)}")
            return None
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        """Free text; a number is taken as written (phone: 13800138000)."""
        value = self.node.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return self.ident(key, required=required)

    def idents(self, key: str, *, required: bool = False, numbers: bool = False) -> list[str]:
        return [item for item, _ in self.located(key, required=required, numbers=numbers)]

    def located(
        self, key: str, *, required: bool = False, numbers: bool = False
    ) -> list[tuple[str, int]]:
        """A list of strings, each with the line it is written on."""
        value = self.node.get(key)
        if value is None:
            if required:
                self.bad(key, "missing")
            return []
        if not isinstance(value, YamlList):
            self.bad(key, f"expected a list, got {show(value)}")
            return []
        out: list[tuple[str, int]] = []
        for i, item in enumerate(value):
            if numbers and isinstance(item, int) and not isinstance(item, bool):
                item = str(item)
            if isinstance(item, str) and item:
                out.append((item, value.line_of(i)))
            else:
                self.b.add(
                    value.line_of(i),
                    f"{self.prefix}{key}[{i}]",
                    f"expected a non-empty string, got {show(item)}",
                )
        if required and not value:
            self.bad(key, "must not be empty")
        return out

    def count(self, key: str) -> int | None:
        value = self.node.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            self.bad(key, f"expected a whole number >= 0, got {show(value)}")
            return None
        return value

    def flag(self, key: str) -> bool | None:
        value = self.node.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.bad(key, f"expected true or false, got {show(value)}")
        return None


class Reader:
    """One load's state and the problems it reports."""

    def __init__(self, source: str, base: Path, problems: list[Problem]) -> None:
        self.source = source
        self.base = base
        self.problems = problems
        self.people: dict[str, Person] = {}
        self.areas: dict[str, Area] = {}
        self.drafts: dict[str, Draft] = {}
        self.addresses: dict[str, str] = {}  # normalised address -> element id

    def add(self, line: int | None, field: str, message: str, source: str | None = None) -> None:
        self.problems.append(Problem(source or self.source, line, field, message))

    def order(self, p: Problem) -> tuple[bool, str, int]:
        return p.source != self.source, p.source, p.line or 0

    def entries(self, doc: YamlMap, key: str) -> Iterator[tuple[int, YamlMap]]:
        """The mappings of a top-level list; anything else in it is reported."""
        value = doc.get(key)
        if value is None:
            return
        if not isinstance(value, YamlList):
            self.add(doc.line_of(key), key, f"expected a list, got {show(value)}")
            return
        for i, item in enumerate(value):
            if isinstance(item, YamlMap):
                yield i, item
            else:
                self.add(value.line_of(i), f"{key}[{i}]", f"expected a mapping, got {show(item)}")

    def unique(self, seen: dict[str, int], ident: str, f: Fields, what: str) -> bool:
        line = f.node.line_of("id")
        if ident in seen:
            f.bad("id", f"duplicate {what} id {ident!r} (first at line {seen[ident]})")
            return False
        seen[ident] = line
        return True

    def flag(self, draft: Draft, field: str, message: str) -> None:
        source, line, name = draft.where(field)
        self.add(line, name, message, source)
