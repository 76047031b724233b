"""The fault report (故障处理报告, seed 000) as Markdown, in zh-CN or en. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from outaged.records.model import Deadline, Entry
from outaged.store.base import OutageRow
from outaged.topology.graph import GraphIndex

LANGS = ("zh-CN", "en")
CST = timezone(timedelta(hours=8))  # the city's local time for people reading the report

_LABELS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "故障处理报告",
        "outage": "故障单",
        "occurred": "故障发生时间",
        "first_report": "首次报障时间",
        "level": "故障级别",
        "response": "响应时间",
        "location": "网络逻辑位置",
        "scope": "影响范围",
        "arrival": "到达现场时间",
        "method": "处理方法",
        "cause": "故障原因",
        "steps": "处理步骤",
        "process": "详细处理过程",
        "result": "处理结果",
        "prevention": "预防建议",
        "deadlines": "时限",
        "state": "当前状态",
        "assignee": "处理人",
        "restored": "修复上报时间",
        "subscribers": "用户",
        "none": "无",
        "minutes": "分钟",
        "deadline": "环节",
        "due": "时限",
        "met": "完成时间",
        "status": "结果",
    },
    "en": {
        "title": "Fault report",
        "outage": "Outage",
        "occurred": "Occurred",
        "first_report": "First report",
        "level": "Level",
        "response": "Response time",
        "location": "Logical location",
        "scope": "Scope",
        "arrival": "Arrived on site",
        "method": "Handling method",
        "cause": "Cause",
        "steps": "Steps",
        "process": "Detailed process",
        "result": "Result",
        "prevention": "Prevention advice",
        "deadlines": "Deadlines",
        "state": "State",
        "assignee": "Handler",
        "restored": "Repair reported",
        "subscribers": "subscribers",
        "none": "none",
        "minutes": "min",
        "deadline": "Step",
        "due": "Due",
        "met": "Met at",
        "status": "Status",
    },
}


def _time(ts: float | None, none: str) -> str:
    if ts is None:
        return none
    return datetime.fromtimestamp(ts, UTC).astimezone(CST).strftime("%Y-%m-%d %H:%M:%S +08:00")


def render_report(
    row: OutageRow,
    deadlines: list[Deadline],
    timeline: list[Entry],
    index: GraphIndex,
    now: float,
    lang: str = "zh-CN",
) -> str:
    t = _LABELS[lang]
    o, r = row.outage, row.record
    none = t["none"]
    response = (
        none
        if r.acknowledged_at is None
        else f"{(r.acknowledged_at - o.opened_at) / 60:.1f} {t['minutes']}"
    )
    path = " → ".join(index.path(o.root)) if o.root in index.topology.elements else o.root
    notes = [e for e in timeline if e.kind in ("progress", "diagnose", "restore")]
    lines = [
        f"# {t['title']} — {t['outage']} #{o.id}",
        "",
        f"- **{t['occurred']}**: {_time(o.occurred_at, none)}",
        f"- **{t['first_report']}**: {_time(o.first_report_at, none)}",
        f"- **{t['level']}**: {o.severity.value}",
        f"- **{t['response']}**: {response}",
        f"- **{t['location']}**: {path}",
        f"- **{t['scope']}**: {', '.join(o.scope.parts)} "
        f"({o.scope.subscribers} {t['subscribers']})",
        f"- **{t['assignee']}**: {r.assignee or none}",
        f"- **{t['arrival']}**: {_time(r.arrived_at, none)}",
        f"- **{t['restored']}**: {_time(r.repair_reported_at, none)}",
        f"- **{t['state']}**: {r.state.value}",
        f"- **{t['cause']}**: {o.cause or none}",
        f"- **{t['method']}**: {r.method or none}",
        f"- **{t['result']}**: {r.result or none}",
        f"- **{t['prevention']}**: {r.prevention or none}",
        "",
        f"## {t['steps']}",
        "",
    ]
    lines += [
        f"1. {_time(e.at, none)} {e.actor}: {e.payload['note']}"
        for e in notes
        if e.payload.get("note")
    ] or [none]
    lines += ["", f"## {t['process']}", ""]
    lines += [f"- {_time(e.at, none)} [{e.actor}] {e.kind}{_detail(e)}" for e in timeline]
    lines += [
        "",
        f"## {t['deadlines']}",
        "",
        f"| {t['deadline']} | {t['due']} | {t['met']} | {t['status']} |",
        "|---|---|---|---|",
    ]
    for d in sorted(deadlines, key=lambda d: (d.due, d.name)):
        status = d.status(now, r.state).value
        lines.append(f"| {d.name} | {_time(d.due, none)} | {_time(d.met_at, none)} | {status} |")
    return "\n".join(lines) + "\n"


def _detail(e: Entry) -> str:
    p = e.payload
    if "from" in p and "to" in p:
        extra = "; ".join(f"{k}: {v}" for k, v in p.items() if k not in ("from", "to"))
        return f" ({p['from']} → {p['to']}){': ' + extra if extra else ''}"
    if "reason" in p:
        return f": {p['reason']}"
    if "to" in p:
        return f": {', '.join(p['to'])} ({p.get('why', '')})"
    return ""
