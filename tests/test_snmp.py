"""SNMP poller and credential sets: table tests, then a real net-snmp snmpd."""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from outaged.errors import ConfigError
from outaged.probes.snmp import ElementStatus, PollerSettings, SnmpPoller, is_reboot, targets_for
from outaged.probes.snmp_client import PollStatus, Target
from outaged.probes.snmp_creds import SnmpV2c, SnmpV3, parse_credentials
from outaged.signals import InterfaceStatus, ProbeResult, Reboot, Signal
from outaged.topology.model import Element, Kind
from tests.snmpd import SNMPWALK, Snmpd, client_env, running_snmpd

IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"

FAST = PollerSettings(timeout_s=0.5, retries=0)


def fixed_clock() -> float:
    return 1_700_000_000.0


# --- credential sets ---------------------------------------------------------


def test_parse_credentials_builds_v2c_and_v3_sets():
    creds = parse_credentials(
        {
            "legacy": {"version": "2c", "community": "s3cret-comm"},
            "core": {
                "version": "3",
                "user": "ops",
                "auth_protocol": "SHA",
                "auth_key": "auth-pass-1",
                "priv_protocol": "AES",
                "priv_key": "priv-pass-1",
            },
            "edge": {"version": "3", "user": "mon", "auth_protocol": "SHA256", "auth_key": "x" * 8},
        }
    )
    assert creds["legacy"] == SnmpV2c("legacy", "s3cret-comm")
    assert creds["core"] == SnmpV3("core", "ops", "SHA", "auth-pass-1", "AES", "priv-pass-1")
    edge = creds["edge"]
    assert isinstance(edge, SnmpV3)
    assert edge.level == "authNoPriv"


def test_parse_credentials_reports_every_bad_field_by_name():
    with pytest.raises(ConfigError) as caught:
        parse_credentials(
            {
                "a": {"version": "2"},
                "b": {"version": "2c"},
                "c": {"version": "3", "user": "u", "auth_protocol": "SHA1", "auth_key": "k" * 8},
                "d": {"version": "3", "user": "u", "auth_protocol": "SHA", "auth_key": "short"},
                "e": {"version": "3", "user": "u", "priv_protocol": "AES", "priv_key": "p" * 8},
                "f": {"version": "2c", "community": "c", "comunity": "typo"},
                "g": "not a mapping",
            },
            source="outaged.yaml",
        )
    fields = {p.field for p in caught.value.problems}
    assert fields == {
        "snmp.credentials.a.version",
        "snmp.credentials.b.community",
        "snmp.credentials.c.auth_protocol",
        "snmp.credentials.d.auth_key",
        "snmp.credentials.e.priv_protocol",
        "snmp.credentials.f.comunity",
        "snmp.credentials.g",
    }
    assert all(p.source == "outaged.yaml" for p in caught.value.problems)
    assert "short" not in str(caught.value)  # a rejected key is not echoed either


def test_credentials_never_show_secrets():
    v2 = SnmpV2c("legacy", "s3cret-comm")
    v3 = SnmpV3("core", "ops", "SHA", "auth-pass-1", "AES", "priv-pass-1")
    for text in (repr(v2), str(v2), repr(v3), str(v3), f"{[v2, v3]}"):
        for secret in ("s3cret-comm", "auth-pass-1", "priv-pass-1"):
            assert secret not in text
    assert "ops" in repr(v3) and "authPriv" in str(v3)


def test_unknown_credential_name_is_a_config_error():
    elements = [
        Element("olt-1", Kind.ACCESS, (), "a1", address="10.0.0.1", snmp="nope", line=12),
        Element("olt-2", Kind.ACCESS, (), "a1", snmp="legacy", line=20),
        Element("olt-3", Kind.ACCESS, (), "a1", address="10.0.0.3"),  # not SNMP-polled
    ]
    with pytest.raises(ConfigError) as caught:
        targets_for(elements, {"legacy": SnmpV2c("legacy", "c")})
    problems = {(p.line, p.field) for p in caught.value.problems}
    assert problems == {(12, "elements.olt-1.snmp"), (20, "elements.olt-2.address")}


