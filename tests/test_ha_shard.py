"""Probe targets shared among live members by rendezvous hashing (pure)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from outaged.ha.shard import assign, share
from outaged.probes.schedule import Agenda, ProbePlan, ScheduleConfig
from outaged.topology.load import load_topology
from outaged.topology.model import Topology
from tests.citygen import write_city

names = st.text(alphabet="abcdefghij-0123456789", min_size=1, max_size=8)
members_st = st.sets(names, min_size=1, max_size=6)
elements_st = st.lists(names, max_size=80, unique=True)


@given(members_st, elements_st)
def test_every_element_has_exactly_one_member(members: set[str], elements: list[str]) -> None:
    shares = assign(members, elements)
    assert set(shares) == members
    got = [e for part in shares.values() for e in part]
    assert sorted(got) == sorted(elements)


@given(members_st, names, elements_st)
def test_a_joining_member_only_takes_elements(
    members: set[str], joining: str, elements: list[str]
) -> None:
    before = assign(members, elements)
    after = assign(members | {joining}, elements)
    for member in members - {joining}:
        assert set(after[member]) <= set(before[member])  # nothing moves between old members
    moved = {e for m in members - {joining} for e in set(before[m]) - set(after[m])}
    assert moved == set(after.get(joining, [])) - set(before.get(joining, []))


@given(members_st, elements_st)
def test_a_leaving_member_only_gives_its_own(members: set[str], elements: list[str]) -> None:
    leaving = sorted(members)[0]
    rest = members - {leaving}
    if not rest:
        return
    before = assign(members, elements)
    after = assign(rest, elements)
    for member in rest:
        assert set(before[member]) <= set(after[member])
        assert set(after[member]) - set(before[member]) <= set(before[leaving])


def test_shares_are_balanced_enough_and_alone_probes_all() -> None:
    elements = [f"e{n}" for n in range(3000)]
    shares = assign(["i1", "i2", "i3"], elements)
    assert all(800 <= len(part) <= 1200 for part in shares.values()), {
        m: len(p) for m, p in shares.items()
    }
    assert share("solo", [], elements) == elements


# ---- the probe schedules of several members, in simulated time ------------------

INTERVAL_S = 60.0
TICK_S = 0.5
NOTICE_S = 2.5  # a member sees a change at its next lease try (renew_s) or so


class Members:
    """One probe agenda per live member, re-sharded as the members see each other."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.config = ScheduleConfig(plan=ProbePlan(interval_s=INTERVAL_S))
        self.agendas: dict[str, Agenda] = {}
        self.elements = [e.id for e in topology.elements.values() if e.address]
        self.last: dict[str, float] = {}
        self.worst = dict.fromkeys(self.elements, 0.0)

    def join(self, name: str, now: float) -> None:
        self.agendas[name] = Agenda(self.topology, self.config, now)  # probes all at first

    def reshard(self, now: float) -> None:
        shares = assign(self.agendas, self.elements)
        for name, agenda in self.agendas.items():
            agenda.reshard(frozenset(shares[name]), now)

    def run(self, start: float, end: float) -> None:
        now = start
        while now < end:
            for agenda in self.agendas.values():
                for due in agenda.due(now):
                    agenda.record(due.element, True, now)
                    if due.element in self.last:
                        gap = now - self.last[due.element]
                        self.worst[due.element] = max(self.worst[due.element], gap)
                    self.last[due.element] = now
            now += TICK_S

    def unprobed_now(self, now: float) -> float:
        return max(now - self.last.get(e, float("-inf")) for e in self.elements)


def test_joining_and_leaving_leave_no_element_unprobed_past_a_cycle(tmp_path: Path) -> None:
    topology = load_topology(write_city(tmp_path, metros=2, communities=3))
    m = Members(topology)
    m.join("a", 0.0)
    m.reshard(0.0)
    m.run(0.0, 100.0)
    m.join("b", 100.0)  # b probes everything until it sees a, a keeps its share until it sees b
    m.run(100.0, 100.0 + NOTICE_S)
    m.reshard(100.0 + NOTICE_S)
    m.run(100.0 + NOTICE_S, 250.0)
    m.join("c", 250.0)
    m.run(250.0, 250.0 + NOTICE_S)
    m.reshard(250.0 + NOTICE_S)
    m.run(250.0 + NOTICE_S, 400.0)
    # b stops gracefully: out of the members first, probing on until the others noticed
    leaving = m.agendas.pop("b")
    m.reshard(400.0 + NOTICE_S)  # a and c probe b's share at once
    m.agendas["b"] = leaving
    m.run(400.0, 400.0 + NOTICE_S + TICK_S)
    del m.agendas["b"]
    m.run(400.0 + NOTICE_S + TICK_S, 700.0)
    assert max(m.worst.values()) <= INTERVAL_S + TICK_S, max(m.worst.items(), key=lambda x: x[1])
    assert m.unprobed_now(700.0) <= INTERVAL_S + TICK_S
    shares = {n: len(a.share or ()) for n, a in m.agendas.items()}
    assert sum(shares.values()) == len(m.elements) and all(shares.values())


def test_a_crashed_member_leaves_its_share_unprobed_only_until_it_is_seen_gone(
    tmp_path: Path,
) -> None:
    """Without a goodbye, the others notice when its heartbeat expires (about the
    lease): an element is then at most a cycle plus that unprobed."""
    topology = load_topology(write_city(tmp_path, metros=2, communities=3))
    m = Members(topology)
    for name in ("a", "b", "c"):
        m.join(name, 0.0)
    m.reshard(1.0)
    m.run(0.0, 200.0)
    del m.agendas["c"]  # kill -9
    detect = 10.0  # its heartbeat expires (ha.lease_s by default)
    m.run(200.0, 200.0 + detect)
    m.reshard(200.0 + detect)
    m.run(200.0 + detect, 500.0)
    assert max(m.worst.values()) <= INTERVAL_S + detect + TICK_S
