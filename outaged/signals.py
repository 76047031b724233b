"""Typed signals: everything the core reacts to.

Times are POSIX seconds (UTC) as floats; edges convert from and to ISO-8601.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    DOWN = "down"  # 网络中断
    INTERMITTENT = "intermittent"  # 时断时续
    SLOW = "slow"  # 网速慢
    AUTH = "auth"  # 认证问题
    WEBSITE = "website"
    APP = "app"
    GAME = "game"


# Dial-up / PPPoE error codes the call centre records (seed 001).
CODE_CATEGORY: dict[int, Category] = {
    678: Category.DOWN,
    815: Category.DOWN,
    769: Category.DOWN,
    691: Category.AUTH,
}

DEGRADED_CATEGORIES = frozenset({Category.INTERMITTENT, Category.SLOW})


class TrapKind(StrEnum):
    LINK_DOWN = "linkDown"
    LINK_UP = "linkUp"
    COLD_START = "coldStart"
    WARM_START = "warmStart"


@dataclass(frozen=True, slots=True)
class Report:
    """One customer trouble ticket, already mapped to its access element."""

    at: float
    element: str
    category: Category
    subscriber: str | None = None
    code: int | None = None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe cycle of one element (ICMP or SNMP reachability)."""

    at: float
    element: str
    ok: bool
    rtt_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Trap:
    at: float
    element: str
    trap: TrapKind
    ifindex: int | None = None
    uptime_s: float | None = None  # the agent's sysUpTime in the notification, when it said


@dataclass(frozen=True, slots=True)
class InterfaceStatus:
    """ifOperStatus of one of the element's watched uplinks, from an SNMP poll."""

    at: float
    element: str
    interface: str  # ifIndex as a string, or the configured ifName
    up: bool


@dataclass(frozen=True, slots=True)
class Reboot:
    """sysUpTime went backwards: the element restarted since the last poll."""

    at: float
    element: str
    uptime_s: float


@dataclass(frozen=True, slots=True)
class ManualFault:
    """Someone who saw a multi-customer fault says so (CLI, API, NOC alert)."""

    at: float
    element: str
    note: str = ""
    actor: str = ""
    cleared: bool = False  # the same person (or NOC) says it is over


@dataclass(frozen=True, slots=True)
class Maintenance:
    """Planned work (割接): signals under `element` between start and end open nothing."""

    at: float
    element: str
    start: float
    end: float
    note: str = ""
    actor: str = ""  # who declared it (the API sets the token name)
    cancelled: bool = False  # withdraws the window of the same element, start and end

    @property
    def key(self) -> tuple[str, float, float]:
        return (self.element, self.start, self.end)


Signal = Report | ProbeResult | Trap | InterfaceStatus | Reboot | ManualFault | Maintenance

# Where probes and intake hand their signals over (the daemon queues them).
SignalSink = Callable[[Signal], None]