@pytest.mark.parametrize(
    ("prev", "now", "elapsed", "reboot"),
    [
        (10_000, 500, 60.0, True),  # went backwards
        (10_000, 16_000, 60.0, False),  # moved on
        (10_000, 10_000, 0.0, False),
        (2**32 - 1000, 5_000, 60.0, False),  # 32-bit TimeTicks wrapped
        (2**32 - 1000, 500_000, 60.0, True),  # backwards, too far for a wrap
    ],
)
def test_is_reboot(prev, now, elapsed, reboot):
    assert is_reboot(prev, now, elapsed) is reboot


# --- against a real snmpd ------------------------------------------------------


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Snmpd]:
    with running_snmpd(tmp_path / "snmpd") as a:
        yield a


def v2c(agent: Snmpd, community: str | None = None) -> SnmpV2c:
    return SnmpV2c("v2", community or agent.community)


def v3(agent: Snmpd, auth_key: str | None = None, priv_key: str | None = None) -> SnmpV3:
    return SnmpV3(
        "v3", agent.user, "SHA", auth_key or agent.auth_key, "AES", priv_key or agent.priv_key
    )


def net_snmp_walk(agent: Snmpd, oid: str) -> dict[int, str]:
    """The anchor: net-snmp's own view of a column, {index: value}."""
    cmd = [SNMPWALK, "-v2c", "-c", agent.community, "-On", "-Oq"]
    env = client_env(agent.workdir / "anchor")
    out = subprocess.run(
        [*cmd, agent.address, oid], env=env, capture_output=True, timeout=10, check=True
    ).stdout.decode()
    rows = {}
    for line in out.splitlines():
        name, _, value = line.partition(" ")
        rows[int(name.rsplit(".", 1)[1])] = value.strip().strip('"')
    return rows


@dataclass
class PollerRun:
    """One poll of one target: what was emitted, the status, what the observer saw."""

    signals: list[Signal]
    status: ElementStatus
    observed: list[tuple[str, PollStatus, float]]


async def poll_once(target: Target, settings: PollerSettings = FAST) -> PollerRun:
    signals: list[Signal] = []
    observed: list[tuple[str, PollStatus, float]] = []

    def seen(element: str, status: PollStatus, duration_s: float) -> None:
        observed.append((element, status, duration_s))

    poller = SnmpPoller([target], signals.append, fixed_clock, settings=settings, on_poll=seen)
    try:
        async with asyncio.timeout(15):
            status = await poller.poll(target.element)
    finally:
        poller.close()
    return PollerRun(signals, status, observed)


def interfaces(signals: list[Signal]) -> dict[str, bool]:
    return {s.interface: s.up for s in signals if isinstance(s, InterfaceStatus)}


@pytest.mark.snmp
@pytest.mark.parametrize("version", ["v2c", "v3"])
async def test_poll_reads_uptime_and_uplinks_like_net_snmp(agent: Snmpd, version: str):
    oper = net_snmp_walk(agent, IF_OPER_STATUS)
    names = net_snmp_walk(agent, IF_NAME)
    by_index = [str(i) for i in sorted(oper)]
    by_name = [names[i] for i in sorted(names)]
    cred = v2c(agent) if version == "v2c" else v3(agent)
    target = Target("sw-1", "127.0.0.1", cred, (*by_index, *by_name), agent.port)

    run = await poll_once(target)
    signals = run.signals

    assert run.status.status is PollStatus.OK, run.status
    probe = [s for s in signals if isinstance(s, ProbeResult)]
    assert len(probe) == 1 and probe[0].ok and probe[0].rtt_ms is not None
    assert probe[0].at == fixed_clock()
    assert not [s for s in signals if isinstance(s, Reboot)]  # first poll: nothing to compare
    expected = {str(i): oper[i] == "1" for i in oper}
    expected |= {names[i]: oper[i] == "1" for i in names}
    assert interfaces(signals) == expected
    assert interfaces(signals)["lo"] is True
    assert run.observed == [("sw-1", PollStatus.OK, run.status.duration_s)]


