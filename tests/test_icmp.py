"""ICMP prober: packet and rate logic from tables, the engine against real hosts
(loopback, and network namespaces with a veth link), the scheduler end to end.

Traffic goes only to 127.0.0.0/8, ::1, and namespaces these tests create
(198.18.0.0/15 and 2001:2::/48 inside them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from icmplib import ICMPv4Socket

from outaged.errors import ProbeError
from outaged.probes.icmp import IcmpEngine, PingResult
from outaged.probes.icmp_packet import (
    ECHO_REPLY_V4,
    ECHO_REPLY_V6,
    ECHO_REQUEST_V4,
    EchoTemplate,
    checksum,
    parse_echo_reply,
)
from outaged.probes.icmp_rate import TokenBucket
from outaged.probes.schedule import (
    Agenda,
    ProbePlan,
    ScheduleConfig,
    Scheduler,
    StormGuard,
    WindowOutcome,
    phase,
)
from outaged.signals import ProbeResult, Signal
from outaged.topology.model import Element, Kind, Topology
from tests.netns import Namespaces, Netns, is_root

ROOT = Path(__file__).resolve().parent.parent
needs_root = pytest.mark.skipif(not is_root(), reason="raw ICMP and namespaces need root")


def loopback(n: int) -> list[str]:
    """n distinct 127.77.x.y addresses: all answer on Linux loopback."""
    return [f"127.77.{i // 250}.{i % 250 + 1}" for i in range(n)]


def topology(*elements: tuple[str, Kind, tuple[str, ...], str | None]) -> Topology:
    return Topology(
        elements={
            eid: Element(id=eid, kind=kind, parents=parents, area="a", address=address)
            for eid, kind, parents, address in elements
        },
        areas={},
        people={},
        leadership=(),
        service_centres={},
        subscribers={},
    )


# --- packets and rate: tables ------------------------------------------------


@pytest.mark.parametrize("sequence", [0, 1, 0x1234, 0xFFFE, 0xFFFF])
@pytest.mark.parametrize("ident", [0, 0x0800, 0xFFFF])
def test_request_checksum_is_rfc1071_and_matches_icmplib(ident: int, sequence: int) -> None:
    packet = EchoTemplate(ECHO_REQUEST_V4, ident).packet(sequence)
    assert checksum(packet) == 0  # a correct checksum sums to zero
    zeroed = packet[:2] + b"\x00\x00" + packet[4:]
    reference = ICMPv4Socket._checksum(None, zeroed)  # icmplib's own implementation
    assert struct.unpack_from("!H", packet, 2)[0] == reference
    assert struct.unpack_from("!BBxxHH", packet) == (ECHO_REQUEST_V4, 0, ident, sequence)


def _icmp(kind: int, ident: int, sequence: int) -> bytes:
    return struct.pack("!BBHHH", kind, 0, 0, ident, sequence) + b"payload"


@pytest.mark.parametrize(
    ("data", "ip_header", "reply_type", "expected"),
    [
        (bytes([0x45]) + bytes(19) + _icmp(0, 7, 9), True, ECHO_REPLY_V4, (7, 9)),
        (bytes([0x46]) + bytes(23) + _icmp(0, 7, 9), True, ECHO_REPLY_V4, (7, 9)),  # IP options
        (_icmp(0, 7, 9), False, ECHO_REPLY_V4, (7, 9)),  # datagram socket: no IP header
        (_icmp(129, 1, 2), False, ECHO_REPLY_V6, (1, 2)),
        (bytes([0x45]) + bytes(19) + _icmp(8, 7, 9), True, ECHO_REPLY_V4, None),  # a request
        (bytes([0x45]) + bytes(19) + _icmp(3, 7, 9), True, ECHO_REPLY_V4, None),  # unreachable
        (_icmp(129, 1, 2)[:7], False, ECHO_REPLY_V6, None),  # truncated
        (b"", True, ECHO_REPLY_V4, None),
    ],
)
def test_parse_echo_reply(
    data: bytes, ip_header: bool, reply_type: int, expected: tuple[int, int] | None
) -> None:
    assert parse_echo_reply(data, ip_header=ip_header, reply_type=reply_type) == expected


def test_token_bucket_grants_burst_then_rate() -> None:
    bucket = TokenBucket(rate=100.0, burst=5, now=0.0)
    assert bucket.take(10, 0.0) == 5  # starts full
    assert bucket.take(1, 0.0) == 0
    assert bucket.take(10, 0.015) == 1  # 1.5 tokens refilled: one whole one granted
    assert bucket.wait_s(0.015) == pytest.approx(0.005)
    assert bucket.take(10, 0.02) == 1
    assert bucket.take(100, 10.0) == 5  # never more than the burst, however long idle
    with pytest.raises(ValueError):
        TokenBucket(rate=0.0, burst=1, now=0.0)


def test_ping_result_figures() -> None:
    result = PingResult("127.0.0.1", sent=4, received=2, rtts_ms=(1.0, 3.0))
    assert (result.ok, result.loss, result.avg_rtt_ms) == (True, 0.5, 2.0)
    lost = PingResult("127.0.0.1", sent=3, received=0, rtts_ms=())
    assert (lost.ok, lost.loss, lost.avg_rtt_ms) == (False, 1.0, None)


# --- the engine against loopback -----------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@needs_root
async def test_engine_pings_thousands_of_loopback_hosts_over_one_socket() -> None:
    async with IcmpEngine(rate_pps=1e6) as engine:
        before = _open_fds()
        small = await engine.ping_many(loopback(10), timeout=1.0)
        after_small = _open_fds()
        hosts = loopback(3000)
        started = time.monotonic()
        results = await engine.ping_many(hosts, timeout=1.0)
        elapsed = time.monotonic() - started
        assert _open_fds() == after_small == before + 1  # one raw IPv4 socket, whatever N
        assert engine.privileged is True
    assert all(r.ok for r in small.values())
    assert list(results) == hosts
    assert all(r.sent == 1 and r.received == 1 for r in results.values())
    assert all(0 < r.rtts_ms[0] < 1000 for r in results.values())
    assert elapsed < 1.0  # every reply came: nobody waited for the timeout
    assert _open_fds() == before  # closed on exit


@needs_root
async def test_engine_ipv6_and_repeated_requests() -> None:
    async with IcmpEngine() as engine:
        started = time.monotonic()
        results = await engine.ping_many(
            ["::1", "0:0::1", "127.0.0.1"], count=3, interval=0.05, timeout=0.5
        )
        elapsed = time.monotonic() - started
    assert set(results) == {"::1", "0:0::1", "127.0.0.1"}
    for result in results.values():
        assert (result.sent, result.received, len(result.rtts_ms)) == (3, 3, 3)
    assert results["0:0::1"] == PingResult("0:0::1", 3, 3, results["::1"].rtts_ms)
    assert 0.1 <= elapsed < 0.5  # requests paced 50 ms apart


@needs_root
async def test_rate_cap_spreads_requests() -> None:
    async with IcmpEngine(rate_pps=500, burst=5) as engine:
        started = time.monotonic()
        results = await engine.ping_many(loopback(200), timeout=1.0)
        elapsed = time.monotonic() - started
    assert all(r.ok for r in results.values())
    assert 0.38 <= elapsed < 1.5  # (200 - 5) requests at 500/s


@needs_root
async def test_concurrent_calls_and_a_foreign_pinger_share_the_socket() -> None:
    """Replies are matched by identifier, source and sequence: another pinger's
    replies (fping, to the same hosts) and a concurrent call do not mix in."""
    hosts = loopback(500)
    fping = subprocess.Popen(
        ["fping", "-q", "-C", "20", "-p", "20", "-i", "1", *hosts[:100]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with IcmpEngine(rate_pps=1e5) as engine:
            first, second = await asyncio.gather(
                engine.ping_many(hosts, count=3, interval=0.05, timeout=1.0),
                engine.ping_many(hosts[:250], count=2, interval=0.05, timeout=1.0),
            )
    finally:
        fping.kill()
        fping.wait(timeout=5)
    assert all((r.sent, r.received) == (3, 3) for r in first.values())
    assert all((r.sent, r.received) == (2, 2) for r in second.values())


async def test_not_an_address_is_a_probe_error() -> None:
    async with IcmpEngine() as engine:
        with pytest.raises(ProbeError, match="not an IP address: 'router-1'"):
            await engine.ping_many(["127.0.0.1", "router-1"])


# --- the scheduler: pure agenda and storm guard --------------------------------

#   core (10.0.0.1)
#     olt (10.0.1.1)
#       splitter (passive, no address)
#         b1, b2 (10.0.2.x)
#       b3 (10.0.2.3)
#     other (10.0.9.1)
TREE = topology(
    ("core", Kind.CORE, (), "10.0.0.1"),
    ("olt", Kind.ACCESS, ("core",), "10.0.1.1"),
    ("splitter", Kind.SPLITTER, ("olt",), None),
    ("b1", Kind.BUILDING, ("splitter",), "10.0.2.1"),
    ("b2", Kind.BUILDING, ("splitter",), "10.0.2.2"),
    ("b3", Kind.BUILDING, ("olt",), "10.0.2.3"),
    ("other", Kind.METRO, ("core",), "10.0.9.1"),
)
PLAN = ProbePlan(interval_s=60.0, count=1, spacing_s=0.0, timeout_s=1.0)
CONFIG = ScheduleConfig(plan=PLAN, suspect_speedup=6.0, settle_after=3)


def _due(agenda: Agenda, now: float) -> set[str]:
    return {d.element for d in agenda.due(now)}


def _settle_all(agenda: Agenda, ok: Mapping[str, bool], until: float) -> float:
    """Run the agenda to `until` in 1 s steps, answering every probe with `ok`."""
    now = 0.0
    while now <= until:
        for element in _due(agenda, now):
            agenda.record(element, ok[element], now)
        now += 1.0
    return now


def test_slots_are_jittered_across_the_interval() -> None:
    many = topology(
        *((f"e{i}", Kind.ACCESS, (), f"10.1.{i // 250}.{i % 250}") for i in range(3000))
    )
    agenda = Agenda(many, CONFIG, now=100.0)
    assert len(agenda) == 3000
    counts = [len(agenda.due(100.0 + 6.0 * (k + 1))) for k in range(10)]
    assert sum(counts) == 3000  # each exactly once in the first interval
    assert all(240 <= c <= 360 for c in counts), counts  # spread evenly, no burst
    assert phase("e1") == phase("e1") != phase("e2")


def test_regular_slots_repeat_every_interval_and_skip_while_in_flight() -> None:
    agenda = Agenda(TREE, CONFIG, now=0.0)
    slot = 60.0 * phase("b3")
    assert "b3" not in _due(agenda, slot - 0.001)
    assert "b3" in _due(agenda, slot)
    assert "b3" not in _due(agenda, slot + 60.0)  # still in flight: that slot is skipped
    agenda.record("b3", True, slot + 60.5)
    assert "b3" not in _due(agenda, slot + 119.9)
    assert "b3" in _due(agenda, slot + 120.0)


def test_a_failure_reprobes_parents_siblings_and_children_at_once() -> None:
    agenda = Agenda(TREE, CONFIG, now=0.0)
    ok = dict.fromkeys(TREE.elements, True)
    now = _settle_all(agenda, ok, until=130.0)  # everyone up, nobody suspect
    assert agenda.suspects() == set()
    agenda.due(now + 1000)  # take every element in flight...
    for element in ("core", "olt", "b2", "b3", "other"):
        agenda.record(element, True, now)  # ...and answer all but b1
    agenda.record("b1", False, now)
    # b2 through the passive splitter; olt (its parent through the splitter).
    assert agenda.suspects() == {"b1", "b2", "olt"}
    assert _due(agenda, now) == {"b2", "olt"}  # immediately, not at their slots
    agenda.record("olt", False, now + 0.5)  # the fault is higher: olt's own neighbours
    agenda.record("b2", False, now + 0.5)
    assert agenda.suspects() == {"b1", "b2", "olt", "core", "b3", "other"}
    assert _due(agenda, now + 0.5) == {"core", "b3", "other"}


def test_suspects_are_probed_faster_until_they_settle() -> None:
    agenda = Agenda(TREE, CONFIG, now=0.0)
    slot = 60.0 * phase("b1") + 60.0  # b1's second regular slot
    _settle_all(agenda, dict.fromkeys(TREE.elements, True), until=slot - 1.0)
    assert "b1" in _due(agenda, slot)
    agenda.record("b1", False, slot)
    probed = []
    for step in range(1, 700):  # 0.1 s steps, past the next regular slot
        t = slot + step / 10
        if "b1" in _due(agenda, t):
            probed.append(t - slot)
            agenda.record("b1", False, t)
    # every interval / 6 until three equal results in a row, then the regular slot
    assert probed == pytest.approx([10.0, 20.0, 60.0], abs=0.11)
    assert "b1" not in agenda.suspects()


def test_a_recovery_reprobes_children_first_and_siblings_do_not_ping_pong() -> None:
    agenda = Agenda(TREE, CONFIG, now=0.0)
    down = {e: e not in {"olt", "b1", "b2", "b3"} for e in TREE.elements}
    now = _settle_all(agenda, down, until=200.0)  # olt subtree down, settled
    assert agenda.suspects() == set()
    assert _due(agenda, now) == set()
    agenda.due(now + 1000)
    for element in ("core", "b1", "b2", "b3", "other"):
        agenda.record(element, down[element], now)  # unchanged: triggers nothing
    assert agenda.suspects() == set()
    agenda.record("olt", True, now)  # recovered
    assert agenda.suspects() == {"olt", "b1", "b2", "b3"}
    assert _due(agenda, now) == {"b1", "b2", "b3"}
    agenda.calm()
    assert agenda.suspects() == set()


def _signal(element: str, ok: bool) -> ProbeResult:
    return ProbeResult(at=1.0, element=element, ok=ok, rtt_ms=0.5 if ok else None)


def _elements(outcome: WindowOutcome) -> list[str]:
    return [s.element for s in outcome.emit]


def test_storm_guard_drops_failures_of_a_storm_window_and_its_neighbours() -> None:
    guard = StormGuard(share=0.5, min_sample=4)

    def window(name: str, failed: int, sample: int = 4) -> WindowOutcome:
        for i in range(sample):
            guard.add(_signal(f"{name}{i}", ok=i >= failed), regular=True)
        return guard.close()

    assert window("a", failed=1) == WindowOutcome((), None)  # held one window
    assert _elements(window("b", failed=1)) == ["a0", "a1", "a2", "a3"]
    guard.add(_signal("x", ok=False), regular=False)  # a re-probe: not in the share
    storm = window("c", failed=3)  # the uplink went late in "b"
    assert storm.storm_share == pytest.approx(3 / 4)
    assert _elements(storm) == ["b1", "b2", "b3"]  # b0's failure went with the storm
    assert _elements(window("d", failed=2)) == ["c3"]  # back early in "d"
    assert _elements(window("e", failed=0)) == ["d2", "d3"]  # d0, d1 next to the storm
    assert [s.element for s in guard.flush()] == ["e0", "e1", "e2", "e3"]


def test_storm_guard_ignores_reprobes_and_small_samples() -> None:
    guard = StormGuard(share=0.5, min_sample=4)
    for i in range(4):
        guard.add(_signal(f"r{i}", ok=i != 0), regular=True)  # 1 of 4 regular failed
    for i in range(20):
        guard.add(_signal(f"x{i}", ok=False), regular=False)  # re-probes around a fault
    assert guard.close().storm_share is None
    for i in range(3):
        guard.add(_signal(f"s{i}", ok=False), regular=True)  # below min_sample
    outcome = guard.close()
    assert outcome.storm_share is None and len(outcome.emit) == 24
    assert len(guard.flush()) == 3
    off = StormGuard(share=1.0, min_sample=1)
    off.add(_signal("r", ok=False), regular=True)
    assert off.close().storm_share is None and off.flush() == (_signal("r", ok=False),)


# --- the scheduler running ------------------------------------------------------


class FakePinger:
    """Pure logic stand-in: which addresses answer is a dict the test changes."""

    def __init__(self, up: dict[str, bool]) -> None:
        self.up = up
        self.calls: list[tuple[str, ...]] = []

    async def ping_many(
        self, addresses: Sequence[str], *, count: int, interval: float, timeout: float
    ) -> dict[str, PingResult]:
        self.calls.append(tuple(addresses))
        await asyncio.sleep(0.01)
        return {
            a: PingResult(a, count, count, (0.1,) * count)
            if self.up[a]
            else PingResult(a, count, 0, ())
            for a in addresses
        }


def _flat(n: int) -> Topology:
    return topology(*((f"e{i}", Kind.ACCESS, (), f"127.78.0.{i + 1}") for i in range(n)))


async def _run_for(scheduler: Scheduler, seconds: float) -> None:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_storm_calls_the_hook_and_emits_no_failures() -> None:
    topo = _flat(8)
    pinger = FakePinger({e.address or "": e.id != "e0" for e in topo.elements.values()})
    signals: list[Signal] = []
    storms: list[float] = []
    config = ScheduleConfig(
        plan=ProbePlan(interval_s=0.2, count=1, spacing_s=0.0, timeout_s=0.1),
        storm_window_s=0.25,
        storm_min_sample=4,
    )
    scheduler = Scheduler(topo, pinger, signals.append, config=config, on_storm=storms.append)
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(0.6)
    assert {s.element for s in signals if isinstance(s, ProbeResult) and not s.ok} == {"e0"}
    assert storms == []
    pinger.up = dict.fromkeys(pinger.up, False)  # the prober's uplink goes
    lost_at = time.time()
    await asyncio.sleep(0.8)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert storms and all(share > 0.5 for share in storms)
    failures = [s for s in signals if isinstance(s, ProbeResult) and not s.ok]
    assert failures and all(s.element == "e0" and s.at < lost_at for s in failures)


async def test_scheduler_stops_cleanly_and_hands_over_what_it_held() -> None:
    topo = _flat(5)
    pinger = FakePinger(dict.fromkeys((e.address or "" for e in topo.elements.values()), True))
    signals: list[Signal] = []
    config = ScheduleConfig(
        plan=ProbePlan(interval_s=0.3, count=2, spacing_s=0.0, timeout_s=0.1),
        storm_window_s=60.0,  # nothing is handed over before the stop
    )
    scheduler = Scheduler(topo, pinger, signals.append, config=config, wall_clock=lambda: 1e9)
    await _run_for(scheduler, 0.5)
    assert {s.element for s in signals} == set(topo.elements)
    assert all(s == ProbeResult(1e9, s.element, True, 0.1) for s in signals)


async def test_a_probe_engine_error_stops_the_scheduler() -> None:
    class Broken:
        async def ping_many(
            self, addresses: Sequence[str], *, count: int, interval: float, timeout: float
        ) -> dict[str, PingResult]:
            raise ProbeError("cannot open an ICMP socket: test")

    config = ScheduleConfig(plan=ProbePlan(interval_s=0.1, count=1, timeout_s=0.1))
    scheduler = Scheduler(_flat(2), Broken(), lambda s: None, config=config)
    with pytest.raises(ProbeError, match="test"):
        await asyncio.wait_for(scheduler.run(), 2.0)


class Recorder:
    def __init__(self) -> None:
        self.results: list[tuple[str, PingResult]] = []

    def on_result(self, element: str, result: PingResult) -> None:
        self.results.append((element, result))


@needs_root
async def test_scheduler_probes_loopback_elements_with_the_real_engine() -> None:
    topo = topology(
        ("core", Kind.CORE, (), "127.77.9.1"),
        *((f"b{i}", Kind.BUILDING, ("core",), f"127.77.9.{i + 2}") for i in range(20)),
        ("v6", Kind.ACCESS, ("core",), "::1"),
    )
    signals: list[Signal] = []
    recorder = Recorder()
    config = ScheduleConfig(
        plan=ProbePlan(interval_s=0.4, count=2, spacing_s=0.02, timeout_s=0.3),
        storm_window_s=0.1,
    )
    async with IcmpEngine() as engine:
        scheduler = Scheduler(
            topo,
            engine,
            signals.append,
            config=config,
            observers=[recorder],
            wall_clock=lambda: 42.0,
        )
        await _run_for(scheduler, 1.0)
    results = [s for s in signals if isinstance(s, ProbeResult)]
    assert {s.element for s in results} == set(topo.elements)
    assert all(s.ok and s.at == 42.0 and s.rtt_ms is not None and s.rtt_ms > 0 for s in results)
    assert len(recorder.results) == len(results)
    assert all(r.sent == 2 and r.received == 2 for _, r in recorder.results)


# --- namespaces: dead hosts, unprivileged mode, link down and up ----------------
#
# probe ns (vp 198.18.0.1/30, 2001:2::1/64)  <-veth->  peer ns (vq 198.18.0.2/30, 2001:2::2/64)
# peer answers for 198.19.0.0/24 (a local route on lo); 198.19.1.0/24 goes to the
# peer too, which does not forward it: those hosts are dead.

ALIVE = [f"198.19.0.{i}" for i in range(1, 41)]
DEAD = [f"198.19.1.{i}" for i in range(1, 201)]


def add_peer_routes(probe: Netns) -> None:
    probe.ip("route", "replace", "198.19.0.0/16", "via", "198.18.0.2")


@pytest.fixture
def link() -> Iterator[tuple[Netns, Netns]]:
    if not is_root():
        pytest.skip("network namespaces need root")
    with Namespaces() as spaces:
        probe, peer = spaces.create("probe"), spaces.create("peer")
        spaces.veth(probe, "vp", "198.18.0.1/30", peer, "vq", "198.18.0.2/30")
        probe.ip("-6", "addr", "add", "2001:2::1/64", "dev", "vp", "nodad")
        peer.ip("-6", "addr", "add", "2001:2::2/64", "dev", "vq", "nodad")
        peer.ip("route", "add", "local", "198.19.0.0/24", "dev", "lo")
        add_peer_routes(probe)
        yield probe, peer


def agent_main() -> None:
    """Runs inside a namespace (see `Agent`): ping or schedule, JSON lines out."""
    spec = json.loads(sys.argv[1])
    asyncio.run(_ping(spec) if spec["mode"] == "ping" else _schedule(spec))


async def _ping(spec: dict[str, Any]) -> None:
    try:
        async with IcmpEngine(privileged=spec["privileged"]) as engine:
            started = time.monotonic()
            results = await engine.ping_many(spec["addresses"], timeout=spec["timeout"])
            elapsed = time.monotonic() - started
            mode = engine.privileged
    except ProbeError as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        return
    received = {a: r.received for a, r in results.items()}
    print(json.dumps({"privileged": mode, "elapsed": elapsed, "received": received}), flush=True)


async def _schedule(spec: dict[str, Any]) -> None:
    topo = topology(*((e, Kind(k), tuple(p), a) for e, k, p, a in spec["elements"]))
    config = ScheduleConfig(plan=ProbePlan(**spec["plan"]), **spec["config"])

    def emit(signal: Signal) -> None:
        assert isinstance(signal, ProbeResult)
        print(json.dumps({"element": signal.element, "ok": signal.ok, "at": signal.at}), flush=True)

    def storm(share: float) -> None:
        print(json.dumps({"storm": share, "at": time.time()}), flush=True)

    async with IcmpEngine() as engine:
        scheduler = Scheduler(topo, engine, emit, config=config, on_storm=storm)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(scheduler.run(), spec["seconds"])


class Agent:
    """`agent_main` in a namespace; its JSON lines are collected by a thread."""

    def __init__(self, ns: Netns, spec: dict[str, Any], *, drop_net_raw: bool = False) -> None:
        argv = [sys.executable, "-c", "from tests.test_icmp import agent_main; agent_main()"]
        if drop_net_raw:  # root without CAP_NET_RAW: like an unprivileged daemon
            argv = ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", *argv]
        self.lines: list[dict[str, Any]] = []
        self._proc = subprocess.Popen(
            ns.command([*argv, json.dumps(spec)]),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self.lines.append(json.loads(line))

    def wait_for(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done(self.lines):
            if time.monotonic() > deadline or self._proc.poll() is not None:
                self._reader.join(timeout=1)  # the last lines of an agent that ended
                if done(self.lines):
                    return
                self._proc.kill()
                self._proc.wait(timeout=5)
                stderr = self._proc.stderr.read() if self._proc.stderr else ""
                raise AssertionError(f"agent not done in {timeout} s: {self.lines[-5:]} {stderr}")
            time.sleep(0.02)

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait(timeout=5)
        self._reader.join(timeout=5)
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()


def ping_in(ns: Netns, spec: dict[str, Any], *, drop_net_raw: bool = False) -> dict[str, Any]:
    agent = Agent(ns, {"mode": "ping", "timeout": 0.5, **spec}, drop_net_raw=drop_net_raw)
    try:
        agent.wait_for(lambda lines: bool(lines), timeout=15)
        return agent.lines[0]
    finally:
        agent.close()


@pytest.mark.netns
def test_dead_hosts_time_out_while_alive_ones_answer(link: tuple[Netns, Netns]) -> None:
    probe, _ = link
    out = ping_in(probe, {"addresses": [*ALIVE, *DEAD, "2001:2::2"], "privileged": True})
    assert out["privileged"] is True
    assert all(out["received"][a] == 1 for a in [*ALIVE, "2001:2::2"])
    assert all(out["received"][a] == 0 for a in DEAD)
    assert 0.5 <= out["elapsed"] < 0.9  # the 0.5 s timeout, once, for all dead hosts


@pytest.mark.netns
def test_unprivileged_datagram_sockets_when_ping_group_range_allows(
    link: tuple[Netns, Netns],
) -> None:
    probe, _ = link
    probe.sysctl("net.ipv4.ping_group_range", "0 0")  # this namespace only
    hosts = [*ALIVE, "2001:2::2", "::1", "127.0.0.1"]
    explicit = ping_in(probe, {"addresses": [*hosts, *DEAD[:20]], "privileged": False})
    assert explicit["privileged"] is False
    assert all(explicit["received"][a] == 1 for a in hosts)
    assert all(explicit["received"][a] == 0 for a in DEAD[:20])
    auto = ping_in(probe, {"addresses": hosts, "privileged": None}, drop_net_raw=True)
    assert auto["privileged"] is False  # no CAP_NET_RAW: fell back to datagram sockets
    assert all(auto["received"][a] == 1 for a in hosts)


@pytest.mark.netns
def test_neither_mode_permitted_is_a_clear_probe_error(link: tuple[Netns, Netns]) -> None:
    probe, _ = link
    assert probe.run("sysctl", "-n", "net.ipv4.ping_group_range").stdout.split() == ["1", "0"]
    out = ping_in(probe, {"addresses": ["127.0.0.1"], "privileged": None}, drop_net_raw=True)
    assert "CAP_NET_RAW" in out["error"]
    assert 'net.ipv4.ping_group_range (now "1 0"' in out["error"]


def _results(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "element" in line]


def _last_ok(lines: list[dict[str, Any]], elements: Sequence[str]) -> dict[str, bool]:
    last = {}
    for line in _results(lines):
        last[line["element"]] = line["ok"]
    return {e: last[e] for e in elements if e in last}


def _subtree(buildings: int) -> list[tuple[str, str, list[str], str | None]]:
    return [
        ("gw", "metro", [], "198.18.0.2"),
        ("splitter", "splitter", ["gw"], None),
        *((f"b{i}", "building", ["splitter"], f"198.19.0.{i}") for i in range(1, buildings + 1)),
    ]


SUBTREE_IDS = ["gw", *(f"b{i}" for i in range(1, 6))]


def _schedule_spec(buildings: int = 5, **config: Any) -> dict[str, Any]:
    return {
        "mode": "schedule",
        "elements": _subtree(buildings),
        "plan": {"interval_s": 2.0, "count": 1, "spacing_s": 0.0, "timeout_s": 0.3},
        "config": {"suspect_speedup": 4.0, "storm_window_s": 0.2, **config},
        "seconds": 18,
    }


@pytest.mark.netns
def test_link_down_then_up_gives_ok_failed_ok_per_element(link: tuple[Netns, Netns]) -> None:
    probe, _ = link
    agent = Agent(probe, _schedule_spec(storm_share=1.0))  # one uplink only: no storm guard
    try:
        agent.wait_for(lambda ls: len(_last_ok(ls, SUBTREE_IDS)) == len(SUBTREE_IDS), 5)
        assert all(_last_ok(agent.lines, SUBTREE_IDS).values())
        probe.ip("link", "set", "vp", "down")
        down_at = len(agent.lines)
        agent.wait_for(
            lambda ls: (
                not any(_last_ok(ls[down_at:], SUBTREE_IDS).values())
                and len(_last_ok(ls[down_at:], SUBTREE_IDS)) == len(SUBTREE_IDS)
            ),
            6,
        )
        probe.ip("link", "set", "vp", "up")
        add_peer_routes(probe)  # a downed link took its routes along
        up_at = len(agent.lines)
        agent.wait_for(
            lambda ls: (
                all(_last_ok(ls[up_at:], SUBTREE_IDS).values())
                and len(_last_ok(ls[up_at:], SUBTREE_IDS)) == len(SUBTREE_IDS)
            ),
            6,
        )
    finally:
        agent.close()
    results = _results(agent.lines)
    for element in SUBTREE_IDS:
        states = [line["ok"] for line in results if line["element"] == element]
        runs = [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]
        assert runs[:3] == [True, False, True], (element, states)
    failures = [line["at"] for line in results[down_at:] if not line["ok"]]
    first_fail = {
        line["element"]: line["at"] for line in reversed(results[down_at:]) if not line["ok"]
    }
    # topology order: the first failure had its neighbours re-probed at once, so
    # every element failed well within one 2 s interval of the first.
    assert max(first_fail.values()) - min(failures) < 1.0


@pytest.mark.netns
def test_whole_network_unreachable_is_a_storm_not_failures(link: tuple[Netns, Netns]) -> None:
    probe, _ = link
    agent = Agent(probe, _schedule_spec(40, storm_min_sample=3, storm_window_s=0.5))
    try:
        agent.wait_for(lambda ls: len(_last_ok(ls, SUBTREE_IDS)) >= 3, 5)
        probe.ip("link", "set", "vp", "down")
        down_at = len(agent.lines)
        agent.wait_for(lambda ls: any("storm" in line for line in ls[down_at:]), 6)
        time.sleep(1.1)  # two more windows
    finally:
        agent.close()
    storms = [line for line in agent.lines if "storm" in line]
    assert storms and all(line["storm"] > 0.5 for line in storms)
    assert all(line["ok"] for line in _results(agent.lines))  # no failure went out
