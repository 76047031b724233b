"""Typed topology: elements, maintenance areas, people and thresholds.

Everything here is immutable and already validated; `load.py` builds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import time
from enum import StrEnum
from operator import attrgetter


def display_name(ident: str, name: str, name_en: str, lang: str) -> str:
    """What people read for an element, area or person: zh-CN `name`, English
    `name_en`, each falling back to the other name and then to the id."""
    first, second = (name, name_en) if lang.startswith("zh") else (name_en, name)
    return first or second or ident


class Kind(StrEnum):
    CORE = "core"
    EGRESS = "egress"
    PLATFORM = "platform"  # AAA / billing: authentication depends on it
    METRO = "metro"
    COMMUNITY = "community"  # 小区机房
    BUILDING = "building"  # 楼道光点
    ACCESS = "access"
    FIBRE = "fibre"
    SPLITTER = "splitter"
    POWER = "power"


PASSIVE_KINDS = frozenset({Kind.FIBRE, Kind.SPLITTER, Kind.POWER})
CITY_KINDS = frozenset({Kind.CORE, Kind.EGRESS, Kind.PLATFORM})


class Severity(StrEnum):
    S1 = "S1"
    S2 = "S2"
    S3 = "S3"
    S4 = "S4"

    @property
    def rank(self) -> int:
        """1 is the most severe."""
        return int(self.value[1])


@dataclass(frozen=True, slots=True)
class Element:
    id: str
    kind: Kind
    parents: tuple[str, ...]
    area: str
    subscribers: int = 0
    address: str | None = None
    contract: bool = True
    name: str = ""
    snmp: str | None = None  # name of a credential set in the daemon config
    uplinks: tuple[str, ...] = ()  # ifIndex ("3") or ifName ("ge-0/0/1") watched by SNMP
    line: int | None = None  # where it was defined, for error messages
    name_en: str = ""  # the name shown in English output (falls back to `name`, then `id`)

    @property
    def passive(self) -> bool:
        return self.kind in PASSIVE_KINDS

    def __reduce__(self) -> tuple[type[Element], tuple[object, ...]]:
        """Pickled as its constructor's arguments (outaged.topology.checkpoint): read
        back in half the time of a frozen dataclass's generic state."""
        return Element, _element_values(self)


_element_values = attrgetter(*(f.name for f in fields(Element)))


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    email: str | None = None
    phone: str | None = None
    webhook: str | None = None
    lang: str = "zh-CN"
    name_en: str = ""


@dataclass(frozen=True, slots=True)
class Shift:
    """On duty on these weekdays (0 = Monday) from `start` to `end` (past midnight
    when `end` <= `start`; the whole day when equal), in the topology's time zone."""

    days: frozenset[int]
    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Area:
    """A maintenance area (维护界面) and who answers for it."""

    id: str
    name: str
    interface: str  # person id of the interface person (故障接口人)
    roster: tuple[str, ...] = ()  # next people to reassign to, in order
    manager: str | None = None  # centre manager told on reassignment
    name_en: str = ""
    shifts: Mapping[str, tuple[Shift, ...]] = field(default_factory=dict)  # none: always on
    area_manager: str | None = None  # first told when a step is missed (escalation)


@dataclass(frozen=True, slots=True)
class LeadershipRule:
    person: str
    severities: frozenset[Severity]


@dataclass(frozen=True, slots=True)
class ServiceCentre:
    id: str
    name: str
    contacts: tuple[str, ...]
    communities: tuple[str, ...]
    name_en: str = ""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Correlation and classification knobs, each with a sensible default."""

    down_after: int = 3  # failed probe cycles before an element is down
    up_after: int = 2  # good cycles before it is up again
    flap_transitions: int = 3  # state changes within flap_window_s that mean flapping
    flap_window_s: float = 1800.0
    spike_window_s: float = 900.0
    spike_min_reporters: int = 3
    spike_min_share: float = 0.05  # of the element's subscribers
    spike_p_value: float = 1e-6  # Poisson tail vs the element's baseline: unusual here
    spike_hold_p_value: float = 0.01  # a spike lasts while its recent rate stays this unusual
    spike_spread_share: float = 0.2  # of an element's children with calls (above buildings)
    false_spikes_per_30d: float = 1.0  # city-wide budget of chance spikes at learned rates
    prior_reports_per_sub_hour: float = 2e-4
    auth_prior_share: float = 0.2  # share of the prior that is authentication trouble
    baseline_tau_s: float = 14 * 86400.0  # the learned background fades over weeks
    baseline_prior_weight_s: float = 900.0  # the prior counts as this much watched time
    baseline_element_weight_s: float = 86400.0  # pseudo-time pooling an element to the city
    baseline_profile_after_s: float = 7 * 86400.0  # history before time of day is used
    auth_min_communities: int = 3
    infer_share: float = 0.5  # share of children with evidence to infer a silent parent
    large_area_share: float = 0.3
    city_share: float = 0.5
    relapse_window_s: float = 1800.0
    hold_max_s: float = 180.0  # longest an opening waits for a failing parent to settle
    degraded_confidence: float = 0.5


@dataclass(frozen=True, slots=True)
class Topology:
    elements: dict[str, Element]
    areas: dict[str, Area]
    people: dict[str, Person]
    leadership: tuple[LeadershipRule, ...]
    service_centres: dict[str, ServiceCentre]
    subscribers: dict[str, str]  # subscriber id -> element id
    thresholds: Thresholds = field(default_factory=Thresholds)
    call_centre: tuple[str, ...] = ()  # person ids told the external message
    noc: tuple[str, ...] = ()  # person ids of the NOC (网管中心), asked to assist and verify
    source: str = "topology.yaml"
    timezone: str | None = None  # IANA zone times are shown in; None: the machine's zone
    # subscriber id -> (address, phone, name) from the optional CSV columns ("" if absent)
    subscriber_details: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)
