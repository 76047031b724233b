"""Statistics for managers (seed 003 "问题总结阶段"): counts by severity, cause, area
and month, times against the seed's targets, deadlines met; as server-side SVG
bar charts and as CSV. Pure: the stored rows, deadlines, clock and zone come in."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from markupsafe import Markup, escape

from outaged.records.model import Deadline
from outaged.records.stats import stats
from outaged.store.base import OutageRow

# Deadlines a manager reads the team's speed from, and the seed's targets (SPEC §3, §4)
TIMED = (
    ("dispatch", "mean_time_to_dispatch_s", "stats.target_dispatch"),
    ("on_site", "mean_time_to_arrive_s", "stats.target_on_site"),
    ("restore", "mean_time_to_restore_s", "stats.target_restore"),
)
BAR_H = 22
WIDTH = 560
LABEL_W = 170


def figures(
    rows: list[OutageRow],
    deadlines: dict[int, list[Deadline]],
    since: float,
    until: float,
    now: float,
    tz: tzinfo | None,
) -> dict[str, Any]:
    """records/stats.py's figures plus outages per month (in the display zone)."""
    body = stats(rows, deadlines, since, until, now)
    months = Counter(f"{datetime.fromtimestamp(r.outage.opened_at, tz):%Y-%m}" for r in rows)
    body["by_month"] = dict(sorted(months.items()))
    return body


def bar_chart(counts: Mapping[str, float], title: str, unit: str = "") -> Markup:
    """A horizontal bar chart as inline SVG (no script, nothing fetched)."""
    items = list(counts.items())
    top = max((v for _, v in items), default=0) or 1
    height = BAR_H * max(len(items), 1) + 8
    span = WIDTH - LABEL_W - 60
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (name, value) in enumerate(items):
        y = 4 + i * BAR_H
        w = max(1.0, span * value / top)
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + 15}" text-anchor="end" font-size="13">'
            f"{escape(name)}</text>"
            f'<rect class="bar" x="{LABEL_W}" y="{y + 3}" width="{w:.1f}" height="{BAR_H - 6}"/>'
            f'<text x="{LABEL_W + w + 5:.1f}" y="{y + 15}" font-size="13">'
            f"{escape(_number(value))}{escape(unit)}</text>"
        )
    if not items:
        parts.append(f'<text x="{LABEL_W}" y="18" font-size="13">—</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def to_csv(body: Mapping[str, Any]) -> str:
    """section,key,value rows: one file a spreadsheet opens as it is."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("section", "key", "value"))
    writer.writerow(("range", "since", body["since"]))
    writer.writerow(("range", "until", body["until"]))
    writer.writerow(("outages", "total", body["outages"]))
    for section in ("by_severity", "by_cause", "by_area", "by_month", "by_state"):
        for key, value in body[section].items():
            writer.writerow((section, key, value))
    for _, key, _ in TIMED:
        writer.writerow(("times_s", key, "" if body[key] is None else round(body[key], 1)))
    for key, value in body["deadlines"].items():
        writer.writerow(("deadlines", key, "" if value is None else value))
    for name, counts in body["by_deadline"].items():
        for status, value in counts.items():
            writer.writerow((f"deadline:{name}", status, value))
    return out.getvalue()


def share_met(counts: Mapping[str, int]) -> float | None:
    decided = counts.get("met", 0) + counts.get("late", 0) + counts.get("missed", 0)
    return counts.get("met", 0) / decided if decided else None