@pytest.mark.snmp
@pytest.mark.parametrize("version", ["v2c", "v3"])
async def test_restarted_agent_is_a_reboot(agent: Snmpd, version: str):
    signals: list[Signal] = []
    cred = v2c(agent) if version == "v2c" else v3(agent)
    target = Target("sw-1", "127.0.0.1", cred, ("lo",), agent.port)
    poller = SnmpPoller([target], signals.append, fixed_clock, settings=FAST)
    try:
        async with asyncio.timeout(15):
            await asyncio.sleep(1.0)  # let sysUpTime grow past what a fresh agent shows
            assert (await poller.poll("sw-1")).status is PollStatus.OK
            assert (await poller.poll("sw-1")).status is PollStatus.OK
            assert not [s for s in signals if isinstance(s, Reboot)]
            agent.restart()
            status = await poller.poll("sw-1")
    finally:
        poller.close()
    assert status.status is PollStatus.OK, status
    reboots = [s for s in signals if isinstance(s, Reboot)]
    assert len(reboots) == 1
    assert reboots[0].element == "sw-1" and 0 <= reboots[0].uptime_s < 5
    assert interfaces(signals) == {"lo": True}


@pytest.mark.snmp
async def test_wrong_community_is_a_timeout_status(agent: Snmpd):
    target = Target("sw-1", "127.0.0.1", v2c(agent, "not-the-community"), ("1",), agent.port)
    run = await poll_once(target)
    signals = run.signals
    assert run.status.status is PollStatus.TIMEOUT
    assert signals == [ProbeResult(fixed_clock(), "sw-1", ok=False)]
    assert run.observed[0][:2] == ("sw-1", PollStatus.TIMEOUT)


@pytest.mark.snmp
async def test_wrong_v3_auth_key_is_an_auth_error(agent: Snmpd):
    target = Target("sw-1", "127.0.0.1", v3(agent, auth_key="wrong-auth-key"), ("1",), agent.port)
    run = await poll_once(target)
    signals = run.signals
    assert run.status.status is PollStatus.AUTH_ERROR
    assert "digest" in run.status.message.lower()
    # The agent answered with a USM report: it is reachable, just not ours to read.
    assert signals == [ProbeResult(fixed_clock(), "sw-1", ok=True)]


@pytest.mark.snmp
async def test_wrong_v3_priv_key_is_a_timeout_status(agent: Snmpd):
    # net-snmp drops what it cannot decrypt without a report.
    target = Target("sw-1", "127.0.0.1", v3(agent, priv_key="wrong-priv-key"), ("1",), agent.port)
    run = await poll_once(target)
    assert run.status.status is PollStatus.TIMEOUT


@pytest.mark.snmp
async def test_missing_uplinks_are_named_and_the_others_still_reported(agent: Snmpd):
    target = Target("sw-1", "127.0.0.1", v2c(agent), ("lo", "ge-9/9/9", "4242"), agent.port)
    run = await poll_once(target)
    signals = run.signals
    assert run.status.status is PollStatus.NO_SUCH_OBJECT
    assert "ge-9/9/9" in run.status.message and "4242" in run.status.message
    assert interfaces(signals) == {"lo": True}
    assert next(s for s in signals if isinstance(s, ProbeResult)).ok


@pytest.mark.snmp
async def test_run_polls_every_element_each_interval_and_stops_on_cancel(agent: Snmpd):
    signals: list[Signal] = []
    targets = [
        Target(f"sw-{i}", "127.0.0.1", v2c(agent) if i % 2 else v3(agent), ("1",), agent.port)
        for i in range(6)
    ]
    interval = 0.5
    poller = SnmpPoller(targets, signals.append, fixed_clock, settings=FAST)

    def polled() -> list[str]:
        return [s.element for s in signals if isinstance(s, ProbeResult) and s.ok]

    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        task = asyncio.create_task(poller.run(interval))
        async with asyncio.timeout(10):
            while min(polled().count(t.element) for t in targets) < 3:
                await asyncio.sleep(0.02)
        elapsed = loop.time() - started
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        poller.close()
    # Each element is polled once per interval, at its own phase: never more.
    for t in targets:
        assert 3 <= polled().count(t.element) <= elapsed / interval + 1
    assert {e: s.status for e, s in poller.statuses.items()} == {
        t.element: PollStatus.OK for t in targets
    }


