"""Re-probe at once when a repair is reported (issue 10 §4), the I/O part.

The decision loop calls `repaired(outage_id)` once a repair report is
committed; this pings the outage's root and the elements it cut off
(`outaged.dispatch.verification.targets`) with a short burst of echo requests
and hands the results, and the verdict they make, back to the loop
(`Pipeline.network_checked`), which records them and verifies, proposes to the
NOC, or sends the outage back to work. With ICMP off, or nothing to probe, the
verdict is empty: proposed to the NOC.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from outaged.correlate.health import Health
from outaged.dispatch.verification import Verdict, VerifyConfig, targets, verdict
from outaged.errors import ProbeError
from outaged.outages.model import Outage
from outaged.probes.icmp import IcmpEngine
from outaged.signals import ProbeResult, Signal

log = logging.getLogger(__name__)

Submit = Callable[[int, list[Signal], Verdict], None]


class Reprober:
    def __init__(
        self,
        config: VerifyConfig,
        addresses: Mapping[str, str],
        outage: Callable[[int], Outage | None],
        health: Callable[[], Mapping[str, Health]],
        submit: Submit,
        *,
        icmp: bool = True,
        privileged: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`addresses`: element -> address of what may be pinged (empty: ICMP off).
        `outage` and `health` look into the current engine (a failed step replaces it)."""
        self.config = config
        self.icmp = icmp
        self.addresses: Mapping[str, str] = {}
        self.retarget(addresses)
        self.outage = outage
        self.health = health
        self.submit = submit
        self.privileged = privileged
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def retarget(self, addresses: Mapping[str, str]) -> None:
        """What may be pinged from now on (a reload changed the topology)."""
        self.addresses = addresses if self.icmp else {}

    def targets(self, outage_id: int) -> dict[str, str]:
        """What a re-probe of this outage would ping (empty: nothing, the NOC verifies)."""
        outage = self.outage(outage_id)
        return {} if outage is None else targets(outage, self.addresses, self.health())

    def repaired(self, outage_id: int) -> None:
        task = asyncio.create_task(self._check(outage_id), name=f"reprobe-{outage_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _check(self, outage_id: int) -> None:
        found = self.targets(outage_id)
        answers: dict[str, bool] = {}
        signals: list[Signal] = []
        if found:
            try:
                async with IcmpEngine(privileged=self.privileged) as engine:
                    results = await engine.ping_many(
                        sorted(set(found.values())),
                        count=self.config.count,
                        interval=0.1,
                        timeout=self.config.timeout_s,
                    )
            except (ProbeError, OSError) as exc:
                log.warning("re-probe of outage %d impossible: %s", outage_id, exc)
            else:
                at = self.clock()
                for element, address in found.items():
                    r = results[address]
                    answers[element] = r.ok
                    signals.append(ProbeResult(at, element, r.ok, r.avg_rtt_ms))
        seen = verdict(answers)
        log.info(
            "repair of outage %d reported: re-probed %d elements, %d still down",
            outage_id,
            len(seen.checked),
            len(seen.down),
        )
        self.submit(outage_id, signals, seen)
