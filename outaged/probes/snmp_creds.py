"""SNMP credential sets: named v2c communities and v3 USM users.

Elements name a set (`Element.snmp`); the daemon configuration defines them.
Secrets (communities, keys) never appear in repr/str, so they cannot reach a
log line through an f-string or a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    UsmUserData,
    usmAesBlumenthalCfb192Protocol,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoAuthProtocol,
    usmNoPrivProtocol,
)

from outaged.errors import ConfigError, Problem

AuthProtocol = Literal["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"]
# AES192/AES256 follow net-snmp's names (Blumenthal key extension); the "C"
# variants are Cisco's (Reeder) key extension, net-snmp's "AES-256-C".
PrivProtocol = Literal["DES", "AES", "AES192", "AES256", "AES192C", "AES256C"]

AUTH_PROTOCOLS: dict[str, object] = {
    "MD5": usmHMACMD5AuthProtocol,
    "SHA": usmHMACSHAAuthProtocol,
    "SHA224": usmHMAC128SHA224AuthProtocol,
    "SHA256": usmHMAC192SHA256AuthProtocol,
    "SHA384": usmHMAC256SHA384AuthProtocol,
    "SHA512": usmHMAC384SHA512AuthProtocol,
}
PRIV_PROTOCOLS: dict[str, object] = {
    "DES": usmDESPrivProtocol,
    "AES": usmAesCfb128Protocol,
    "AES192": usmAesBlumenthalCfb192Protocol,
    "AES256": usmAesBlumenthalCfb256Protocol,
    "AES192C": usmAesCfb192Protocol,
    "AES256C": usmAesCfb256Protocol,
}
MIN_KEY_LEN = 8  # RFC 3414 password-to-key: shorter pass phrases are refused by agents


@dataclass(frozen=True, slots=True)
class SnmpV2c:
    name: str
    community: str = field(repr=False)

    def __str__(self) -> str:
        return f"{self.name} (v2c)"


@dataclass(frozen=True, slots=True)
class SnmpV3:
    """A USM user: noAuthNoPriv, authNoPriv or authPriv by which protocols are set."""

    name: str
    user: str
    auth_protocol: AuthProtocol | None = None
    auth_key: str | None = field(default=None, repr=False)
    priv_protocol: PrivProtocol | None = None
    priv_key: str | None = field(default=None, repr=False)

    @property
    def level(self) -> str:
        if self.priv_protocol is not None:
            return "authPriv"
        return "authNoPriv" if self.auth_protocol is not None else "noAuthNoPriv"

    def __str__(self) -> str:
        return f"{self.name} (v3 {self.user} {self.level})"


Credential = SnmpV2c | SnmpV3


def auth_data(cred: Credential) -> CommunityData | UsmUserData:
    """The pysnmp authentication object for a credential set."""
    if isinstance(cred, SnmpV2c):
        return CommunityData(cred.community, mpModel=1)
    return UsmUserData(
        cred.user,
        authKey=cred.auth_key,
        privKey=cred.priv_key,
        authProtocol=usm_auth_protocol(cred),
        privProtocol=usm_priv_protocol(cred),
    )


def usm_auth_protocol(cred: SnmpV3) -> object:
    return usmNoAuthProtocol if cred.auth_protocol is None else AUTH_PROTOCOLS[cred.auth_protocol]


def usm_priv_protocol(cred: SnmpV3) -> object:
    return usmNoPrivProtocol if cred.priv_protocol is None else PRIV_PROTOCOLS[cred.priv_protocol]


V2C_FIELDS = frozenset({"version", "community"})
V3_FIELDS = frozenset({"version", "user", "auth_protocol", "auth_key", "priv_protocol", "priv_key"})


def parse_credentials(
    raw: Mapping[str, object], source: str = "config", prefix: str = "snmp.credentials"
) -> dict[str, Credential]:
    """Validate `{name: {version: "2c"|"3", ...}}`; every problem is reported at once.

    v2c: `community`. v3: `user`, optional `auth_protocol` + `auth_key`,
    optional `priv_protocol` + `priv_key` (privacy needs authentication).
    """
    problems: list[Problem] = []
    creds: dict[str, Credential] = {}
    for name, body in raw.items():
        where = f"{prefix}.{name}"
        if not isinstance(body, Mapping):
            problems.append(Problem(source, None, where, "must be a mapping"))
            continue
        cred = _parse_one(str(name), body, source, where, problems)
        if cred is not None:
            creds[str(name)] = cred
    if problems:
        raise ConfigError(problems)
    return creds


def _parse_one(
    name: str, body: Mapping[object, object], source: str, where: str, problems: list[Problem]
) -> Credential | None:
    version = str(body.get("version", ""))
    if version not in ("2c", "3"):
        problems.append(Problem(source, None, f"{where}.version", 'must be "2c" or "3"'))
        return None
    allowed = V2C_FIELDS if version == "2c" else V3_FIELDS
    before = len(problems)
    for key in body:
        if key not in allowed:
            problems.append(
                Problem(source, None, f"{where}.{key}", f"unknown field for SNMP v{version}")
            )
    if version == "2c":
        community = _text(body, "community", source, where, problems, required=True)
        if len(problems) > before or community is None:
            return None
        return SnmpV2c(name, community)
    return _parse_v3(name, body, source, where, problems, before)


def _parse_v3(
    name: str,
    body: Mapping[object, object],
    source: str,
    where: str,
    problems: list[Problem],
    before: int,
) -> SnmpV3 | None:
    user = _text(body, "user", source, where, problems, required=True)
    auth = _choice(body, "auth_protocol", AUTH_PROTOCOLS, source, where, problems)
    priv = _choice(body, "priv_protocol", PRIV_PROTOCOLS, source, where, problems)
    auth_key = _key(
        body, "auth_key", body.get("auth_protocol") is not None, source, where, problems
    )
    priv_key = _key(
        body, "priv_key", body.get("priv_protocol") is not None, source, where, problems
    )
    if priv is not None and auth is None:
        problems.append(
            Problem(source, None, f"{where}.priv_protocol", "privacy needs an auth_protocol")
        )
    if len(problems) > before or user is None:
        return None
    return SnmpV3(
        name,
        user,
        cast(AuthProtocol | None, auth),
        auth_key,
        cast(PrivProtocol | None, priv),
        priv_key,
    )


def _text(
    body: Mapping[object, object],
    key: str,
    source: str,
    where: str,
    problems: list[Problem],
    *,
    required: bool,
) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            problems.append(Problem(source, None, f"{where}.{key}", "is required"))
        return None
    if not isinstance(value, str) or not value:
        problems.append(Problem(source, None, f"{where}.{key}", "must be a non-empty string"))
        return None
    return value


def _choice(
    body: Mapping[object, object],
    key: str,
    choices: Mapping[str, object],
    source: str,
    where: str,
    problems: list[Problem],
) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if value not in choices:
        problems.append(
            Problem(source, None, f"{where}.{key}", f"must be one of {', '.join(choices)}")
        )
        return None
    return str(value)


def _key(
    body: Mapping[object, object],
    key: str,
    needed: bool,
    source: str,
    where: str,
    problems: list[Problem],
) -> str | None:
    protocol_field = key.replace("_key", "_protocol")
    if not needed:
        if key in body:
            problems.append(
                Problem(source, None, f"{where}.{key}", f"given without {protocol_field}")
            )
        return None
    value = _text(body, key, source, where, problems, required=True)
    if value is not None and len(value) < MIN_KEY_LEN:
        # The message never echoes the key itself.
        problems.append(
            Problem(source, None, f"{where}.{key}", f"must be at least {MIN_KEY_LEN} characters")
        )
        return None
    return value
