"""Gauges of several instances (config `ha:`) and the count of inbox rows given
up (outaged.ha.inbox), read at scrape time from what /api/v1/status reports
under `ha` (outaged.ha.role.Role.status_json).

Registered only with `ha:`; every instance exposes them, the leader and the
standbys alike. Before the lease row is first read, epoch and lease age are
left out rather than made up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class HaLive(Collector):
    def __init__(self, status: Callable[[], Mapping[str, Any]]) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        ha = self.status()
        if ha["epoch"] is not None:
            yield GaugeMetricFamily(
                "outaged_ha_leader_epoch",
                "Epoch of the lease as this instance last read it (+1 at every takeover).",
                value=ha["epoch"],
            )
        yield GaugeMetricFamily(
            "outaged_ha_leader",
            "1 if this instance leads (decides, sends, reads the inbox), 0 if it stands by.",
            value=1.0 if ha["leading"] else 0.0,
        )
        if ha["lease_age_s"] is not None:
            yield GaugeMetricFamily(
                "outaged_ha_lease_age_seconds",
                "Time since the lease's last renewal by its holder, as last read.",
                value=ha["lease_age_s"],
            )
        members = ha["members"]
        yield GaugeMetricFamily(
            "outaged_ha_members", "Live instances (heartbeat within the lease).", value=len(members)
        )
        mine = sum(m["probes"] for m in members if m["name"] == ha["me"])
        yield GaugeMetricFamily(
            "outaged_ha_shard_elements", "Elements this instance probes (its share).", value=mine
        )
        given_up = CounterMetricFamily(
            "outaged_ha_inbox_given_up",
            "Inbox rows this instance, leading, gave up: refused with why instead of decided "
            "(reason: unreadable, refused, failing).",
            labels=["reason"],
        )
        for reason, count in ha["inbox_given_up"].items():
            given_up.add_metric([reason], count)
        yield given_up
        standby = ha["standby"]
        refreshes = CounterMetricFamily(
            "outaged_ha_standby_refreshes",
            "Refreshes of this instance's state while standing by (outaged.ha.warm): warm "
            "(caught up from the last row read) or cold (a whole recovery).",
            labels=["how"],
        )
        rows = CounterMetricFamily(
            "outaged_ha_standby_signal_rows",
            "Stored signal rows those refreshes read and fed to the standby's engine.",
            labels=["how"],
        )
        for how in ("warm", "cold"):
            refreshes.add_metric([how], standby["refreshes"][how])
            rows.add_metric([how], standby["signal_rows_read"][how])
        yield refreshes
        yield rows
