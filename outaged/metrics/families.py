"""The event-driven metric families, registered on a registry that is passed in.

Every label value that can occur is known up front (severities, kinds, areas of
the topology, channels, failure reasons, lifecycle steps) and initialised at
start, so a series never appears from nowhere and a rate() over it is right
from the first scrape. Nothing is labelled per element or per subscriber.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from outaged import __version__
from outaged.correlate.spikes import ReportClass
from outaged.notify.base import Reason
from outaged.topology.model import Kind, Severity

SEVERITIES = tuple(s.value for s in Severity)
KINDS = tuple(k.value for k in Kind)
CAUSES = ("fibre", "splitter", "power", "other", "unknown")  # at opening: a passive root or none
STEPS = (  # the lifecycle's deadlines (outaged/records/deadlines.py); progress_N -> progress
    "judge",
    "dispatch",
    "leadership",
    "ack_15",
    "ack_30",
    "ack_45",
    "on_site",
    "diagnose",
    "external_message",
    "progress",
    "restore",
    "verify",
    "callback",
    "record",
    "report",
)
REASONS = tuple(r.value for r in Reason)
REPORT_CLASSES = tuple(c.value for c in ReportClass)
ALERT_RESULTS = ("accepted", "unknown_element", "no_element_label", "bad_status")
NO_AREA = "none"  # an element outside every maintenance area, or one gone from the topology
# Around the seed's targets: 10 min to dispatch, 15/30/45 min to accept, 30 min / 1 h
# on site, 1 / 2 / 4 / 6 h to restore.
DISPATCH_BUCKETS = (60.0, 120.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0)
ACK_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 2700.0, 3600.0, 7200.0)
ARRIVE_BUCKETS = (600.0, 1200.0, 1800.0, 2700.0, 3600.0, 5400.0, 7200.0, 14400.0)
RESTORE_BUCKETS = (
    900.0,
    1800.0,
    3600.0,
    5400.0,
    7200.0,
    10800.0,
    14400.0,
    21600.0,
    43200.0,
    86400.0,
)
RTT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


class Metrics:
    """The counters and histograms; `areas` and `channels` bound their labels."""

    def __init__(
        self, registry: CollectorRegistry, areas: Iterable[str], channels: Sequence[str]
    ) -> None:
        self.registry = registry
        self.areas: set[str] = set()
        self.channels = tuple(channels)
        r = registry
        self.build = Info("outaged_build", "Version of the running daemon.", registry=r)
        self.build.info({"version": __version__, "python": platform.python_version()})
        self.start_time = Gauge(
            "outaged_start_time_seconds", "When the daemon started (Unix time).", registry=r
        )
        self.opened = Counter(
            "outaged_outages_opened_total",
            "Outages opened, by severity at opening, cause and the root's maintenance area.",
            ["severity", "cause", "area"],
            registry=r,
        )
        self.restored = Counter(
            "outaged_outages_restored_total", "Outages restored.", ["severity"], registry=r
        )
        self.to_dispatch = _hist(r, "dispatch", "opening to dispatch", DISPATCH_BUCKETS)
        self.to_ack = _hist(r, "acknowledge", "dispatch to acceptance", ACK_BUCKETS)
        self.to_arrive = _hist(r, "arrive", "dispatch to arrival on site", ARRIVE_BUCKETS)
        self.to_restore = _hist(r, "restore", "occurrence to restoration", RESTORE_BUCKETS)
        self.missed = Counter(
            "outaged_deadlines_missed_total",
            "Lifecycle deadlines that passed unmet, by step and the outage's severity.",
            ["step", "severity"],
            registry=r,
        )
        self.reports = Counter(
            "outaged_reports_received_total",
            "Customer reports taken in, by the maintenance area of their element.",
            ["area"],
            registry=r,
        )
        self.spikes = Counter(
            "outaged_report_spikes_detected_total",
            "Report spikes found (well above the element's baseline), by area and class.",
            ["area", "class"],
            registry=r,
        )
        self.suspected = Counter(
            "outaged_suspected_concentrations_total",
            "Report concentrations the NOC was asked to check, by area.",
            ["area"],
            registry=r,
        )
        self.probes_sent = Counter(
            "outaged_probe_echo_requests_sent_total",
            "ICMP echo requests sent, by element kind.",
            ["kind"],
            registry=r,
        )
        self.probes_lost = Counter(
            "outaged_probe_echo_requests_lost_total",
            "ICMP echo requests without a reply, by element kind.",
            ["kind"],
            registry=r,
        )
        self.rtt = Histogram(
            "outaged_probe_rtt_seconds",
            "ICMP round-trip time of answered echo requests, by element kind.",
            ["kind"],
            buckets=RTT_BUCKETS,
            registry=r,
        )
        self.sent = Counter(
            "outaged_notifications_sent_total",
            "Notification messages delivered, by channel.",
            ["channel"],
            registry=r,
        )
        self.failed = Counter(
            "outaged_notifications_failed_total",
            "Failed delivery attempts, by channel and reason.",
            ["channel", "reason"],
            registry=r,
        )
        self.latency = Histogram(
            "outaged_notification_latency_seconds",
            "From a notice's decision to its delivery, by channel.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.step_seconds = Histogram(
            "outaged_decision_step_duration_seconds",
            "Wall time of one decision step (take in, evaluate, commit).",
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.step_held = Histogram(
            "outaged_decision_step_loop_held_seconds",
            "Longest time one committed decision step held the event loop in one go"
            " (the API and health checks waited that long at most).",
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.steps_over_budget = Counter(
            "outaged_decision_steps_over_budget_total",
            "Committed decision steps whose work took longer than the step budget"
            ' (each also logged as "slow decision step").',
            registry=r,
        )
        self.step_failures = Counter(
            "outaged_decision_step_failures_total",
            "Decision steps that failed (nothing of them was committed or acknowledged).",
            registry=r,
        )
        self.alerts = Counter(
            "outaged_alertmanager_alerts_total",
            "Alerts received from Alertmanager, by what became of them.",
            ["result"],
            registry=r,
        )
        self.reloads = Counter(
            "outaged_reloads_total", "Configuration reloads, by result.", ["result"], registry=r
        )
        self.reload_ok = Gauge(
            "outaged_config_last_reload_successful",
            "1 if the last reload (or the start) loaded its files, 0 if it kept the old ones.",
            registry=r,
        )
        self.reload_time = Gauge(
            "outaged_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully (Unix time).",
            registry=r,
        )
        self._init_labels()
        self.add_areas([*areas, NO_AREA])

    def add_areas(self, areas: Iterable[str]) -> None:
        """Initialise the series of areas not seen yet (at start, and after a reload)."""
        for area in set(areas) - self.areas:
            self.areas.add(area)
            self.reports.labels(area)
            self.suspected.labels(area)
            for cls in REPORT_CLASSES:
                self.spikes.labels(area, cls)
            for sev in SEVERITIES:
                for cause in CAUSES:
                    self.opened.labels(sev, cause, area)

    def _init_labels(self) -> None:
        for sev in SEVERITIES:
            self.restored.labels(sev)
            for hist in (self.to_dispatch, self.to_ack, self.to_arrive, self.to_restore):
                hist.labels(sev)
            for step in STEPS:
                self.missed.labels(step, sev)
        for kind in KINDS:
            self.probes_sent.labels(kind)
            self.probes_lost.labels(kind)
            self.rtt.labels(kind)
        for channel in self.channels:
            self.sent.labels(channel)
            self.latency.labels(channel)
            for reason in REASONS:
                self.failed.labels(channel, reason)
        for result in ALERT_RESULTS:
            self.alerts.labels(result)
        for result in ("success", "failure"):
            self.reloads.labels(result)

    def area(self, area: str | None) -> str:
        """An area label: one of the topology's, or "none"."""
        return area if area and area in self.areas else NO_AREA


def _hist(r: CollectorRegistry, what: str, span: str, buckets: tuple[float, ...]) -> Histogram:
    return Histogram(
        f"outaged_time_to_{what}_seconds",
        f"Time from {span}, by severity.",
        ["severity"],
        buckets=buckets,
        registry=r,
    )


def step_label(name: str) -> str:
    """The `step` label of a deadline: progress_1, progress_2 ... are one step."""
    return "progress" if name.startswith("progress_") else name
