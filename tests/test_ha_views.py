"""A standby's gauges follow a takeover on the new leader's NOTIFY (outaged.ha.views).

Real daemons on a real PostgreSQL. One standby is slow on purpose: it tries
for the lease (and so reads the lease row) and polls the store only every
SLOW_S, so within SLOW_S of its start nothing but the NOTIFY the new leader
sends when it takes the lease can tell it the epoch moved."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.citygen import write_city
from tests.ha_cluster import HA, LEASE_S, RENEW_S, Cluster
from tests.postgres import Postgres
from tests.test_ha_daemons import ha_gauges

SLOW_S = 30.0  # the slow standby's renew_s and poll_s
SLOW = f"  lease_s: {2 * SLOW_S}\n  renew_s: {SLOW_S}\n  margin_s: 1.0\n  poll_s: {SLOW_S}\n"
PROMPT_S = 3.0  # the NOTIFY's way: the new leader's recovery is done, then one round trip


@pytest.fixture
def cluster(tmp_path: Path, pg: Postgres) -> Iterator[Cluster]:
    city = write_city(tmp_path / "city", metros=2, communities=1)
    c = Cluster(tmp_path, city, pg.fresh_dsn("views"), size=3, ha=[HA, HA, SLOW])
    try:
        yield c
    finally:
        c.stop()


def test_a_standbys_epoch_gauge_follows_a_takeover_on_notify(cluster: Cluster) -> None:
    """The leader is killed; a fast standby takes over; the slow standby's
    outaged_ha_leader_epoch shows the new epoch within PROMPT_S of the new
    leader saying it leads, long before its own next read of the lease."""
    c = cluster
    first, fast, slow = c.daemons
    first.start()
    c.leader()  # n1 leads before the others start
    fast.start()
    slow.start()
    started = time.monotonic()  # the slow one read the lease at its start, next in SLOW_S
    epoch = int(ha_gauges(first)["outaged_ha_leader_epoch"])
    assert c.until(lambda: ha_gauges(slow).get("outaged_ha_leader_epoch") == epoch, 10.0)
    first.kill()
    new = c.leader(LEASE_S + RENEW_S + 10.0, other_than=first, after_epoch=epoch)
    assert new is fast, "the slow standby took the lease: its renew_s should prevent it"
    led = time.monotonic()
    moved = c.until(lambda: ha_gauges(slow).get("outaged_ha_leader_epoch") == epoch + 1, PROMPT_S)
    seen = time.monotonic()
    assert moved, f"the slow standby still shows epoch {epoch} {seen - led:.1f} s after"
    assert seen - started < SLOW_S - 1.0, "too late to tell the NOTIFY from its own reads"
    assert ha_gauges(slow)["outaged_ha_leader"] == 0.0
