"""Routing: from the topology and the clock to the people an outage concerns.

Pure: the time and its zone are passed in. SPEC §5:
- the interface person is whoever of the root's maintenance area is on duty
  (the area's `interface`, then its `roster`, in that order; an entry with no
  shifts is always on duty); the others follow in the same order, on-duty
  first, for reassignment;
- leadership and department managers by severity (`leadership` rules);
- the service centres of every community the outage touches;
- the NOC, and the call centre (which gets the unified external message).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from outaged.topology.model import Area, Severity, Shift, Topology


@dataclass(frozen=True, slots=True)
class Route:
    area: str | None
    interface: str | None  # on duty now (None: the area has nobody)
    roster: tuple[str, ...]  # who comes next, in order, for reassignment
    manager: str | None  # the centre manager, told on reassignment
    leaders: tuple[str, ...]
    service_centres: tuple[str, ...]  # contacts of the centres of touched communities
    noc: tuple[str, ...]
    call_centre: tuple[str, ...]


def on_shift(shift: Shift, moment: datetime) -> bool:
    """A shift may run past midnight (from 20:00 to 08:00): its day is the start day."""
    now = moment.timetz().replace(tzinfo=None)
    weekday = moment.weekday()
    if shift.start < shift.end:
        return weekday in shift.days and shift.start <= now < shift.end
    if shift.start == shift.end:  # a whole day
        return weekday in shift.days
    yesterday = (weekday - 1) % 7
    return (weekday in shift.days and now >= shift.start) or (
        yesterday in shift.days and now < shift.end
    )


def on_duty(shifts: Iterable[Shift], moment: datetime) -> bool:
    found = list(shifts)
    return not found or any(on_shift(s, moment) for s in found)


def duty_order(area: Area, at: float, tz: tzinfo | None) -> list[str]:
    """The area's people, on duty first, each group in written order (`tz` None:
    the machine's zone)."""
    moment = datetime.fromtimestamp(at, tz)
    people = list(dict.fromkeys((area.interface, *area.roster)))
    present = [p for p in people if on_duty(area.shifts.get(p, ()), moment)]
    return present + [p for p in people if p not in present]


def route(
    topology: Topology,
    root: str,
    severity: Severity,
    communities: Iterable[str],
    at: float,
    tz: tzinfo | None,
) -> Route:
    element = topology.elements.get(root)
    area = topology.areas.get(element.area) if element is not None else None
    order = duty_order(area, at, tz) if area is not None else []
    touched = set(communities)
    centres = [
        pid
        for centre in topology.service_centres.values()
        if touched.intersection(centre.communities)
        for pid in centre.contacts
    ]
    leaders = [r.person for r in topology.leadership if severity in r.severities]
    return Route(
        area=area.id if area is not None else None,
        interface=order[0] if order else None,
        roster=tuple(order[1:]),
        manager=area.manager if area is not None else None,
        leaders=tuple(dict.fromkeys(leaders)),
        service_centres=tuple(dict.fromkeys(centres)),
        noc=topology.noc,
        call_centre=topology.call_centre,
    )


def next_on_roster(route_: Route, current: str | None) -> str | None:
    """Who a dispatch nobody accepted goes to: the next one after `current`."""
    people = [p for p in (route_.interface, *route_.roster) if p is not None]
    if current in people:
        rest = people[people.index(current) + 1 :]
        return rest[0] if rest else None
    return people[0] if people else None


def escalation_levels(
    topology: Topology, route_: Route, chain: Sequence[str]
) -> list[tuple[str, ...]]:
    """Who each level above a step's owner names (`chain` without its first entry, the
    owner), as the topology says now; levels naming nobody new are left out."""
    area = topology.areas.get(route_.area or "")
    roles: dict[str, tuple[str, ...]] = {
        "area_manager": (area.area_manager,) if area and area.area_manager else (),
        "centre_manager": (route_.manager,) if route_.manager else (),
        "leadership": route_.leaders,
        "noc": route_.noc,
    }
    levels: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for name in chain[1:]:
        fresh = tuple(p for p in roles.get(name, ()) if p not in seen)
        if fresh:
            levels.append(fresh)
            seen.update(fresh)
    return levels


def owed_by(topology: Topology, role: str, person: str | None) -> tuple[str, ...]:
    """Who is reminded of a step: the assignee for the interface person's steps, the
    NOC duty desk for the NOC's and the dispatcher's, nobody for the daemon's."""
    if role == "interface":
        return (person,) if person in topology.people else ()
    return topology.noc if role in ("noc", "dispatcher") else ()
