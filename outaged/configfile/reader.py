"""Typed reads from one mapping of outaged.yaml, and the value checks they use.

Every bad field becomes a Problem naming its file, line and dotted path; the
section readers (load.py, notify.py, probes.py) go on with the default so one
run reports them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from outaged.errors import Problem
from outaged.topology.yamlsrc import YamlMap

T = TypeVar("T")


class Reader:
    """Typed field access on one YAML mapping that collects problems."""

    def __init__(self, data: YamlMap, source: str, prefix: str, problems: list[Problem]) -> None:
        self.data = data
        self.source = source
        self.prefix = prefix
        self.problems = problems

    def problem(self, key: str, message: str) -> None:
        line = self.data.line_of(key)
        self.problems.append(Problem(self.source, line, self.prefix + key, message))

    def check_keys(self, allowed: tuple[str, ...]) -> None:
        for key in self.data:
            if key not in allowed:
                self.problem(str(key), f"unknown setting; expected one of {', '.join(allowed)}")

    def get(self, key: str, default: T, check: Callable[[Any], T | None], want: str) -> T:
        if key not in self.data or self.data[key] is None:
            return default
        value = check(self.data[key])
        if value is None:
            self.problem(key, f"expected {want}, got {self.data[key]!r}")
            return default
        return value

    def flag(self, key: str, default: bool) -> bool:
        return self.get(key, default, boolean, "true or false")

    def section(self, key: str) -> Reader | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, YamlMap):
            self.problem(key, "expected a mapping")
            return None
        return Reader(value, self.source, f"{self.prefix}{key}.", self.problems)


def port(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65535 else None


def positive_int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def positive(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and v > 0
    return float(v) if ok else None


def seconds_or_zero(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
    return float(v) if ok else None


def boolean(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


def text(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def choice(*choices: str) -> Callable[[Any], Any]:
    return lambda v: v if v in choices else None


def http_url(v: Any) -> str | None:
    return v if isinstance(v, str) and v.startswith(("http://", "https://")) else None
