"""Probing shared among real daemon processes on one real PostgreSQL: ICMP on
loopback targets while members join, leave and crash; SNMP polls against a
real snmpd; a trap the agent sends to every instance stored once.

What counts is what each daemon says it last probed (GET /api/v1/elements/ID:
the time of its last ICMP result or SNMP poll of that element), watched by a
thread every SAMPLE_S: each new time is one probe by that daemon."""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.daemon import Daemon
from tests.ha_cluster import LEASE_S, RENEW_S, Cluster
from tests.postgres import Postgres
from tests.snmpd import COMMUNITY, Snmpd, free_udp_port
from tests.test_probes_daemon import write_topology as probe_lab

INTERVAL_S = 2.0  # the ICMP cycle
SNMP_INTERVAL_S = 1.0
SAMPLE_S = 0.3
# A member sees another come or go at its next lease try (every renew_s); one
# killed is gone once its heartbeat is older than the lease (ha.lease_s).
NOTICE_S = RENEW_S
CRASH_NOTICE_S = LEASE_S + RENEW_S
LATE_S = 0.75  # a loaded machine's lateness: event loops, HTTP, the sampler
ICMP = (
    "probes:\n  icmp:\n    enabled: true\n"
    f"    interval_s: {INTERVAL_S}\n    count: 1\n    timeout_s: 0.5\n"
)


def write_topology(path: Path, addresses: list[str], snmp: str | None = None) -> Path:
    """A core and buildings under it, one address each (loopback only)."""
    assert all(a.startswith("127.") for a in addresses)
    elements: list[dict[str, object]] = []
    for n, address in enumerate(addresses):
        e: dict[str, object] = {"id": f"e{n}", "address": address}
        if n == 0:
            e.update(kind="core", area="backbone")
        else:
            e.update(kind="building", parents=["e0"], subscribers=10)
        if snmp is not None:
            e["snmp"] = snmp
        elements.append(e)
    return probe_lab(path, elements)


