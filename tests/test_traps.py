"""SNMP trap receiver against net-snmp's snmptrap (v1, v2c, v3 traps and informs)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from outaged.errors import ConfigError, ProbeError
from outaged.probes.snmp_creds import SnmpV3
from outaged.probes.traps import TrapReceiver, trap_key
from outaged.signals import Signal, Trap, TrapKind
from tests.snmpd import free_udp_port, snmptrap

pytestmark = pytest.mark.snmp

COMMUNITY = "trap-comm"
USER = SnmpV3("traps", "trapper", "SHA", "trap-auth-key", "AES", "trap-priv-key")
V3_ARGS = ["-v3", "-l", "authPriv", "-u", "trapper", "-a", "SHA", "-A", "trap-auth-key"]
V3_ARGS += ["-x", "AES", "-X", "trap-priv-key"]

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_UP = "1.3.6.1.6.3.1.1.5.4"
COLD_START = "1.3.6.1.6.3.1.1.5.1"
WARM_START = "1.3.6.1.6.3.1.1.5.2"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
SNMP_TRAP_ADDRESS = "1.3.6.1.6.3.18.1.3.0"


def clock() -> float:
    return 1_700_000_000.0


@dataclass
class Listening:
    receiver: TrapReceiver
    signals: list[Signal]
    workdir: Path
    runs: int = 0

    @property
    def dest(self) -> str:
        return f"127.0.0.1:{self.receiver.port}"

    async def send(self, *args: str) -> None:
        """One snmptrap run with a persistent dir of its own (its v3 engine ID lives there)."""
        self.runs += 1
        workdir = self.workdir / f"snmptrap-{self.runs}"
        await asyncio.to_thread(snmptrap, workdir, list(args))

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not predicate():
                await asyncio.sleep(0.02)

    def traps(self) -> list[Trap]:
        return [s for s in self.signals if isinstance(s, Trap)]


@asynccontextmanager
async def listen(tmp_path: Path, elements: dict[str, str]) -> AsyncIterator[Listening]:
    signals: list[Signal] = []
    receiver = TrapReceiver(
        "127.0.0.1",
        free_udp_port(),
        communities=["other-comm", COMMUNITY],
        users=[USER],
        sink=signals.append,
        address_to_element=elements,
        clock=clock,
    )
    await receiver.start()
    try:
        yield Listening(receiver, signals, tmp_path)
    finally:
        await receiver.stop()


@pytest.fixture
async def rx(tmp_path: Path) -> AsyncIterator[Listening]:
    async with listen(tmp_path, {"127.0.0.1": "sw-1"}) as listening:
        yield listening


@pytest.mark.parametrize(
    ("oid", "kind", "ifindex"),
    [
        (LINK_DOWN, TrapKind.LINK_DOWN, 2),
        (LINK_UP, TrapKind.LINK_UP, 7),
        (COLD_START, TrapKind.COLD_START, None),
        (WARM_START, TrapKind.WARM_START, None),
    ],
)
async def test_v2c_trap_becomes_a_trap_signal(rx: Listening, oid, kind, ifindex):
    varbinds = [] if ifindex is None else [f"{IF_INDEX}.{ifindex}", "i", str(ifindex)]
    await rx.send("-v", "2c", "-c", COMMUNITY, rx.dest, "4242", oid, *varbinds)
    await rx.wait_for(lambda: bool(rx.traps()))
    assert rx.traps() == [Trap(clock(), "sw-1", kind, ifindex, 42.42)]  # the agent's sysUpTime
    assert rx.receiver.counters.signals == 1


async def test_v3_authpriv_traps_and_informs(rx: Listening):
    await rx.send(*V3_ARGS, rx.dest, "100", LINK_DOWN, f"{IF_INDEX}.3", "i", "3")
    await rx.wait_for(lambda: len(rx.traps()) == 1)
    await rx.send("-Ci", *V3_ARGS, rx.dest, "200", LINK_UP, f"{IF_INDEX}.3", "i", "3")  # inform
    await rx.wait_for(lambda: len(rx.traps()) == 2)
    assert rx.traps() == [
        Trap(clock(), "sw-1", TrapKind.LINK_DOWN, 3, 1.0),
        Trap(clock(), "sw-1", TrapKind.LINK_UP, 3, 2.0),
    ]
    assert rx.receiver.counters.engines_learned == 1  # the trap's sender; informs need none


async def test_v1_trap_is_converted(rx: Listening):
    # generic-trap 2 = linkDown; the agent-addr is the element's own address
    await rx.send(
        "-v",
        "1",
        "-c",
        COMMUNITY,
        rx.dest,
        "",
        "127.0.0.1",
        "2",
        "0",
        "777",  # time-stamp
        f"{IF_INDEX}.5",
        "i",
        "5",
    )
    await rx.wait_for(lambda: bool(rx.traps()))
    assert rx.traps() == [Trap(clock(), "sw-1", TrapKind.LINK_DOWN, 5, 7.77)]


async def test_wrong_community_or_key_is_dropped_and_counted(rx: Listening):
    await rx.send("-v", "2c", "-c", "not-ours", rx.dest, "", LINK_DOWN)
    bad_key = [a if a != "trap-auth-key" else "wrong-auth-key" for a in V3_ARGS]
    await rx.send(*bad_key, rx.dest, "", LINK_DOWN)
    await rx.wait_for(lambda: rx.receiver.counters.datagrams >= 2)
    await asyncio.sleep(0.2)
    assert rx.traps() == []
    counters = rx.receiver.counters
    assert counters.notifications == 0 and counters.datagrams == 2


async def test_unknown_source_is_counted_not_raised(tmp_path: Path):
    async with listen(tmp_path, {"127.0.0.50": "sw-50"}) as rx:
        await rx.send("-v", "2c", "-c", COMMUNITY, rx.dest, "", LINK_DOWN)
        await rx.wait_for(lambda: rx.receiver.counters.unknown_source == 1)
        # The agent-address varbind names the element when the source does not.
        await rx.send(
            "-v",
            "2c",
            "-c",
            COMMUNITY,
            rx.dest,
            "300",
            COLD_START,
            SNMP_TRAP_ADDRESS,
            "a",
            "127.0.0.50",
        )
        await rx.wait_for(lambda: bool(rx.traps()))
        assert rx.traps() == [Trap(clock(), "sw-50", TrapKind.COLD_START, None, 3.0)]
        assert rx.receiver.counters.unknown_source == 1


async def test_unknown_trap_oid_is_counted(rx: Listening):
    await rx.send("-v", "2c", "-c", COMMUNITY, rx.dest, "", "1.3.6.1.4.1.8072.2.3.0.1")
    await rx.wait_for(lambda: rx.receiver.counters.unknown_trap == 1)
    assert rx.traps() == []


async def test_busy_port_is_a_probe_error_and_stop_is_idempotent():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        receiver = TrapReceiver(
            "127.0.0.1",
            port,
            communities=[COMMUNITY],
            users=[],
            sink=lambda s: None,
            address_to_element={},
            clock=clock,
        )
        with pytest.raises(ProbeError, match=str(port)):
            await receiver.start()
    await receiver.stop()
    await receiver.stop()


def test_one_key_set_per_user_name():
    other = SnmpV3("traps-2", "trapper", "SHA", "another-auth-key", "AES", "trap-priv-key")
    with pytest.raises(ConfigError, match="trapper"):
        TrapReceiver(
            "127.0.0.1",
            0,
            communities=[],
            users=[USER, other],
            sink=lambda s: None,
            address_to_element={},
            clock=clock,
        )


def test_one_notification_has_one_key_wherever_it_arrived() -> None:
    """Two receivers hear one notification milliseconds apart: one key; the next
    notification, another trap, or the same uptime after a reboot: other keys."""
    down = Trap(1_700_000_000.0, "sw-1", TrapKind.LINK_DOWN, 3, 5000.0)
    copy = Trap(1_700_000_000.004, "sw-1", TrapKind.LINK_DOWN, 3, 5000.0)
    assert trap_key(down) == trap_key(copy) is not None
    up = Trap(1_700_000_001.0, "sw-1", TrapKind.LINK_UP, 3, 5001.0)
    other_port = Trap(1_700_000_000.0, "sw-1", TrapKind.LINK_DOWN, 4, 5000.0)
    rebooted = Trap(1_700_000_600.0, "sw-1", TrapKind.LINK_DOWN, 3, 5000.0)
    keys = {trap_key(t) for t in (down, up, other_port, rebooted)}
    assert len(keys) == 4
    assert trap_key(Trap(1_700_000_000.0, "sw-1", TrapKind.LINK_DOWN, 3)) is None  # API's
