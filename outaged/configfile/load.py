"""`load_config(path)`: read outaged.yaml (format in docs/config.md) and either
return a complete `Config` or raise ConfigError naming every bad field with its
file and line. This module reads the daemon's own sections (api, store, ha,
decide, retention, verify, escalation); notify.py and probes.py the others."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from outaged.config import (
    LOG_LEVELS,
    MAX_BATCH_ROWS,
    ApiConfig,
    Config,
    DecideConfig,
    HaConfig,
    RetentionConfig,
    StoreConfig,
    default_state_dir,
)
from outaged.configfile.notify import read_notify
from outaged.configfile.probes import read_probes
from outaged.configfile.reader import (
    Reader,
    choice,
    http_url,
    port,
    positive,
    positive_int,
    seconds_or_zero,
    text,
)
from outaged.dispatch.escalation import ROLES, Policy
from outaged.dispatch.verification import VerifyConfig
from outaged.errors import ConfigError, Problem
from outaged.topology.yamlsrc import YamlMap, read_yaml


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
    top = Reader(doc, source, "", problems)
    top.check_keys(
        (
            "topology",
            "state_dir",
            "api",
            "store",
            "ha",
            "decide",
            "retention",
            "probes",
            "notify",
            "verify",
            "escalation",
            "shutdown_timeout_s",
            "log_level",
        )
    )
    topology = base / top.get("topology", "topology.yaml", text, "a file path")
    state = top.get("state_dir", "", text, "a directory path")
    state_dir = base / state if state else default_state_dir()
    config = Config(
        topology=topology,
        state_dir=state_dir,
        api=_api(top.section("api")),
        store=_store(top.section("store")),
        ha=_ha(top.section("ha")),
        decide=_decide(top.section("decide")),
        retention=_retention(top.section("retention")),
        probes=read_probes(top.section("probes")),
        notify=read_notify(top.section("notify"), base),
        verify=_verify(top.section("verify")),
        escalation=_escalation(top.section("escalation")),
        shutdown_timeout_s=top.get("shutdown_timeout_s", 10.0, positive, "seconds > 0"),
        log_level=top.get("log_level", "info", choice(*LOG_LEVELS), " or ".join(LOG_LEVELS)),
        source=source,
    )
    if config.ha.enabled and config.store.backend != "postgresql":
        top.problem("ha", "several instances need the PostgreSQL store (store.url)")
    if problems:
        raise ConfigError(problems)
    return config


def _escalation(r: Reader | None) -> Policy:
    """Reminders before a deadline and escalation after it (docs/notifications.md)."""
    d = Policy()
    if r is None:
        return d
    r.check_keys(("remind_before_s", "restore_remind_before_s", "escalate_every_s", "chain"))
    restore = d.remind_before["restore"]
    return Policy(
        remind_before_s=r.get("remind_before_s", d.remind_before_s, positive, "seconds > 0"),
        remind_before={
            "restore": r.get("restore_remind_before_s", restore, positive, "seconds > 0")
        },
        escalate_every_s=r.get("escalate_every_s", d.escalate_every_s, positive, "seconds > 0"),
        chain=r.get("chain", d.chain, _chain, f"a list starting with owner, of {CHAIN_ROLES}"),
    )


CHAIN_ROLES = ", ".join(ROLES)


def _chain(v: Any) -> tuple[str, ...] | None:
    ok = isinstance(v, list) and v and v[0] == "owner" and all(x in ROLES for x in v)
    return tuple(v) if ok and len(set(v)) == len(v) else None


def _api(r: Reader | None) -> ApiConfig:
    if r is None:
        return ApiConfig()
    d = ApiConfig()
    r.check_keys(
        (
            "listen",
            "port",
            "max_batch",
            "max_body_bytes",
            "signal_horizon_s",
            "max_clock_skew_s",
            "max_maintenance_s",
            "alertmanager_label",
        )
    )
    return ApiConfig(
        listen=r.get("listen", d.listen, text, "an address"),
        port=r.get("port", d.port, port, "a port number 0-65535"),
        max_batch=r.get("max_batch", d.max_batch, positive_int, "a positive integer"),
        max_body_bytes=r.get("max_body_bytes", d.max_body_bytes, positive_int, "bytes > 0"),
        signal_horizon_s=r.get("signal_horizon_s", d.signal_horizon_s, positive, "seconds > 0"),
        max_clock_skew_s=r.get(
            "max_clock_skew_s", d.max_clock_skew_s, seconds_or_zero, "seconds >= 0"
        ),
        max_maintenance_s=r.get("max_maintenance_s", d.max_maintenance_s, positive, "seconds > 0"),
        alertmanager_label=r.get(
            "alertmanager_label", d.alertmanager_label, _label_name, "a Prometheus label name"
        ),
    )


def _label_name(v: Any) -> str | None:
    return v if isinstance(v, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) else None


def _store(r: Reader | None) -> StoreConfig:
    if r is None:
        return StoreConfig()
    r.check_keys(("backend", "path", "url"))
    url = _postgres_url(r.data.get("url"))
    if url is None and r.data.get("url") is not None:  # not echoed: it may hold a password
        r.problem("url", "expected a postgresql:// or postgres:// URL")
    default: Literal["sqlite", "postgresql"] = "postgresql" if url is not None else "sqlite"
    backend: Literal["sqlite", "postgresql"] = r.get(
        "backend", default, choice("sqlite", "postgresql"), "sqlite or postgresql"
    )
    if backend == "postgresql" and url is None and "url" not in r.data:
        r.problem("backend", "postgresql needs store.url (postgresql://user@host/db)")
    if backend == "sqlite" and url is not None:
        r.problem("url", "is PostgreSQL's; drop it or set store.backend: postgresql")
    return StoreConfig(
        backend=backend,
        path=Path(r.get("path", "outaged.db", text, "a file path")),
        url=url,
    )


def _postgres_url(v: object) -> str | None:
    if isinstance(v, str) and v.startswith(("postgresql://", "postgres://")):
        return v
    return None


def _ha(r: Reader | None) -> HaConfig:
    d = HaConfig()
    if r is None:
        return d
    r.check_keys(("enabled", "name", "lease_s", "renew_s", "margin_s", "poll_s", "advertise"))
    got = HaConfig(
        enabled=r.flag("enabled", True),
        name=r.get("name", None, text, "a name"),
        lease_s=r.get("lease_s", d.lease_s, positive, "seconds > 0"),
        renew_s=r.get("renew_s", d.renew_s, positive, "seconds > 0"),
        margin_s=r.get("margin_s", d.margin_s, positive, "seconds > 0"),
        poll_s=r.get("poll_s", d.poll_s, positive, "seconds > 0"),
        advertise=r.get("advertise", None, http_url, "an http:// or https:// URL"),
    )
    if got.margin_s >= got.lease_s:
        r.problem("margin_s", f"must be below lease_s ({got.lease_s:g})")
    elif got.renew_s >= got.lease_s - got.margin_s:
        r.problem("renew_s", f"must be below lease_s - margin_s ({got.lease_s - got.margin_s:g})")
    return got


def _verify(r: Reader | None) -> VerifyConfig:
    d = VerifyConfig()
    if r is None:
        return d
    r.check_keys(("auto", "count", "timeout_s"))
    return VerifyConfig(
        auto=r.flag("auto", d.auto),
        count=r.get("count", d.count, positive_int, "an integer > 0"),
        timeout_s=r.get("timeout_s", d.timeout_s, positive, "seconds > 0"),
    )


def _decide(r: Reader | None) -> DecideConfig:
    if r is None:
        return DecideConfig()
    r.check_keys(("interval_s", "lookback_s"))
    return DecideConfig(
        interval_s=r.get("interval_s", 0.05, positive, "seconds > 0"),
        lookback_s=r.get("lookback_s", None, positive, "seconds > 0"),
    )


def _retention(r: Reader | None) -> RetentionConfig:
    if r is None:
        return RetentionConfig()
    d = RetentionConfig()
    r.check_keys(("enabled", "signals_s", "idempotency_s", "every_s", "batch_rows", "pause_s"))
    return RetentionConfig(
        enabled=r.flag("enabled", d.enabled),
        signals_s=r.get("signals_s", d.signals_s, positive, "seconds > 0"),
        idempotency_s=r.get("idempotency_s", d.idempotency_s, positive, "seconds > 0"),
        every_s=r.get("every_s", d.every_s, positive, "seconds > 0"),
        batch_rows=r.get("batch_rows", d.batch_rows, _batch, f"an integer 1-{MAX_BATCH_ROWS}"),
        pause_s=r.get("pause_s", d.pause_s, seconds_or_zero, "seconds >= 0"),
    )


def _batch(v: Any) -> int | None:
    n = positive_int(v)
    return n if n is not None and n <= MAX_BATCH_ROWS else None