class Watch:
    """Every probe each daemon reports, as (daemon, element, time of the probe)."""

    def __init__(self, c: Cluster, elements: list[str], kind: str) -> None:
        self.c, self.elements, self.kind = c, elements, kind
        self.seen: set[tuple[str, str, float]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="probe-watch", daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            for d in list(self.c.daemons):
                for e in self.elements:
                    at = self._last(d, e)
                    if at is not None:
                        self.seen.add((self.c.name(d), e, at))
            self._stop.wait(SAMPLE_S)

    def _last(self, d: Daemon, element: str) -> float | None:
        if d.proc is None:
            return None
        try:
            code, body = d.call("GET", f"/api/v1/elements/{element}")
        except OSError:  # killed or stopping meanwhile (URLError is one)
            return None
        probe = body.get("probes", {}).get(self.kind) if code == 200 else None
        return None if probe is None else datetime.fromisoformat(probe["at"]).timestamp()

    def probers(self, start: float, end: float) -> dict[str, set[str]]:
        """Element -> the daemons that probed it between `start` and `end`."""
        found: dict[str, set[str]] = {e: set() for e in self.elements}
        for name, e, at in list(self.seen):
            if start <= at < end:
                found[e].add(name)
        return found

    def gaps(self, start: float, end: float) -> dict[str, float]:
        """Element -> its longest time unprobed by anyone between `start` and `end`."""
        times: dict[str, list[float]] = defaultdict(list)
        for _, e, at in list(self.seen):
            times[e].append(at)
        worst: dict[str, float] = {}
        for e in self.elements:
            ts = sorted(t for t in times[e] if start <= t <= end)
            edges = [start, *ts, end]
            worst[e] = max(b - a for a, b in itertools.pairwise(edges))
        return worst


def seen_by_all(c: Cluster, names: list[str], timeout_s: float) -> float:
    """When every running daemon sees exactly `names` as the members."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if all(c.members(d) == names for d in c.daemons if d.proc is not None):
            return time.time()
        time.sleep(0.1)
    raise AssertionError(f"members not {names}: {[c.members(d) for d in c.daemons]}")


def assert_one_each(w: Watch, start: float, end: float, members: list[str]) -> None:
    """Each element probed by exactly one member between `start` and `end`, each
    member probing some (rendezvous over few elements may leave one idle)."""
    assert end - start >= 2 * INTERVAL_S - 0.01
    who = w.probers(start, end)
    assert all(len(names) == 1 for names in who.values()), who
    assert {n for names in who.values() for n in names} <= set(members), who


@pytest.fixture
def icmp_cluster(tmp_path: Path, pg: Postgres) -> Iterator[Cluster]:
    addresses = [f"127.0.0.{n}" for n in range(2, 10)]
    topology = write_topology(tmp_path / "city" / "topology.yaml", addresses)
    c = Cluster(tmp_path, topology, pg.fresh_dsn("hap"), probes=ICMP)
    try:
        yield c
    finally:
        c.stop()


def test_join_leave_and_kill_9_reshard_icmp_with_every_element_probed_once(
    icmp_cluster: Cluster,
) -> None:
    """Two daemons, a third joins, one stops, one is killed: one probe cycle after
    the members see the change, each element is pinged by exactly one of them; no
    element goes unpinged longer than a cycle (a cycle plus the heartbeat's expiry
    when a member crashed)."""
    c = icmp_cluster
    n1, n2, n3 = c.daemons
    elements = [f"e{n}" for n in range(8)]
    with Watch(c, elements, "icmp") as w:
        started = time.time()
        n1.start()
        n2.start()
        seen = seen_by_all(c, ["n1", "n2"], 10)
        time.sleep(INTERVAL_S + LATE_S + 2 * INTERVAL_S)
        assert_one_each(w, seen + INTERVAL_S + LATE_S, time.time(), ["n1", "n2"])

        joined = time.time()
        n3.start()
        seen = seen_by_all(c, ["n1", "n2", "n3"], 10)
        assert seen - joined <= 10  # its start, then the others' next lease try
        time.sleep(INTERVAL_S + LATE_S + 2 * INTERVAL_S)
        assert_one_each(w, seen + INTERVAL_S + LATE_S, time.time(), ["n1", "n2", "n3"])

        leaving = time.time()
        assert n2.stop() == 0  # out of the members first, probing on until the others took over
        seen = seen_by_all(c, ["n1", "n3"], 10)
        assert seen - leaving <= NOTICE_S + 2 * LATE_S
        time.sleep(INTERVAL_S + LATE_S + 2 * INTERVAL_S)
        assert_one_each(w, seen + INTERVAL_S + LATE_S, time.time(), ["n1", "n3"])
        calm = time.time()

        killed = time.time()
        n3.kill()
        seen = seen_by_all(c, ["n1"], 3 * CRASH_NOTICE_S)
        assert seen - killed <= CRASH_NOTICE_S + 2 * LATE_S
        time.sleep(INTERVAL_S + LATE_S + 2 * INTERVAL_S)
        assert_one_each(w, seen + INTERVAL_S + LATE_S, time.time(), ["n1"])
        ended = time.time()

    settled = min(t for _, _, t in w.seen)
    assert settled - started <= 10 + INTERVAL_S
    before_kill = w.gaps(settled + INTERVAL_S, calm)
    assert max(before_kill.values()) <= INTERVAL_S + LATE_S, before_kill
    after_kill = w.gaps(calm, ended)
    assert max(after_kill.values()) <= INTERVAL_S + CRASH_NOTICE_S + LATE_S, after_kill
    assert "Traceback" not in "".join(d.log_text() for d in c.daemons)


# ---- SNMP: polls sharded like ICMP, a trap sent to every instance stored once ----


@pytest.mark.snmp
def test_snmp_polls_are_sharded_and_a_trap_sent_to_both_is_stored_once(
    tmp_path: Path, pg: Postgres
) -> None:
    """Two daemons poll a real snmpd for four elements: each element by exactly one
    of them. snmpd restarts and sends its coldStart to both instances' trap ports:
    both receive it, the store keeps one trap and the timeline one note. One daemon
    stops: the other polls every element from then on."""
    ports = [free_udp_port(), free_udp_port()]
    sinks = "".join(f"trap2sink 127.0.0.1:{p} {COMMUNITY}\n" for p in ports)
    others = ("127.0.0.2", "127.0.0.3", "127.0.0.4")  # one address an element, one agent
    agent = Snmpd(tmp_path / "snmpd", extra=sinks, also_on=others)
    topology = write_topology(tmp_path / "city" / "topology.yaml", ["127.0.0.1", *others], "lab")
    elements = [f"e{n}" for n in range(4)]

    def probes(trap_port: int) -> str:
        body = {
            "icmp": {"enabled": False},
            "snmp": {
                "enabled": True,
                "interval_s": SNMP_INTERVAL_S,
                "timeout_s": 0.5,
                "retries": 0,
                "port": agent.port,
                "credentials": {"lab": {"version": "2c", "community": COMMUNITY}},
            },
            "traps": {"enabled": True, "port": trap_port, "communities": [COMMUNITY]},
        }
        return yaml.safe_dump({"probes": body}, sort_keys=False)

    c = Cluster(
        tmp_path, topology, pg.fresh_dsn("hasnmp"), size=2, probes=[probes(p) for p in ports]
    )
    agent.start()
    try:
        with Watch(c, elements, "snmp") as w:
            c.start()
            seen = seen_by_all(c, ["n1", "n2"], 10)
            time.sleep(SNMP_INTERVAL_S + LATE_S + 3 * SNMP_INTERVAL_S)
            who = w.probers(seen + SNMP_INTERVAL_S + LATE_S, time.time())
            assert all(len(names) == 1 for names in who.values()), who

            leader = c.leader()
            agent.restart()  # its coldStart, to both trap ports

            def trap_signals() -> list[int]:
                return [
                    d.call("GET", "/readyz", token=None)[1]["probers"]["traps"]["signals"]
                    for d in c.daemons
                ]

            assert c.until(lambda: trap_signals() == [1, 1], 10), trap_signals()
            stored = c.until(lambda: c.query("SELECT element FROM signals WHERE kind = 'trap'"))
            time.sleep(1.0)  # the standby's copy reached the leader through the inbox
            assert c.until(lambda: c.query("SELECT COUNT(*) FROM ha_inbox")[0][0] == 0)
            assert c.query("SELECT element FROM signals WHERE kind = 'trap'") == stored
            assert len(stored) == 1, stored

            other = next(d for d in c.daemons if d is not leader)
            assert other.stop() == 0
            seen = seen_by_all(c, [c.name(leader)], 10)
            time.sleep(SNMP_INTERVAL_S + LATE_S + 2 * SNMP_INTERVAL_S)
            who = w.probers(seen + SNMP_INTERVAL_S + LATE_S, time.time())
            assert who == {e: {c.name(leader)} for e in elements}, who
    finally:
        c.stop()
        agent.stop()
    assert "Traceback" not in "".join(d.log_text() for d in c.daemons)
