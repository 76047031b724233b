"""The `probes:` section of outaged.yaml: ICMP (with per-element overrides), SNMP
polling and its credentials, and the trap listener."""

from __future__ import annotations

from typing import Any

from outaged.config import IcmpConfig, IcmpOverride, ProbesConfig, SnmpConfig, TrapsConfig
from outaged.configfile.reader import Reader, port, positive, positive_int, seconds_or_zero, text
from outaged.errors import ConfigError, Problem
from outaged.probes.snmp_creds import Credential, SnmpV3, parse_credentials
from outaged.topology.yamlsrc import YamlList, YamlMap


def read_probes(r: Reader | None) -> ProbesConfig:
    if r is None:
        return ProbesConfig()
    r.check_keys(("icmp", "snmp", "traps"))
    snmp_section = r.section("snmp")
    snmp = _snmp(snmp_section)
    written = snmp_section.data.get("credentials") if snmp_section is not None else None
    broken = set(written or ()) - set(snmp.credentials)  # already reported
    return ProbesConfig(
        icmp=_icmp(r.section("icmp")),
        snmp=snmp,
        traps=_traps(r.section("traps"), snmp, broken),
    )


def _icmp(r: Reader | None) -> IcmpConfig:
    if r is None:
        return IcmpConfig()
    d = IcmpConfig()
    r.check_keys(
        (
            "enabled",
            "interval_s",
            "count",
            "spacing_s",
            "timeout_s",
            "rate_pps",
            "privileged",
            "overrides",
            "storm_share",
            "storm_window_s",
        )
    )
    auto: bool | str = "auto"
    privileged = r.get("privileged", auto, _privileged, "auto, true or false")
    config = IcmpConfig(
        enabled=r.flag("enabled", d.enabled),
        interval_s=r.get("interval_s", d.interval_s, positive, "seconds > 0"),
        count=r.get("count", d.count, positive_int, "a positive integer"),
        spacing_s=r.get("spacing_s", d.spacing_s, seconds_or_zero, "seconds >= 0"),
        timeout_s=r.get("timeout_s", d.timeout_s, positive, "seconds > 0"),
        rate_pps=r.get("rate_pps", d.rate_pps, positive, "packets per second > 0"),
        privileged=None if privileged == "auto" else privileged is True,
        storm_share=r.get("storm_share", d.storm_share, _share, "a share in (0, 1]"),
        storm_window_s=r.get("storm_window_s", d.storm_window_s, positive, "seconds > 0"),
        overrides=_overrides(r.section("overrides")),
    )
    _check_cycle(r, "", r.data.line_of("interval_s"), config, None)
    for element, o in config.overrides.items():
        if (o.interval_s, o.count, o.timeout_s) != (None, None, None):  # else as above
            _check_cycle(r, f"overrides.{element}.", o.line, config, o)
    return config


def _check_cycle(
    r: Reader, prefix: str, line: int | None, c: IcmpConfig, o: IcmpOverride | None
) -> None:
    """A cycle that outlasts its interval would silently skip every other slot."""
    o = o or IcmpOverride()
    interval = o.interval_s or c.interval_s
    cycle = c.spacing_s * ((o.count or c.count) - 1) + (o.timeout_s or c.timeout_s)
    if cycle > interval:
        r.problems.append(
            Problem(
                r.source,
                line,
                f"{r.prefix}{prefix}interval_s",
                f"{interval:g} s is shorter than one cycle "
                f"(spacing_s x (count - 1) + timeout_s = {cycle:g} s)",
            )
        )


def _overrides(r: Reader | None) -> dict[str, IcmpOverride]:
    if r is None:
        return {}
    found: dict[str, IcmpOverride] = {}
    for element in list(r.data):
        o = r.section(str(element))
        if o is None:
            if element in r.data:
                r.problem(str(element), "expected a mapping of interval_s, count, timeout_s")
            continue
        o.check_keys(("interval_s", "count", "timeout_s"))
        found[str(element)] = IcmpOverride(
            interval_s=o.get("interval_s", None, positive, "seconds > 0"),
            count=o.get("count", None, positive_int, "a positive integer"),
            timeout_s=o.get("timeout_s", None, positive, "seconds > 0"),
            line=r.data.line_of(element),
        )
    return found


def _snmp(r: Reader | None) -> SnmpConfig:
    if r is None:
        return SnmpConfig()
    d = SnmpConfig()
    r.check_keys(
        ("enabled", "interval_s", "timeout_s", "retries", "max_in_flight", "port", "credentials")
    )
    return SnmpConfig(
        enabled=r.flag("enabled", d.enabled),
        interval_s=r.get("interval_s", d.interval_s, positive, "seconds > 0"),
        timeout_s=r.get("timeout_s", d.timeout_s, positive, "seconds > 0"),
        retries=r.get("retries", d.retries, _count, "an integer >= 0"),
        max_in_flight=r.get("max_in_flight", d.max_in_flight, positive_int, "a positive integer"),
        port=r.get("port", d.port, port, "a port number 0-65535"),
        credentials=_credentials(r.section("credentials")),
    )


def _credentials(r: Reader | None) -> dict[str, Credential]:
    """Named credential sets; problems are located, and never quote a secret."""
    if r is None:
        return {}
    try:
        return parse_credentials(r.data, r.source, r.prefix.rstrip("."))
    except ConfigError as exc:
        for p in exc.problems:
            name, _, key = p.field.removeprefix(r.prefix).partition(".")
            body = r.data.get(name)
            line = body.line_of(key) if isinstance(body, YamlMap) else r.data.line_of(name)
            r.problems.append(Problem(p.source, line, p.field, p.message))
        return {}


def _traps(r: Reader | None, snmp: SnmpConfig, broken: set[str]) -> TrapsConfig:
    if r is None:
        return TrapsConfig()
    d = TrapsConfig()
    r.check_keys(("enabled", "listen", "port", "communities", "users"))
    communities = _strings(r, "communities")
    users = _strings(r, "users")
    for i, name in enumerate(users):
        cred = snmp.credentials.get(name)
        if not isinstance(cred, SnmpV3) and name not in broken:
            what = "an SNMPv3 set" if cred is not None else "a set"
            line = r.data["users"].line_of(i)
            r.problems.append(
                Problem(
                    r.source,
                    line,
                    f"{r.prefix}users[{i}]",
                    f"{name!r} is not {what} in probes.snmp.credentials",
                )
            )
    enabled = r.flag("enabled", d.enabled)
    if enabled and not communities and not users:
        r.problem("enabled", "no communities or users: every trap would be refused")
    return TrapsConfig(
        enabled=enabled,
        listen=r.get("listen", d.listen, text, "an address"),
        port=r.get("port", d.port, port, "a port number 0-65535"),
        communities=tuple(communities),
        users=tuple(users),
    )


def _strings(r: Reader, key: str) -> list[str]:
    value = r.data.get(key)
    if value is None:
        return []
    if not isinstance(value, YamlList) or not all(text(v) for v in value):
        r.problem(key, "expected a list of non-empty strings")
        return []
    return [str(v) for v in value]


def _count(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _share(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 1
    return float(v) if ok else None


def _privileged(v: Any) -> bool | str | None:
    return v if isinstance(v, bool) or v == "auto" else None
