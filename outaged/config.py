"""Daemon configuration: typed, validated once at the edge, never half-applied.

`load_config(path)` reads `outaged.yaml` (format in docs/config.md) and either
returns a complete `Config` or raises ConfigError naming every bad field with
its file and line. `default_config()` is what `outaged run` uses without a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from outaged.dispatch.escalation import ROLES, Policy
from outaged.dispatch.verification import VerifyConfig
from outaged.errors import ConfigError, Problem
from outaged.notify.config import NotifyConfig
from outaged.notify.digest import DigestPolicy
from outaged.notify.email import SECURITY, EmailConfig, Security
from outaged.notify.retry import RetryPolicy
from outaged.notify.templates_check import check_templates
from outaged.notify.webhook import WebhookConfig, decode_secret
from outaged.probes.snmp_creds import Credential, SnmpV3, parse_credentials
from outaged.topology.yamlsrc import YamlList, YamlMap, read_yaml

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
    signal_horizon_s: float = 86400.0  # a signal dated further back is refused
    max_clock_skew_s: float = 300.0  # a signal dated further ahead is refused
    max_maintenance_s: float = 86400.0  # the longest planned-work window
    alertmanager_label: str = "outaged_element"  # the alert label that names the element


@dataclass(frozen=True, slots=True)
class StoreConfig:
    backend: Literal["sqlite", "postgresql"] = "sqlite"
    path: Path = Path("outaged.db")  # SQLite's; resolved against state_dir when relative
    url: str | None = None  # PostgreSQL's: postgresql://user@host:port/db?...


@dataclass(frozen=True, slots=True)
class HaConfig:
    """Several instances on one PostgreSQL store (outaged/ha, deploy/ha/README.md)."""

    enabled: bool = False  # an `ha:` section turns it on (it needs the PostgreSQL store)
    name: str | None = None  # this instance among the members; None: host:port
    lease_s: float = 10.0  # the leader's lease, by the database's clock
    renew_s: float = 2.0  # the leader renews (a standby tries) this often
    margin_s: float = 2.0  # the leader stops deciding this long before its lease can end
    poll_s: float = 1.0  # the leader reads the inbox at least this often (NOTIFY wakes it)
    advertise: str | None = None  # this instance's API as others reach it; None: listen:port


@dataclass(frozen=True, slots=True)
class DecideConfig:
    interval_s: float = 0.05  # evaluate at most this often while signals arrive
    lookback_s: float | None = None  # re-ingest window on restart; None = from thresholds


DAY = 86400.0
MAX_BATCH_ROWS = 100_000  # one DELETE holds the writer this long at most


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """How long the store keeps what only recent decisions need (outages stay forever)."""

    enabled: bool = True  # false: keep everything, in the store and in memory
    signals_s: float = 30 * DAY  # raw signals; never less than the restart lookback
    idempotency_s: float = 2 * DAY  # Idempotency-Key answers
    every_s: float = 600.0  # how often the pruner looks for expired rows
    batch_rows: int = 1000  # rows per DELETE transaction
    pause_s: float = 0.05  # between batches, so decision steps commit in between


@dataclass(frozen=True, slots=True)
class IcmpOverride:
    """Per-element ICMP plan: unset fields keep the `probes.icmp` value."""

    interval_s: float | None = None
    count: int | None = None
    timeout_s: float | None = None
    line: int | None = None  # where it was written, for errors found against the topology


@dataclass(frozen=True, slots=True)
class IcmpConfig:
    enabled: bool = True
    interval_s: float = 60.0
    count: int = 3  # echo requests per cycle; one reply is enough
    spacing_s: float = 0.2
    timeout_s: float = 1.0
    rate_pps: float = 10_000.0  # every echo request of the daemon together
    privileged: bool | None = None  # raw sockets, datagram sockets, None: try raw first
    storm_share: float = 0.5  # more failures than this share at once: the prober is blind
    storm_window_s: float = 5.0
    overrides: Mapping[str, IcmpOverride] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SnmpConfig:
    enabled: bool = False  # no credentials are safe to guess; see docs/config.md
    interval_s: float = 60.0
    timeout_s: float = 2.0
    retries: int = 1
    max_in_flight: int = 256
    port: int = 161
    credentials: Mapping[str, Credential] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TrapsConfig:
    enabled: bool = False
    listen: str = "127.0.0.1"
    port: int = 162
    communities: tuple[str, ...] = field(default=(), repr=False)
    users: tuple[str, ...] = ()  # names of v3 sets in snmp.credentials


@dataclass(frozen=True, slots=True)
class ProbesConfig:
    icmp: IcmpConfig = field(default_factory=IcmpConfig)
    snmp: SnmpConfig = field(default_factory=SnmpConfig)
    traps: TrapsConfig = field(default_factory=TrapsConfig)


@dataclass(frozen=True, slots=True)
class Config:
    topology: Path = Path("topology.yaml")
    state_dir: Path = Path("state")
    api: ApiConfig = field(default_factory=ApiConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    ha: HaConfig = field(default_factory=HaConfig)
    decide: DecideConfig = field(default_factory=DecideConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    probes: ProbesConfig = field(default_factory=ProbesConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    escalation: Policy = field(default_factory=Policy)
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

    def flag(self, key: str, default: bool) -> bool:
        return self.get(key, default, _bool, "true or false")

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


def _count(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _seconds_or_zero(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
    return float(v) if ok else None


def _share(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 1
    return float(v) if ok else None


def _privileged(v: Any) -> bool | str | None:
    return v if isinstance(v, bool) or v == "auto" else None


def _bool(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


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
    topology = base / top.get("topology", "topology.yaml", _text, "a file path")
    state = top.get("state_dir", "", _text, "a directory path")
    state_dir = base / state if state else default_state_dir()
    config = Config(
        topology=topology,
        state_dir=state_dir,
        api=_api(top.section("api")),
        store=_store(top.section("store")),
        ha=_ha(top.section("ha")),
        decide=_decide(top.section("decide")),
        retention=_retention(top.section("retention")),
        probes=_probes(top.section("probes")),
        notify=_notify(top.section("notify"), base),
        verify=_verify(top.section("verify")),
        escalation=_escalation(top.section("escalation")),
        shutdown_timeout_s=top.get("shutdown_timeout_s", 10.0, _positive, "seconds > 0"),
        log_level=top.get("log_level", "info", _choice(*LOG_LEVELS), " or ".join(LOG_LEVELS)),
        source=source,
    )
    if config.ha.enabled and config.store.backend != "postgresql":
        top.problem("ha", "several instances need the PostgreSQL store (store.url)")
    if problems:
        raise ConfigError(problems)
    return config


def _escalation(r: _Reader | None) -> Policy:
    """Reminders before a deadline and escalation after it (docs/notifications.md)."""
    d = Policy()
    if r is None:
        return d
    r.check_keys(("remind_before_s", "restore_remind_before_s", "escalate_every_s", "chain"))
    restore = d.remind_before["restore"]
    return Policy(
        remind_before_s=r.get("remind_before_s", d.remind_before_s, _positive, "seconds > 0"),
        remind_before={
            "restore": r.get("restore_remind_before_s", restore, _positive, "seconds > 0")
        },
        escalate_every_s=r.get("escalate_every_s", d.escalate_every_s, _positive, "seconds > 0"),
        chain=r.get("chain", d.chain, _chain, f"a list starting with owner, of {CHAIN_ROLES}"),
    )


CHAIN_ROLES = ", ".join(ROLES)


def _chain(v: Any) -> tuple[str, ...] | None:
    ok = isinstance(v, list) and v and v[0] == "owner" and all(x in ROLES for x in v)
    return tuple(v) if ok and len(set(v)) == len(v) else None


def _api(r: _Reader | None) -> ApiConfig:
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
        listen=r.get("listen", d.listen, _text, "an address"),
        port=r.get("port", d.port, _port, "a port number 0-65535"),
        max_batch=r.get("max_batch", d.max_batch, _positive_int, "a positive integer"),
        max_body_bytes=r.get("max_body_bytes", d.max_body_bytes, _positive_int, "bytes > 0"),
        signal_horizon_s=r.get("signal_horizon_s", d.signal_horizon_s, _positive, "seconds > 0"),
        max_clock_skew_s=r.get(
            "max_clock_skew_s", d.max_clock_skew_s, _seconds_or_zero, "seconds >= 0"
        ),
        max_maintenance_s=r.get("max_maintenance_s", d.max_maintenance_s, _positive, "seconds > 0"),
        alertmanager_label=r.get(
            "alertmanager_label", d.alertmanager_label, _label_name, "a Prometheus label name"
        ),
    )


def _label_name(v: Any) -> str | None:
    return v if isinstance(v, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) else None


def _store(r: _Reader | None) -> StoreConfig:
    if r is None:
        return StoreConfig()
    r.check_keys(("backend", "path", "url"))
    url = _postgres_url(r.data.get("url"))
    if url is None and r.data.get("url") is not None:  # not echoed: it may hold a password
        r.problem("url", "expected a postgresql:// or postgres:// URL")
    default: Literal["sqlite", "postgresql"] = "postgresql" if url is not None else "sqlite"
    backend: Literal["sqlite", "postgresql"] = r.get(
        "backend", default, _choice("sqlite", "postgresql"), "sqlite or postgresql"
    )
    if backend == "postgresql" and url is None and "url" not in r.data:
        r.problem("backend", "postgresql needs store.url (postgresql://user@host/db)")
    if backend == "sqlite" and url is not None:
        r.problem("url", "is PostgreSQL's; drop it or set store.backend: postgresql")
    return StoreConfig(
        backend=backend,
        path=Path(r.get("path", "outaged.db", _text, "a file path")),
        url=url,
    )


def _postgres_url(v: object) -> str | None:
    if isinstance(v, str) and v.startswith(("postgresql://", "postgres://")):
        return v
    return None


def _ha(r: _Reader | None) -> HaConfig:
    d = HaConfig()
    if r is None:
        return d
    r.check_keys(("enabled", "name", "lease_s", "renew_s", "margin_s", "poll_s", "advertise"))
    got = HaConfig(
        enabled=r.flag("enabled", True),
        name=r.get("name", None, _text, "a name"),
        lease_s=r.get("lease_s", d.lease_s, _positive, "seconds > 0"),
        renew_s=r.get("renew_s", d.renew_s, _positive, "seconds > 0"),
        margin_s=r.get("margin_s", d.margin_s, _positive, "seconds > 0"),
        poll_s=r.get("poll_s", d.poll_s, _positive, "seconds > 0"),
        advertise=r.get("advertise", None, _url, "an http:// or https:// URL"),
    )
    if got.margin_s >= got.lease_s:
        r.problem("margin_s", f"must be below lease_s ({got.lease_s:g})")
    elif got.renew_s >= got.lease_s - got.margin_s:
        r.problem("renew_s", f"must be below lease_s - margin_s ({got.lease_s - got.margin_s:g})")
    return got


def _notify(r: _Reader | None, base: Path) -> NotifyConfig:
    if r is None:
        return NotifyConfig()
    r.check_keys(("email", "webhook", "retry", "templates", "digest"))
    folder = r.get("templates", None, _text, "a directory path")
    templates = base / folder if folder else None
    if templates is not None and not templates.is_dir():
        r.problem("templates", f"{templates} is not a directory")
    elif templates is not None:
        r.problems += check_templates(templates)
    return NotifyConfig(
        email=_email(r.section("email")),
        webhook=_webhook(r.section("webhook")),
        retry=_retry(r.section("retry")),
        templates=templates,
        digest=_digest(r.section("digest")),
    )


def _digest(r: _Reader | None) -> DigestPolicy:
    d = DigestPolicy()
    if r is None:
        return d
    r.check_keys(("enabled", "interval_s"))
    return DigestPolicy(
        enabled=r.flag("enabled", d.enabled),
        interval_s=r.get("interval_s", d.interval_s, _seconds_or_zero, "seconds >= 0"),
    )


def _email(r: _Reader | None) -> EmailConfig | None:
    if r is None:
        return None
    r.check_keys(
        (
            "host",
            "port",
            "security",
            "username",
            "password",
            "from",
            "timeout_s",
            "verify_tls",
            "ca_file",
            "message_id_domain",
        )
    )
    for key in ("host", "from"):
        if not _text(r.data.get(key)):
            r.problem(key, "required: a non-empty string")
    security: Security = r.get("security", "starttls", _choice(*SECURITY), " or ".join(SECURITY))
    username = r.get("username", None, _text, "a user name")
    password = _secret(r, "password")
    if (username is None) != (password is None):
        present = "password" if username is None else "username"
        r.problem(present, "give both username and password")
    ca_file = r.get("ca_file", None, _text, "a file path")
    return EmailConfig(
        host=r.get("host", "", _text, "a host name"),
        sender=r.get("from", "", _address, "an e-mail address"),
        port=r.get("port", 465 if security == "tls" else 587, _port, "a port number 0-65535"),
        security=security,
        username=username,
        password=password,
        timeout_s=r.get("timeout_s", 10.0, _positive, "seconds > 0"),
        verify_tls=r.flag("verify_tls", True),
        ca_file=Path(ca_file) if ca_file else None,
        message_id_domain=r.get("message_id_domain", None, _text, "a domain"),
    )


def _secret(r: _Reader, key: str) -> str | None:
    value = r.data.get(key)
    if value is None:
        return None
    if not _text(value):
        r.problem(key, "expected a non-empty string")  # never quote a secret
        return None
    return str(value)


def _address(v: Any) -> str | None:
    return v if isinstance(v, str) and "@" in v.strip("@") else None


def _webhook(r: _Reader | None) -> WebhookConfig | None:
    if r is None:
        return None
    r.check_keys(("secret", "url", "timeout_s"))
    raw = r.data.get("secret")
    secret = decode_secret(raw) if isinstance(raw, str) else None
    if secret is None:  # never quote a secret
        r.problem("secret", "required: whsec_ followed by base64 of at least 16 bytes")
    return WebhookConfig(
        secret=secret or b"",
        url=r.get("url", None, _url, "an http:// or https:// URL"),
        timeout_s=r.get("timeout_s", 10.0, _positive, "seconds > 0"),
    )


def _url(v: Any) -> str | None:
    return v if isinstance(v, str) and v.startswith(("http://", "https://")) else None


def _retry(r: _Reader | None) -> RetryPolicy:
    d = RetryPolicy()
    if r is None:
        return d
    r.check_keys(("initial_s", "multiplier", "max_delay_s", "jitter", "max_age_s"))
    return RetryPolicy(
        initial_s=r.get("initial_s", d.initial_s, _positive, "seconds > 0"),
        multiplier=r.get("multiplier", d.multiplier, _at_least_one, "a number >= 1"),
        max_delay_s=r.get("max_delay_s", d.max_delay_s, _positive, "seconds > 0"),
        jitter=r.get("jitter", d.jitter, _fraction, "a number in [0, 1)"),
        max_age_s=r.get("max_age_s", d.max_age_s, _positive, "seconds > 0"),
    )


def _at_least_one(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and v >= 1
    return float(v) if ok else None


def _fraction(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1
    return float(v) if ok else None


def _verify(r: _Reader | None) -> VerifyConfig:
    d = VerifyConfig()
    if r is None:
        return d
    r.check_keys(("auto", "count", "timeout_s"))
    return VerifyConfig(
        auto=r.flag("auto", d.auto),
        count=r.get("count", d.count, _positive_int, "an integer > 0"),
        timeout_s=r.get("timeout_s", d.timeout_s, _positive, "seconds > 0"),
    )


def _decide(r: _Reader | None) -> DecideConfig:
    if r is None:
        return DecideConfig()
    r.check_keys(("interval_s", "lookback_s"))
    return DecideConfig(
        interval_s=r.get("interval_s", 0.05, _positive, "seconds > 0"),
        lookback_s=r.get("lookback_s", None, _positive, "seconds > 0"),
    )


def _retention(r: _Reader | None) -> RetentionConfig:
    if r is None:
        return RetentionConfig()
    d = RetentionConfig()
    r.check_keys(("enabled", "signals_s", "idempotency_s", "every_s", "batch_rows", "pause_s"))
    return RetentionConfig(
        enabled=r.flag("enabled", d.enabled),
        signals_s=r.get("signals_s", d.signals_s, _positive, "seconds > 0"),
        idempotency_s=r.get("idempotency_s", d.idempotency_s, _positive, "seconds > 0"),
        every_s=r.get("every_s", d.every_s, _positive, "seconds > 0"),
        batch_rows=r.get("batch_rows", d.batch_rows, _batch, f"an integer 1-{MAX_BATCH_ROWS}"),
        pause_s=r.get("pause_s", d.pause_s, _seconds_or_zero, "seconds >= 0"),
    )


def _batch(v: Any) -> int | None:
    n = _positive_int(v)
    return n if n is not None and n <= MAX_BATCH_ROWS else None


def _probes(r: _Reader | None) -> ProbesConfig:
    if r is None:
        return ProbesConfig()
    r.check_keys(("icmp", "snmp", "traps"))
    snmp_section = r.section("snmp")
    snmp = _snmp(snmp_section)
    written = snmp_section.data.get("credentials") if snmp_section is not None else None
    broken = set(written or ()) - set(snmp.credentials)  # already reported
    return ProbesConfig(
        icmp=_icmp(r.section("icmp")),
        snmp=snmp,
        traps=_traps(r.section("traps"), snmp, broken),
    )


def _icmp(r: _Reader | None) -> IcmpConfig:
    if r is None:
        return IcmpConfig()
    d = IcmpConfig()
    r.check_keys(
        (
            "enabled",
            "interval_s",
            "count",
            "spacing_s",
            "timeout_s",
            "rate_pps",
            "privileged",
            "overrides",
            "storm_share",
            "storm_window_s",
        )
    )
    auto: bool | str = "auto"
    privileged = r.get("privileged", auto, _privileged, "auto, true or false")
    config = IcmpConfig(
        enabled=r.flag("enabled", d.enabled),
        interval_s=r.get("interval_s", d.interval_s, _positive, "seconds > 0"),
        count=r.get("count", d.count, _positive_int, "a positive integer"),
        spacing_s=r.get("spacing_s", d.spacing_s, _seconds_or_zero, "seconds >= 0"),
        timeout_s=r.get("timeout_s", d.timeout_s, _positive, "seconds > 0"),
        rate_pps=r.get("rate_pps", d.rate_pps, _positive, "packets per second > 0"),
        privileged=None if privileged == "auto" else privileged is True,
        storm_share=r.get("storm_share", d.storm_share, _share, "a share in (0, 1]"),
        storm_window_s=r.get("storm_window_s", d.storm_window_s, _positive, "seconds > 0"),
        overrides=_overrides(r.section("overrides")),
    )
    _check_cycle(r, "", r.data.line_of("interval_s"), config, None)
    for element, o in config.overrides.items():
        if (o.interval_s, o.count, o.timeout_s) != (None, None, None):  # else as above
            _check_cycle(r, f"overrides.{element}.", o.line, config, o)
    return config


def _check_cycle(
    r: _Reader, prefix: str, line: int | None, c: IcmpConfig, o: IcmpOverride | None
) -> None:
    """A cycle that outlasts its interval would silently skip every other slot."""
    o = o or IcmpOverride()
    interval = o.interval_s or c.interval_s
    cycle = c.spacing_s * ((o.count or c.count) - 1) + (o.timeout_s or c.timeout_s)
    if cycle > interval:
        r.problems.append(
            Problem(
                r.source,
                line,
                f"{r.prefix}{prefix}interval_s",
                f"{interval:g} s is shorter than one cycle "
                f"(spacing_s x (count - 1) + timeout_s = {cycle:g} s)",
            )
        )


def _overrides(r: _Reader | None) -> dict[str, IcmpOverride]:
    if r is None:
        return {}
    found: dict[str, IcmpOverride] = {}
    for element in list(r.data):
        o = r.section(str(element))
        if o is None:
            if element in r.data:
                r.problem(str(element), "expected a mapping of interval_s, count, timeout_s")
            continue
        o.check_keys(("interval_s", "count", "timeout_s"))
        found[str(element)] = IcmpOverride(
            interval_s=o.get("interval_s", None, _positive, "seconds > 0"),
            count=o.get("count", None, _positive_int, "a positive integer"),
            timeout_s=o.get("timeout_s", None, _positive, "seconds > 0"),
            line=r.data.line_of(element),
        )
    return found


def _snmp(r: _Reader | None) -> SnmpConfig:
    if r is None:
        return SnmpConfig()
    d = SnmpConfig()
    r.check_keys(
        ("enabled", "interval_s", "timeout_s", "retries", "max_in_flight", "port", "credentials")
    )
    return SnmpConfig(
        enabled=r.flag("enabled", d.enabled),
        interval_s=r.get("interval_s", d.interval_s, _positive, "seconds > 0"),
        timeout_s=r.get("timeout_s", d.timeout_s, _positive, "seconds > 0"),
        retries=r.get("retries", d.retries, _count, "an integer >= 0"),
        max_in_flight=r.get("max_in_flight", d.max_in_flight, _positive_int, "a positive integer"),
        port=r.get("port", d.port, _port, "a port number 0-65535"),
        credentials=_credentials(r.section("credentials")),
    )


def _credentials(r: _Reader | None) -> dict[str, Credential]:
    """Named credential sets; problems are located, and never quote a secret."""
    if r is None:
        return {}
    try:
        return parse_credentials(r.data, r.source, r.prefix.rstrip("."))
    except ConfigError as exc:
        for p in exc.problems:
            name, _, key = p.field.removeprefix(r.prefix).partition(".")
            body = r.data.get(name)
            line = body.line_of(key) if isinstance(body, YamlMap) else r.data.line_of(name)
            r.problems.append(Problem(p.source, line, p.field, p.message))
        return {}


def _traps(r: _Reader | None, snmp: SnmpConfig, broken: set[str]) -> TrapsConfig:
    if r is None:
        return TrapsConfig()
    d = TrapsConfig()
    r.check_keys(("enabled", "listen", "port", "communities", "users"))
    communities = _strings(r, "communities")
    users = _strings(r, "users")
    for i, name in enumerate(users):
        cred = snmp.credentials.get(name)
        if not isinstance(cred, SnmpV3) and name not in broken:
            what = "an SNMPv3 set" if cred is not None else "a set"
            line = r.data["users"].line_of(i)
            r.problems.append(
                Problem(
                    r.source,
                    line,
                    f"{r.prefix}users[{i}]",
                    f"{name!r} is not {what} in probes.snmp.credentials",
                )
            )
    enabled = r.flag("enabled", d.enabled)
    if enabled and not communities and not users:
        r.problem("enabled", "no communities or users: every trap would be refused")
    return TrapsConfig(
        enabled=enabled,
        listen=r.get("listen", d.listen, _text, "an address"),
        port=r.get("port", d.port, _port, "a port number 0-65535"),
        communities=tuple(communities),
        users=tuple(users),
    )


def _strings(r: _Reader, key: str) -> list[str]:
    value = r.data.get(key)
    if value is None:
        return []
    if not isinstance(value, YamlList) or not all(_text(v) for v in value):
        r.problem(key, "expected a list of non-empty strings")
        return []
    return [str(v) for v in value]
