"""Writes deploy/grafana/outaged.json, the NOC's Grafana dashboard, as code.

Plain dicts in Grafana's dashboard JSON model (schemaVersion 39): the panels are
few and stable, so the model itself reads better than a builder library would.
Run `python deploy/grafana/gen_dashboard.py` after changing a panel; a test checks
the file is current and runs every expression against a real Prometheus.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DS = {"type": "prometheus", "uid": "${datasource}"}
OUT = Path(__file__).with_name("outaged.json")
# Restore targets of seed 001 §4.2 (5) by severity, in seconds (S3/S4: 2 h; fibre 6 h).
RESTORE_TARGET_S = {"S1": 3600, "S2": 14400, "S3": 7200, "S4": 7200}


def target(expr: str, legend: str) -> dict[str, Any]:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": legend[:1] or "A"}


def panel(
    title: str,
    kind: str,
    targets: list[dict[str, Any]],
    pos: tuple[int, int, int, int],
    *,
    unit: str = "short",
    description: str = "",
    thresholds: list[tuple[str, float | None]] | None = None,
) -> dict[str, Any]:
    x, y, w, h = pos
    steps = [{"color": c, "value": v} for c, v in (thresholds or [("green", None)])]
    for n, t in enumerate(targets):
        t["refId"] = chr(ord("A") + n)
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": targets,
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": {},
    }


def restore_quantile(q: float) -> str:
    return (
        f"histogram_quantile({q}, sum by (severity, le) "
        "(rate(outaged_time_to_restore_seconds_bucket{instance=~\"$instance\"}[$__range])))"
    )


def panels() -> list[dict[str, Any]]:
    inst = '{instance=~"$instance"}'
    sel = 'instance=~"$instance"'
    red = [("green", None), ("red", 1)]
    found = [
        panel(
            "Open outages by severity",
            "stat",
            [target(f"sum by (severity) (outaged_open_outages{inst})", "{{severity}}")],
            (0, 0, 8, 5),
            thresholds=red,
        ),
        panel(
            "Open outages by lifecycle state",
            "timeseries",
            [target(f"sum by (state) (outaged_open_outages{inst})", "{{state}}")],
            (8, 0, 8, 5),
        ),
        panel(
            "Deadlines at risk: overdue by step",
            "bargauge",
            [
                target(
                    f"sum by (step) (outaged_deadlines_overdue{inst}) > 0",
                    "{{step}}",
                ),
            ],
            (16, 0, 8, 5),
            thresholds=red,
            description="Unmet deadlines past due of open outages (SPEC §4).",
        ),
        panel(
            "Deadlines missed (rate, by step)",
            "timeseries",
            [
                target(
                    f"sum by (step) (increase(outaged_deadlines_missed_total{inst}[1h]))",
                    "{{step}}",
                ),
                target(f"sum(outaged_deadlines_pending{inst})", "pending"),
            ],
            (0, 5, 12, 7),
        ),
        panel(
            "Time to restore (p50 / p90) against the targets",
            "timeseries",
            [
                target(restore_quantile(0.5), "p50 {{severity}}"),
                target(restore_quantile(0.9), "p90 {{severity}}"),
                *[
                    target(f"vector({s})", f"target {sev}")
                    for sev, s in RESTORE_TARGET_S.items()
                ],
            ],
            (12, 5, 12, 7),
            unit="s",
            description="Seed 001 §4.2 (5): S1 1 h, S2 4 h, S3/S4 2 h (fibre cause 6 h).",
        ),
        panel(
            "Time to dispatch and on site (p90)",
            "timeseries",
            [
                target(
                    "histogram_quantile(0.9, sum by (severity, le) "
                    f"(rate(outaged_time_to_dispatch_seconds_bucket{inst}[$__range])))",
                    "dispatch {{severity}}",
                ),
                target(
                    "histogram_quantile(0.9, sum by (severity, le) "
                    f"(rate(outaged_time_to_arrive_seconds_bucket{inst}[$__range])))",
                    "on site {{severity}}",
                ),
            ],
            (0, 12, 12, 7),
            unit="s",
        ),
        panel(
            "Customer reports and spikes by area (per hour)",
            "heatmap",
            [
                target(
                    f"sum by (area) (increase(outaged_reports_received_total{inst}[1h]))",
                    "{{area}}",
                ),
                target(
                    "sum by (area) "
                    f"(increase(outaged_report_spikes_detected_total{inst}[1h]))",
                    "spikes {{area}}",
                ),
            ],
            (12, 12, 12, 7),
        ),
        panel(
            "Down elements by area",
            "bargauge",
            [
                target(
                    f'sum by (area) (outaged_elements{{{sel},state=~"down|flapping"}}) > 0',
                    "{{area}}",
                )
            ],
            (0, 19, 12, 7),
            thresholds=red,
        ),
        panel(
            "Probe health: echo loss and RTT by kind",
            "timeseries",
            [
                target(
                    f"sum by (kind) (rate(outaged_probe_echo_requests_lost_total{inst}[5m]))"
                    f" / sum by (kind) (rate(outaged_probe_echo_requests_sent_total{inst}[5m]))",
                    "loss {{kind}}",
                ),
                target(
                    "histogram_quantile(0.9, sum by (kind, le) "
                    f"(rate(outaged_probe_rtt_seconds_bucket{inst}[5m])))",
                    "rtt p90 {{kind}}",
                ),
                target(f'outaged_prober_up{{{sel},state="running"}}', "{{prober}} running"),
                target(f"sum by (status) (outaged_snmp_elements{inst})", "snmp {{status}}"),
            ],
            (12, 19, 12, 7),
            unit="percentunit",
        ),
        panel(
            "Notification health",
            "timeseries",
            [
                target(
                    f"sum by (channel) (rate(outaged_notifications_sent_total{inst}[5m]))",
                    "sent {{channel}}",
                ),
                target(
                    "sum by (channel, reason) "
                    f"(rate(outaged_notifications_failed_total{inst}[5m]))",
                    "failed {{channel}} {{reason}}",
                ),
                target(
                    "histogram_quantile(0.9, sum by (le) "
                    f"(rate(outaged_notification_latency_seconds_bucket{inst}[5m])))",
                    "latency p90",
                ),
                target(f"sum(outaged_outbox_pending_messages{inst})", "outbox pending"),
                target(f"max(outaged_outbox_oldest_pending_age_seconds{inst})", "oldest age"),
            ],
            (0, 26, 12, 7),
        ),
        panel(
            "Daemon health",
            "timeseries",
            [
                target(f'up{{job="outaged",{sel}}}', "up {{instance}}"),
                target(
                    "histogram_quantile(0.99, sum by (le) "
                    f"(rate(outaged_decision_step_duration_seconds_bucket{inst}[5m])))",
                    "step p99 (s)",
                ),
                target(
                    f"sum(rate(outaged_decision_step_failures_total{inst}[5m]))",
                    "step failures/s",
                ),
                target(f"min(outaged_config_last_reload_successful{inst})", "last reload ok"),
                target(f"max(outaged_topology_elements{inst})", "elements"),
                target(f"time() - max(outaged_start_time_seconds{inst})", "uptime (s)"),
            ],
            (12, 26, 12, 7),
        ),
    ]
    return found


def dashboard() -> dict[str, Any]:
    return {
        "uid": "outaged",
        "title": "outaged: outages and dispatch",
        "tags": ["outaged", "noc"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                },
                {
                    "name": "instance",
                    "label": "Instance",
                    "type": "query",
                    "datasource": DS,
                    "query": {"query": "label_values(outaged_build_info, instance)", "refId": "I"},
                    "definition": "label_values(outaged_build_info, instance)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {},
                    "refresh": 2,
                    "hide": 0,
                },
            ]
        },
        "annotations": {"list": []},
        "panels": panels(),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}", file=sys.stderr)
