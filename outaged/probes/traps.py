"""SNMP trap receiver: linkDown, linkUp, coldStart and warmStart become `Trap` signals.

The element is found by the datagram's source address, else by the
snmpTrapAddress varbind (set by proxies and by SNMPv1 agent-addr). Anything
else is counted and logged, never raised.

SNMPv3 traps are authenticated with keys localized to the *sender's* engine
ID, which no configuration lists; so the receiver learns the engine ID of a
v3 message from a known element address and a configured user before pysnmp
checks it (the keys still decide whether the trap is accepted). Informs use
the receiver's own engine ID and need no learning.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyasn1.codec.ber import decoder  # type: ignore[import-untyped]
from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]
from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto import api
from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
from pysnmp.proto.rfc1902 import OctetString
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

from outaged.errors import ConfigError, ProbeError, Problem
from outaged.probes.snmp_creds import SnmpV3, usm_auth_protocol, usm_priv_protocol
from outaged.signals import SignalSink, Trap, TrapKind

log = logging.getLogger(__name__)

Oid = tuple[int, ...]

TRAP_KINDS: dict[Oid, TrapKind] = {
    (1, 3, 6, 1, 6, 3, 1, 1, 5, 1): TrapKind.COLD_START,
    (1, 3, 6, 1, 6, 3, 1, 1, 5, 2): TrapKind.WARM_START,
    (1, 3, 6, 1, 6, 3, 1, 1, 5, 3): TrapKind.LINK_DOWN,
    (1, 3, 6, 1, 6, 3, 1, 1, 5, 4): TrapKind.LINK_UP,
}
SNMP_TRAP_OID: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SNMP_TRAP_ADDRESS: Oid = (1, 3, 6, 1, 6, 3, 18, 1, 3, 0)
SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
IF_INDEX: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 1)
SNMP_V3 = 3
MAX_LEARNED_ENGINES = 65536  # learning is limited to known element addresses anyway
MAX_LOGGED_UNKNOWN = 1024  # log each unknown source once, up to this many
BOOT_BUCKET_S = 60.0  # trap_key: an agent's boot time to the minute


@dataclass(slots=True)
class TrapCounters:
    """Read by metrics; `datagrams - notifications` were dropped by pysnmp
    (unknown community or user, bad digest, undecodable)."""

    datagrams: int = 0
    notifications: int = 0
    signals: int = 0
    unknown_source: int = 0
    unknown_trap: int = 0
    engines_learned: int = 0


@dataclass(frozen=True, slots=True)
class Notification:
    """What a received notification says, in the SNMPv2 form (v1 traps are converted)."""

    trap_oid: Oid | None
    ifindex: int | None
    agent_address: str | None
    uptime_ticks: int | None = None  # sysUpTime.0 (a v1 trap's time-stamp)


def read_notification(varbinds: Sequence[tuple[Oid, Any]]) -> Notification:
    trap_oid: Oid | None = None
    ifindex: int | None = None
    agent_address: str | None = None
    ticks: int | None = None
    for oid, value in varbinds:
        if oid == SYS_UPTIME:
            ticks = int(value)
        elif oid == SNMP_TRAP_OID:
            trap_oid = tuple(value)
        elif oid == SNMP_TRAP_ADDRESS:
            agent_address = socket.inet_ntoa(bytes(value.asOctets()))
        elif oid[: len(IF_INDEX)] == IF_INDEX and len(oid) == len(IF_INDEX) + 1:
            ifindex = int(value)
    return Notification(trap_oid, ifindex, agent_address, ticks)


def trap_key(trap: Trap) -> str | None:
    """The same notification's key on every instance it reached (None: unknown).

    A device sending to several trap receivers sends each the same PDU: the
    same sysUpTime, trap and ifIndex. With the agent's boot time (when the
    receiver heard it, less that uptime) to a minute, a coldStart at the same
    uptime after the next boot is another key. A copy whose boot time falls on
    the other side of a minute from the first copy's is kept twice, as before.
    """
    if trap.uptime_s is None:
        return None
    ticks = round(trap.uptime_s * 100)
    boot = round((trap.at - trap.uptime_s) / BOOT_BUCKET_S)
    where = "" if trap.ifindex is None else trap.ifindex
    return f"trap:{trap.element}:{trap.trap.value}:{where}:{ticks}:{boot}"


class TrapReceiver:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        communities: Sequence[str],
        users: Sequence[SnmpV3],
        sink: SignalSink,
        address_to_element: Mapping[str, str],
        clock: Callable[[], float],
    ) -> None:
        self._host = host
        self._port = port
        self._communities = tuple(communities)
        self._users = _unique_users(users)
        self._sink = sink
        self._address_to_element = address_to_element
        self._clock = clock
        self.counters = TrapCounters()
        self._engine: SnmpEngine | None = None
        self._receiver: ntfrcv.NotificationReceiver | None = None
        self._sock: socket.socket | None = None
        self._learned: set[tuple[bytes, bytes]] = set()
        self._logged_unknown: set[str] = set()

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port 0)."""
        if self._sock is None:
            return self._port
        port: int = self._sock.getsockname()[1]
        return port

    async def start(self) -> None:
        if self._engine is not None:
            return
        v6 = ":" in self._host
        sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self._host, self._port))
        except OSError as exc:
            sock.close()
            raise ProbeError(
                f"cannot listen for traps on {self._host}:{self._port}: {exc}"
            ) from exc
        engine = SnmpEngine()
        transport_cls = udp6.Udp6AsyncioTransport if v6 else udp.UdpAsyncioTransport
        domain = udp6.DOMAIN_NAME if v6 else udp.DOMAIN_NAME
        config.add_transport(engine, domain, transport_cls().open_server_mode(sock=sock))
        for i, community in enumerate(self._communities):
            config.add_v1_system(engine, f"trap-community-{i}", community)
        for user in self._users.values():
            _add_user(engine, user, engine_id=None)  # our own engine ID: informs
        engine.transport_dispatcher.register_routing_callback(self._on_datagram)
        self._receiver = ntfrcv.NotificationReceiver(engine, self._on_notification)
        self._engine, self._sock = engine, sock
        log.info("listening for SNMP traps on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        engine, self._engine = self._engine, None
        if engine is None:
            return
        if self._receiver is not None:
            self._receiver.close(engine)
            self._receiver = None
        engine.transport_dispatcher.unregister_routing_callback()
        engine.close_dispatcher()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _on_datagram(self, _domain: Oid, address: tuple[str, int], message: bytes) -> None:
        """pysnmp's routing hook: sees every datagram before the engine does."""
        self.counters.datagrams += 1
        if self._users and address[0] in self._address_to_element:
            try:
                self._learn_engine(message)
            except (PyAsn1Error, ValueError) as exc:
                log.debug("undecodable datagram from %s: %s", address[0], exc)

    def _learn_engine(self, message: bytes) -> None:
        if self._engine is None or int(api.decodeMessageVersion(message)) != SNMP_V3:
            return
        msg, _ = decoder.decode(message, asn1Spec=SNMPv3Message())
        params, _ = decoder.decode(bytes(msg[2]), asn1Spec=UsmSecurityParameters())
        engine_id, user_name = bytes(params[0]), bytes(params[3])
        user = self._users.get(user_name)
        key = (engine_id, user_name)
        if user is None or key in self._learned or not 5 <= len(engine_id) <= 32:
            return
        if engine_id == bytes(self._engine.snmpEngineID):
            return  # an inform: keys are localized to our own engine ID already
        if len(self._learned) >= MAX_LEARNED_ENGINES:
            log.warning("not learning SNMP engine %s: limit reached", engine_id.hex())
            return
        _add_user(self._engine, user, engine_id=engine_id)
        self._learned.add(key)
        self.counters.engines_learned += 1

    def _on_notification(
        self,
        engine: SnmpEngine,
        state_reference: Any,
        _context_engine_id: Any,
        _context_name: Any,
        varbinds: Sequence[tuple[Any, Any]],
        _cb_ctx: Any,
    ) -> None:
        try:
            self.counters.notifications += 1
            _, address = engine.message_dispatcher.get_transport_info(state_reference)
            self._handle(str(address[0]), [(tuple(oid), value) for oid, value in varbinds])
        except Exception:  # a malformed trap must not take the receiver down
            log.exception("cannot handle SNMP notification")

    def _handle(self, source: str, varbinds: Sequence[tuple[Oid, Any]]) -> None:
        note = read_notification(varbinds)
        element = self._address_to_element.get(source)
        if element is None and note.agent_address is not None:
            element = self._address_to_element.get(note.agent_address)
        if element is None:
            self.counters.unknown_source += 1
            self._log_unknown(source, note)
            return
        kind = TRAP_KINDS.get(note.trap_oid) if note.trap_oid is not None else None
        if kind is None:
            self.counters.unknown_trap += 1
            log.debug("ignored trap %s from %s", note.trap_oid, element)
            return
        uptime = None if note.uptime_ticks is None else note.uptime_ticks / 100
        self._sink(Trap(self._clock(), element, kind, note.ifindex, uptime))
        self.counters.signals += 1

    def _log_unknown(self, source: str, note: Notification) -> None:
        if source in self._logged_unknown or len(self._logged_unknown) >= MAX_LOGGED_UNKNOWN:
            return
        self._logged_unknown.add(source)
        log.warning(
            "SNMP trap from unknown source %s (agent address %s)", source, note.agent_address
        )


def _unique_users(users: Sequence[SnmpV3]) -> dict[bytes, SnmpV3]:
    """pysnmp keys USM users by (engine ID, user name): one key set per user name."""
    by_name: dict[bytes, SnmpV3] = {}
    problems = []
    for user in users:
        name = user.user.encode()
        if name in by_name and _secrets(by_name[name]) != _secrets(user):
            problems.append(
                Problem(
                    "config", None, f"snmp.traps.users.{user.name}", f"user {user.user!r} twice"
                )
            )
        by_name[name] = user
    if problems:
        raise ConfigError(problems)
    return by_name


def _secrets(user: SnmpV3) -> tuple[str | None, ...]:
    return (user.auth_protocol, user.auth_key, user.priv_protocol, user.priv_key)


def _add_user(engine: SnmpEngine, user: SnmpV3, engine_id: bytes | None) -> None:
    config.add_v3_user(
        engine,
        user.user,
        usm_auth_protocol(user),
        user.auth_key,
        usm_priv_protocol(user),
        user.priv_key,
        securityEngineId=None if engine_id is None else OctetString(engine_id),
    )
