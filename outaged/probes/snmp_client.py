"""One SNMP request over pysnmp: a GET of some OIDs or a walk of one column.

A request that fails raises `PollFailed` with its `PollStatus` (timeout,
authentication, absent object, other error) and whether the agent answered at
all; the poller (outaged.probes.snmp) turns it into the element's status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    UdpTransportTarget,
    UsmUserData,
    bulk_walk_cmd,
)
from pysnmp.hlapi.v3arch.asyncio.lcd import CommandGeneratorLcdConfigurator
from pysnmp.proto import errind
from pysnmp.proto.rfc1902 import Null, ObjectName
from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

from outaged.errors import OutagedError
from outaged.probes.snmp_creds import Credential, auth_data

Oid = tuple[int, ...]

AUTH_INDICATIONS = (
    errind.UnknownUserName,
    errind.UnknownSecurityName,
    errind.WrongDigest,
    errind.AuthenticationFailure,
    errind.AuthenticationError,
    errind.DecryptionError,
    errind.NotInTimeWindow,
    errind.UnsupportedSecurityLevel,
    errind.UnknownEngineID,
)
ABSENT_VALUES = (NoSuchObject, NoSuchInstance, EndOfMibView)
AGENT_NO_SUCH_NAME = 2  # SNMPv1-style errorStatus some agents still send
AGENT_AUTHORIZATION_ERROR = 16


class PollStatus(StrEnum):
    """Outcome of one poll; doubles as a metric label."""

    OK = "ok"
    TIMEOUT = "timeout"  # no answer: agent down, wrong community or wrong v3 privacy key
    AUTH_ERROR = "auth_error"  # the agent answered with a USM/VACM report or error
    NO_SUCH_OBJECT = "no_such_object"  # sysUpTime or an uplink is absent on the agent
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Target:
    """One SNMP-enabled element, with its credential set resolved."""

    element: str
    address: str
    credential: Credential
    uplinks: tuple[str, ...] = ()
    port: int = 161


class PollFailed(OutagedError):
    """One request failed; caught by the poller and turned into a status."""

    def __init__(self, status: PollStatus, message: str, *, responded: bool) -> None:
        super().__init__(message)
        self.status = status
        self.responded = responded  # the agent answered (a report counts): it is reachable


def _failure(indication: object) -> PollFailed:
    if isinstance(indication, errind.RequestTimedOut):
        return PollFailed(PollStatus.TIMEOUT, "no response", responded=False)
    if isinstance(indication, AUTH_INDICATIONS):
        return PollFailed(PollStatus.AUTH_ERROR, str(indication), responded=True)
    return PollFailed(PollStatus.ERROR, str(indication), responded=False)


def _agent_error(status: int, index: int) -> PollFailed:
    if status == AGENT_NO_SUCH_NAME:
        return PollFailed(PollStatus.NO_SUCH_OBJECT, "noSuchName", responded=True)
    if status == AGENT_AUTHORIZATION_ERROR:
        return PollFailed(PollStatus.AUTH_ERROR, "authorizationError", responded=True)
    return PollFailed(PollStatus.ERROR, f"agent error {status} at {index}", responded=True)


VarBinds = list[tuple[Oid, object]]


class SnmpClient:
    """GET and walk over pysnmp, bound to the running event loop.

    One SnmpEngine per credential set: pysnmp keys USM users by user name, so
    two sets sharing a user name with different keys would clobber each other
    in a single engine.
    """

    def __init__(self, timeout_s: float, retries: int) -> None:
        self._timeout_s = timeout_s
        self._retries = retries
        # Keyed by the whole credential set: a reload that changes a key gets a fresh engine.
        self._engines: dict[Credential, SnmpEngine] = {}
        self._auth: dict[Credential, CommunityData | UsmUserData] = {}
        self._transports: dict[tuple[str, int], UdpTransportTarget] = {}
        self._addr_names: dict[tuple[Credential, str, int], str] = {}
        self._lcd = CommandGeneratorLcdConfigurator()
        self._getter = cmdgen.GetCommandGenerator()

    def _engine(self, cred: Credential) -> SnmpEngine:
        engine = self._engines.get(cred)
        if engine is None:
            engine = self._engines[cred] = SnmpEngine()
            self._auth[cred] = auth_data(cred)
        return engine

    async def _transport(self, address: str, port: int) -> UdpTransportTarget:
        key = (address, port)
        tt = self._transports.get(key)
        if tt is None:
            try:
                tt = await UdpTransportTarget.create(
                    key, timeout=self._timeout_s, retries=self._retries
                )
            except PySnmpError as exc:  # an address that does not resolve
                raise PollFailed(PollStatus.ERROR, str(exc), responded=False) from exc
            self._transports[key] = tt
        return tt

    async def _addr_name(self, engine: SnmpEngine, target: Target) -> str:
        key = (target.credential, target.address, target.port)
        name = self._addr_names.get(key)
        if name is None:
            tt = await self._transport(target.address, target.port)
            name, _ = self._lcd.configure(engine, self._auth[target.credential], tt, b"")
            self._addr_names[key] = name
        return name

    async def get(self, target: Target, oids: Sequence[Oid]) -> VarBinds:
        """One GET PDU with every OID; values are pysnmp objects (absent ones included)."""
        engine = self._engine(target.credential)
        addr_name = await self._addr_name(engine, target)
        future: asyncio.Future[tuple[Any, int, int, Sequence[tuple[Any, Any]]]]
        future = asyncio.get_running_loop().create_future()

        def done(
            _engine: Any,
            _handle: Any,
            indication: Any,
            status: Any,
            index: Any,
            varbinds: Sequence[tuple[Any, Any]],
            _ctx: Any,
        ) -> None:
            if not future.done():  # cancelled, or timed out on our side
                future.set_result((indication, int(status or 0), int(index or 0), varbinds))

        varbinds = [(ObjectName(oid), Null("")) for oid in oids]
        try:
            self._getter.send_varbinds(engine, addr_name, None, b"", varbinds, done)
        except PySnmpError as exc:
            raise PollFailed(PollStatus.ERROR, str(exc), responded=False) from exc
        try:
            indication, status, index, answer = await asyncio.wait_for(future, self._deadline())
        except TimeoutError:
            raise PollFailed(PollStatus.TIMEOUT, "no response", responded=False) from None
        if indication:
            raise _failure(indication)
        if status:
            raise _agent_error(status, index)
        return [(tuple(oid), value) for oid, value in answer]

    async def walk(self, target: Target, base: Oid, max_rows: int) -> dict[int, str]:
        """A column of a table indexed by one integer (ifName, ifDescr): {index: text}."""
        engine = self._engine(target.credential)
        tt = await self._transport(target.address, target.port)
        rows: dict[int, str] = {}
        walker = bulk_walk_cmd(
            engine,
            self._auth[target.credential],
            tt,
            ContextData(),
            0,
            25,
            ObjectType(ObjectIdentity(ObjectName(base))),
            lookupMib=False,
            lexicographicMode=False,
        )
        try:
            async with asyncio.timeout(self._deadline() * 8), aclosing(walker):
                async for indication, status, index, varbinds in walker:
                    if indication:
                        raise _failure(indication)
                    if status:
                        raise _agent_error(int(status), int(index or 0))
                    for oid, value in varbinds:
                        suffix = tuple(oid)[len(base) :]
                        if len(suffix) == 1 and not isinstance(value, ABSENT_VALUES):
                            rows[suffix[0]] = str(value)
                    if len(rows) >= max_rows:
                        break
        except TimeoutError:
            raise PollFailed(PollStatus.TIMEOUT, "walk timed out", responded=False) from None
        except PySnmpError as exc:
            raise PollFailed(PollStatus.ERROR, str(exc), responded=False) from exc
        return rows

    def _deadline(self) -> float:
        """Our own bound on pysnmp's timeout and retries, in case a callback never comes."""
        return self._timeout_s * (self._retries + 1) + 1.0

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close_dispatcher()
        self._engines.clear()
        self._addr_names.clear()
