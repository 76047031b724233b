"""SNMP GETs/s and CPU per GET against a local snmpd: outaged's poller, pysnmp's
plain hlapi `get_cmd`, and net-snmp's C tools as the anchor, in one run.

    .venv/bin/python -m bench.bench_snmp

Goal (issue "Probes"): 10,000 elements x 3 OIDs per 60 s at <= 0.5 core,
i.e. ~167 three-OID GETs/s; the projected CPU share for that load is printed.
CPU is this process's (or the net-snmp child's) user+system time; snmpd's own
CPU is not counted for anyone.
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from pysnmp.hlapi.v3arch.asyncio import (
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    get_cmd,
)

from outaged.probes.snmp import PollerSettings, SnmpPoller
from outaged.probes.snmp_client import PollStatus, Target
from outaged.probes.snmp_creds import Credential, SnmpV2c, SnmpV3, auth_data
from outaged.signals import Signal
from tests.snmpd import Snmpd, client_env, running_snmpd

GOAL_GETS_PER_S = 10_000 / 60.0
GOAL_CPU_SHARE = 0.5
CONCURRENCY = 16
ELEMENTS = 500  # distinct poller targets (all on the one local agent)
MIN_GETS = 3000
MAX_SECONDS = 4.0  # per measurement; the whole run stays under a minute
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"


@dataclass(frozen=True)
class Row:
    client: str
    version: str
    oids: int
    gets: int
    wall_s: float
    cpu_s: float
    failed: int = 0

    @property
    def rate(self) -> float:
        return self.gets / self.wall_s

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.gets * 1e6

    @property
    def goal_share(self) -> float:
        """CPU share (cores) that 10,000 elements x one GET per 60 s would take."""
        return GOAL_GETS_PER_S * self.cpu_s / self.gets


def credential(agent: Snmpd, version: str) -> Credential:
    if version == "v2c":
        return SnmpV2c("bench", agent.community)
    return SnmpV3("bench", agent.user, "SHA", agent.auth_key, "AES", agent.priv_key)


async def measure(
    client: str, version: str, oids: int, batch: Callable[[], Awaitable[tuple[int, int]]]
) -> Row:
    """Run `batch` (returns GETs done, failures) until MIN_GETS or MAX_SECONDS."""
    await batch()  # warm-up: engine discovery, target tables, MIB view
    gets = failed = 0
    cpu0, t0 = time.process_time(), time.monotonic()
    while gets < MIN_GETS and time.monotonic() - t0 < MAX_SECONDS:
        done, bad = await batch()
        gets, failed = gets + done, failed + bad
    return Row(
        client, version, oids, gets, time.monotonic() - t0, time.process_time() - cpu0, failed
    )


async def bench_poller(agent: Snmpd, version: str, uplinks: tuple[str, ...]) -> Row:
    received: list[Signal] = []
    cred = credential(agent, version)
    targets = [Target(f"el-{i}", "127.0.0.1", cred, uplinks, agent.port) for i in range(ELEMENTS)]
    settings = PollerSettings(max_in_flight=CONCURRENCY, max_per_agent=CONCURRENCY)
    poller = SnmpPoller(targets, received.append, time.time, settings=settings)

    async def batch() -> tuple[int, int]:
        await poller.poll_all()
        received.clear()
        bad = sum(1 for s in poller.statuses.values() if s.status is not PollStatus.OK)
        return len(targets), bad

    try:
        return await measure("outaged poller", version, 1 + len(uplinks), batch)
    finally:
        poller.close()


async def bench_hlapi(agent: Snmpd, version: str, oids: list[str]) -> Row:
    """What most pysnmp code does: get_cmd with ObjectIdentity, MIB lookup on."""
    engine = SnmpEngine()
    auth = auth_data(credential(agent, version))
    target = await UdpTransportTarget.create(("127.0.0.1", agent.port), timeout=2, retries=1)
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one() -> bool:
        async with slots:
            indication, status, _, _ = await get_cmd(
                engine, auth, target, ContextData(), *(ObjectType(ObjectIdentity(o)) for o in oids)
            )
            return not indication and not status

    async def batch() -> tuple[int, int]:
        results = await asyncio.gather(*(one() for _ in range(ELEMENTS)))
        return len(results), results.count(False)

    try:
        return await measure("pysnmp hlapi get_cmd", version, len(oids), batch)
    finally:
        engine.close_dispatcher()


def bench_net_snmp(agent: Snmpd, workdir: Path, version: str, oids: int) -> Row:
    """net-snmp C client: one process walking MIB-2, one request per response PDU.

    snmpwalk sends one GETNEXT per varbind (1 OID per PDU); snmpbulkwalk
    -Cr3 gets 3 varbinds per response PDU, the closest C analogue of our
    3-OID GET.
    """
    if version == "v2c":
        auth = ["-v2c", "-c", agent.community]
    else:
        auth = ["-v3", "-l", "authPriv", "-u", agent.user, "-a", "SHA", "-A", agent.auth_key]
        auth += ["-x", "AES", "-X", agent.priv_key]
    tool = ["snmpwalk"] if oids == 1 else ["snmpbulkwalk", f"-Cr{oids}"]
    env = client_env(workdir / f"net-snmp-{version}")
    pdus = 0
    cpu0 = _children_cpu()
    t0 = time.monotonic()
    while pdus < MIN_GETS * 3 and time.monotonic() - t0 < MAX_SECONDS:
        out = subprocess.run(
            [*tool, *auth, "-On", agent.address, "1.3.6.1.2.1"],
            env=env,
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout
        pdus += -(-out.count(b"\n") // oids)  # response PDUs
    wall, cpu = time.monotonic() - t0, _children_cpu() - cpu0
    return Row(f"net-snmp {tool[0]}", version, oids, pdus, wall, cpu)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def if_indexes(agent: Snmpd, workdir: Path) -> list[str]:
    env = client_env(workdir / "probe")
    out = subprocess.run(
        ["snmpwalk", "-v2c", "-c", agent.community, "-On", "-Oq", agent.address, IF_OPER_STATUS],
        env=env,
        capture_output=True,
        timeout=10,
        check=True,
    ).stdout.decode()
    return [line.split()[0].rsplit(".", 1)[1] for line in out.splitlines()]


def report(rows: list[Row]) -> None:
    print(f"{'client':24} {'ver':4} {'oids':>4} {'GETs':>6} {'GETs/s':>8} {'CPU us/GET':>10}")
    for r in rows:
        fail = f"  ({r.failed} failed)" if r.failed else ""
        print(
            f"{r.client:24} {r.version:4} {r.oids:>4} {r.gets:>6} {r.rate:>8.0f} {r.cpu_us:>10.0f}"
            + fail
        )
    print()
    for version in ("v2c", "v3"):
        for oids in (1, 3):
            group = {r.client.split()[0]: r for r in rows if (r.version, r.oids) == (version, oids)}
            ours, hlapi, anchor = group["outaged"], group["pysnmp"], group["net-snmp"]
            print(
                f"{version} {oids} OID(s): outaged vs hlapi {ours.rate / hlapi.rate:.2f}x GETs/s, "
                f"{hlapi.cpu_us / ours.cpu_us:.2f}x less CPU/GET; "
                f"CPU/GET vs net-snmp {ours.cpu_us / anchor.cpu_us:.1f}x"
            )
    print()
    for r in rows:
        if r.client == "outaged poller" and r.oids == 3:
            ok = "meets" if r.goal_share <= GOAL_CPU_SHARE else "MISSES"
            print(
                f"goal {GOAL_GETS_PER_S:.0f} x 3-OID GETs/s over {r.version}: "
                f"{r.goal_share:.3f} core projected ({ok} <= {GOAL_CPU_SHARE}); "
                f"capacity at {GOAL_CPU_SHARE} core ~{GOAL_CPU_SHARE / r.cpu_s * r.gets:.0f} GETs/s"
            )


async def bench_version(agent: Snmpd, version: str, uplinks: tuple[str, str]) -> list[Row]:
    oids3 = [SYS_UPTIME, *(f"{IF_OPER_STATUS}.{i}" for i in uplinks)]
    return [
        await bench_poller(agent, version, ()),
        await bench_hlapi(agent, version, [SYS_UPTIME]),
        await bench_poller(agent, version, uplinks),
        await bench_hlapi(agent, version, oids3),
    ]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-snmp-") as tmp:
        workdir = Path(tmp)
        with running_snmpd(workdir / "snmpd") as agent:
            found = if_indexes(agent, workdir)
            uplinks = (found[0], found[-1])
            rows: list[Row] = []
            for version in ("v2c", "v3"):
                rows += asyncio.run(bench_version(agent, version, uplinks))
                rows += [bench_net_snmp(agent, workdir, version, n) for n in (1, 3)]
    report(rows)


if __name__ == "__main__":
    main()
