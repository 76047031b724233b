"""One contender for the lease, as its own process (tests/test_ha_lease.py).

    python -m tests.ha_contender NAME OUT START_AT HOLD_S RUN_S DSN [DSN ...]

For each DSN in turn (one database per round), it waits for the shared
monotonic time START_AT + round * RUN_S (CLOCK_MONOTONIC is one clock for
every process of the machine), then runs a lease keeper for RUN_S seconds;
having led for HOLD_S it gives the lease up, as a graceful stop does. It
writes one JSON line per interval in which it held the lease: the round, the
epoch, and the monotonic times from when it learned it leads to when it
stopped being allowed to act (its fence's deadline, or the moment it let go).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from outaged.ha.keeper import Keeper
from outaged.ha.lease import Fence, LeaseTimes

TIMES = LeaseTimes(lease_s=1.0, renew_s=0.2, margin_s=0.3)


async def one_round(name: str, dsn: str, hold_s: float, run_s: float) -> list[dict[str, float]]:
    fence = Fence(TIMES)
    spans: list[dict[str, float]] = []

    def won(epoch: int) -> None:
        spans.append({"epoch": epoch, "from": time.monotonic(), "to": float("inf")})

    def lost(_: str) -> None:
        spans[-1]["to"] = min(time.monotonic(), spans[-1]["to"])

    keeper = Keeper(dsn, name, "-", fence, on_won=won, on_lost=lost)
    task = asyncio.create_task(keeper.run())
    end = time.monotonic() + run_s
    while time.monotonic() < end:
        await asyncio.sleep(0.02)
        if spans and spans[-1]["to"] == float("inf"):
            spans[-1]["until"] = fence.until  # the latest it may act, as far as it knows
            if time.monotonic() - spans[-1]["from"] >= hold_s:
                break
    keeper.stop()
    await task
    if spans and spans[-1]["to"] == float("inf"):
        spans[-1]["to"] = min(time.monotonic(), spans[-1].get("until", time.monotonic()))
    await keeper.close(release=True)
    return spans


async def main(
    name: str, out: str, start_at: float, hold_s: float, run_s: float, dsns: list[str]
) -> None:
    with open(out, "w") as f:
        for n, dsn in enumerate(dsns):
            await asyncio.sleep(max(0.0, start_at + n * run_s - time.monotonic()))
            for span in await one_round(name, dsn, hold_s, run_s * 0.8):
                span.pop("until", None)
                f.write(json.dumps({"round": n, "name": name, **span}) + "\n")


if __name__ == "__main__":
    a = sys.argv[1:]
    asyncio.run(main(a[0], a[1], float(a[2]), float(a[3]), float(a[4]), a[5:]))