async def test_a_resharded_poller_polls_only_its_share_and_a_new_one_at_once(agent: Snmpd):
    """Several instances: only the share is polled; an element newly held is polled
    at once, not at its phase in the next cycle (its poller may be a cycle gone);
    one given away is not polled again."""
    loop = asyncio.get_running_loop()
    polls: list[tuple[float, str]] = []

    def sink(signal: Signal) -> None:
        if isinstance(signal, ProbeResult) and signal.ok:
            polls.append((loop.time(), signal.element))

    targets = [Target(f"sw-{i}", "127.0.0.1", v2c(agent), (), agent.port) for i in range(4)]
    interval = 4.0  # every phase at 0.25 of the cycle: slots at 1 s, 5 s, ...
    poller = SnmpPoller(targets, sink, fixed_clock, settings=FAST, rng=EarlyPhases())
    poller.reshard(frozenset({"sw-0", "sw-1"}))

    async def until(elements: set[str], after: float, deadline: float) -> None:
        while not elements <= {e for t, e in polls if t >= after}:
            assert loop.time() < deadline, (elements, polls)
            await asyncio.sleep(0.02)

    started = loop.time()
    task = asyncio.create_task(poller.run(interval))
    try:
        await until({"sw-0", "sw-1"}, started, started + interval)
        assert {e for _, e in polls} == {"sw-0", "sw-1"}  # its share only
        resharded = loop.time()
        poller.reshard(frozenset({"sw-1", "sw-2", "sw-3"}))  # sw-2 and sw-3 are new here
        await until({"sw-2", "sw-3"}, resharded, started + interval + 0.9)  # before 5 s
        await until({"sw-1"}, started + interval, started + 2 * interval)  # its next slot
        await asyncio.sleep(0.5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        poller.close()
    assert "sw-0" not in {e for t, e in polls if t >= resharded}  # given away


class EarlyPhases(random.Random):
    def random(self) -> float:
        return 0.25


@pytest.mark.snmp
async def test_in_flight_requests_are_bounded_globally_and_per_agent():
    # A silent UDP "agent" counts what arrives: requests never answered stay in flight.
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink_a,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink_b,
    ):
        for s in (sink_a, sink_b):
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
        targets = [
            Target(f"el-{i}", "127.0.0.1", SnmpV2c("v2", "c"), (), s.getsockname()[1])
            for i, s in enumerate([sink_a] * 6 + [sink_b] * 6)
        ]
        socks = (sink_a, sink_b)
        settings = PollerSettings(timeout_s=1.0, retries=0, max_in_flight=3, max_per_agent=2)
        poller = SnmpPoller(targets, lambda s: None, fixed_clock, settings=settings)
        try:
            task = asyncio.create_task(poller.poll_all())
            arrived = [0, 0]
            async with asyncio.timeout(5):
                while sum(arrived) < 3:
                    await asyncio.sleep(0.02)
                    arrived = [n + count_datagrams(s) for n, s in zip(arrived, socks, strict=True)]
            await asyncio.sleep(0.3)  # well inside the 1 s timeout: nothing else may go out
            first_batch = [n + count_datagrams(s) for n, s in zip(arrived, socks, strict=True)]
            async with asyncio.timeout(15):
                await task
            total = [n + count_datagrams(s) for n, s in zip(first_batch, socks, strict=True)]
        finally:
            poller.close()
    assert sorted(first_batch) == [1, 2]  # 3 in flight, at most 2 to one agent
    assert total == [6, 6]  # timeouts free the slots for the rest
    assert {s.status for s in poller.statuses.values()} == {PollStatus.TIMEOUT}


def count_datagrams(sock: socket.socket) -> int:
    n = 0
    while True:
        try:
            sock.recv(65535)
        except BlockingIOError:
            return n
        n += 1
