"""Daemon configuration: typed, validated once at the edge, never half-applied.

`load_config(path)` reads `outaged.yaml` (format in docs/config.md) and either
returns a complete `Config` or raises ConfigError naming every bad field with
its file and line. `default_config()` is what `outaged run` uses without a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from outaged.errors import ConfigError, Problem
from outaged.topology.yamlsrc import YamlMap, read_yaml

STATE_DIR_ENV = "OUTAGED_STATE_DIR"
DEFAULT_PORT = 8470

LogLevel = Literal["debug", "info", "warning", "error"]
LOG_LEVELS: tuple[LogLevel, ...] = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class ApiConfig:
    listen: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_batch: int = 1000  # items per POST /reports or /signals
    max_body_bytes: int = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoreConfig:
    backend: Literal["sqlite"] = "sqlite"
    path: Path = Path("outaged.db")  # resolved against state_dir when relative


@dataclass(frozen=True, slots=True)
class DecideConfig:
    interval_s: float = 0.05  # evaluate at most this often while signals arrive
    lookback_s: float | None = None  # re-ingest window on restart; None = from thresholds


@dataclass(frozen=True, slots=True)
class Config:
    topology: Path = Path("topology.yaml")
    state_dir: Path = Path("state")
    api: ApiConfig = field(default_factory=ApiConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    decide: DecideConfig = field(default_factory=DecideConfig)
    notifier: Literal["log"] = "log"
    shutdown_timeout_s: float = 10.0
    log_level: LogLevel = "info"
    source: str = "<defaults>"

    @property
    def db_path(self) -> Path:
        return (
            self.store.path if self.store.path.is_absolute() else self.state_dir / self.store.path
        )


def default_state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV) or "state")


def default_config() -> Config:
    return Config(state_dir=default_state_dir())


T = TypeVar("T")


class _Reader:
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

    def section(self, key: str) -> _Reader | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, YamlMap):
            self.problem(key, "expected a mapping")
            return None
        return _Reader(value, self.source, f"{self.prefix}{key}.", self.problems)


def _port(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65535 else None


def _positive_int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def _positive(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and v > 0
    return float(v) if ok else None


def _text(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _choice(*choices: str) -> Callable[[Any], Any]:
    return lambda v: v if v in choices else None


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file; relative paths resolve against its folder."""
    source = str(path)
    doc, problems = read_yaml(path, source)
    if doc is None and not problems:
        doc = YamlMap(1)  # an empty file: every default
    if problems:
        raise ConfigError(problems)
    if not isinstance(doc, YamlMap):
        raise ConfigError([Problem(source, 1, "", "expected a mapping of settings")])
    base = Path(path).resolve().parent
    top = _Reader(doc, source, "", problems)
    top.check_keys(
        (
            "topology",
            "state_dir",
            "api",
            "store",
            "decide",
            "notifier",
            "shutdown_timeout_s",
            "log_level",
        )
    )
    topology = base / top.get("topology", "topology.yaml", _text, "a file path")
    state = top.get("state_dir", "", _text, "a directory path")
    state_dir = base / state if state else default_state_dir()
    config = Config(
        topology=topology,
        state_dir=state_dir,
        api=_api(top.section("api")),
        store=_store(top.section("store")),
        decide=_decide(top.section("decide")),
        notifier=top.get("notifier", "log", _choice("log"), "'log'"),
        shutdown_timeout_s=top.get("shutdown_timeout_s", 10.0, _positive, "seconds > 0"),
        log_level=top.get("log_level", "info", _choice(*LOG_LEVELS), " or ".join(LOG_LEVELS)),
        source=source,
    )
    if problems:
        raise ConfigError(problems)
    return config


def _api(r: _Reader | None) -> ApiConfig:
    if r is None:
        return ApiConfig()
    r.check_keys(("listen", "port", "max_batch", "max_body_bytes"))
    return ApiConfig(
        listen=r.get("listen", "127.0.0.1", _text, "an address"),
        port=r.get("port", DEFAULT_PORT, _port, "a port number 0-65535"),
        max_batch=r.get("max_batch", 1000, _positive_int, "a positive integer"),
        max_body_bytes=r.get("max_body_bytes", 4 * 1024 * 1024, _positive_int, "bytes > 0"),
    )


def _store(r: _Reader | None) -> StoreConfig:
    if r is None:
        return StoreConfig()
    r.check_keys(("backend", "path"))
    return StoreConfig(
        backend=r.get("backend", "sqlite", _choice("sqlite"), "'sqlite'"),
        path=Path(r.get("path", "outaged.db", _text, "a file path")),
    )


def _decide(r: _Reader | None) -> DecideConfig:
    if r is None:
        return DecideConfig()
    r.check_keys(("interval_s", "lookback_s"))
    return DecideConfig(
        interval_s=r.get("interval_s", 0.05, _positive, "seconds > 0"),
        lookback_s=r.get("lookback_s", None, _positive, "seconds > 0"),
    )
