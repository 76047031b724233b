"""Daemon configuration: typed, validated once at the edge, never half-applied.

These are the settings; outaged.configfile.load.load_config reads them from
`outaged.yaml` (format in docs/config.md). `default_config()` is what
`outaged run` uses without a file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from outaged.dispatch.escalation import Policy
from outaged.dispatch.verification import VerifyConfig
from outaged.notify.config import NotifyConfig
from outaged.probes.snmp_creds import Credential

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
