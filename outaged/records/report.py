"""The fault report (故障处理报告, seed 000) as Markdown, in zh-CN or en. Pure.

The words (states, causes, deadlines, timeline entries, engine reasons) come from
outagectl's catalogue (outaged/cli/i18n/), so the report and `outagectl show`
say the same thing the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from outaged.cli.api_json import Names, TimelineEntry
from outaged.cli.i18n import LANGS, Lang, label, translate
from outaged.cli.timeline_view import event_detail, event_label, owner_name
from outaged.records.model import Deadline, Entry
from outaged.store.base import OutageRow
from outaged.topology.graph import GraphIndex
from outaged.topology.names import names_json
from outaged.zones import local_time

__all__ = ["LANGS", "render_report"]

_LABELS: dict[Lang, dict[str, str]] = {
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
        "eta": "预计恢复时间",
        "overdue": "已超时",
        "calls": "故障期间来电",
        "message": "统一对外口径",
        "subscribers": "用户",
        "none": "无",
        "minutes": "分钟",
        "deadline": "环节",
        "due": "时限",
        "met": "完成时间",
        "status": "结果",
        "owner": "负责人",
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
        "eta": "Expected restore",
        "overdue": "overdue",
        "calls": "Calls during the outage",
        "message": "External message",
        "subscribers": "subscribers",
        "none": "none",
        "minutes": "min",
        "deadline": "Step",
        "due": "Due",
        "met": "Met at",
        "status": "Status",
        "owner": "Owed by",
    },
}


def _time(ts: float | None, none: str, tz: tzinfo | None) -> str:
    if ts is None:
        return none
    return local_time(datetime.fromtimestamp(ts, UTC), tz)


def render_report(
    row: OutageRow,
    deadlines: list[Deadline],
    timeline: list[Entry],
    index: GraphIndex,
    now: float,
    lang: Lang = "zh-CN",
    tz: tzinfo | None = None,
) -> str:
    """The report in `lang`, times in `tz` (None: the machine's zone), names not ids."""
    t = _LABELS[lang]
    o, r = row.outage, row.record
    names = _names(row, timeline, index, lang, deadlines)
    none = t["none"]

    def time(ts: float | None) -> str:
        return _time(ts, none, tz)

    response = (
        none
        if r.acknowledged_at is None
        else f"{(r.acknowledged_at - o.opened_at) / 60:.1f} {t['minutes']}"
    )
    path = index.path(o.root) if o.root in index.topology.elements else [o.root]
    late = r.eta is not None and (r.repair_reported_at or now) > r.eta
    eta_late = f" ({t['overdue']})" if late else ""
    message = (
        r.external_message_en if lang == "en" and r.external_message_en else r.external_message
    )
    notes = [e for e in timeline if e.kind in ("progress", "diagnose", "restore")]
    sep = translate("punct.list", lang)
    scope = sep.join(map(names.element, o.scope.parts))
    lines = [
        f"# {t['title']} — {t['outage']} #{o.id}",
        "",
        f"- **{t['occurred']}**: {time(o.occurred_at)}",
        f"- **{t['first_report']}**: {time(o.first_report_at)}",
        f"- **{t['level']}**: {label('severity', o.severity.value, lang)}",
        f"- **{t['response']}**: {response}",
        f"- **{t['location']}**: {' → '.join(map(names.element, path))}",
        f"- **{t['scope']}**: {scope} ({o.scope.subscribers} {t['subscribers']})",
        f"- **{t['assignee']}**: {names.person(r.assignee) if r.assignee else none}",
        f"- **{t['arrival']}**: {time(r.arrived_at)}",
        f"- **{t['eta']}**: {time(r.eta)}{eta_late}",
        f"- **{t['restored']}**: {time(r.repair_reported_at)}",
        f"- **{t['message']}**: {message or none}",
        f"- **{t['calls']}**: {r.calls}",
        f"- **{t['state']}**: {label('state', r.state.value, lang)}",
        f"- **{t['cause']}**: {label('cause', o.cause, lang) if o.cause else none}",
        f"- **{t['method']}**: {r.method or none}",
        f"- **{t['result']}**: {r.result or none}",
        f"- **{t['prevention']}**: {r.prevention or none}",
        "",
        f"## {t['steps']}",
        "",
    ]
    lines += [
        f"1. {time(e.at)} {names.actor(e.actor)}: {e.payload['note']}"
        for e in notes
        if e.payload.get("note")
    ] or [none]
    lines += ["", f"## {t['process']}", ""]
    for e in timeline:
        entry = TimelineEntry(e.seq, datetime.fromtimestamp(e.at, UTC), e.actor, e.kind, e.payload)
        detail = event_detail(entry, lang, names)
        what = event_label(e.kind, lang) + (f": {detail}" if detail else "")
        lines.append(f"- {time(e.at)} [{names.actor(e.actor)}] {what}")
    lines += [
        "",
        f"## {t['deadlines']}",
        "",
        f"| {t['deadline']} | {t['due']} | {t['met']} | {t['status']} | {t['owner']} |",
        "|---|---|---|---|---|",
    ]
    for d in sorted(deadlines, key=lambda d: (d.due, d.name)):
        status = label("deadline.status", d.status(now, r.state).value, lang)
        name = label("deadline", d.name, lang)
        who = owner_name(d.owner, lang, names)
        lines.append(f"| {name} | {time(d.due)} | {time(d.met_at)} | {status} | {who} |")
    return "\n".join(lines) + "\n"


def _names(
    row: OutageRow, timeline: list[Entry], index: GraphIndex, lang: Lang, deadlines: list[Deadline]
) -> Names:
    """The display names of every id the report mentions (path, scope, timeline, owners)."""
    o = row.outage
    mentioned: list[Any] = [o.root, row.record.assignee, list(o.scope.parts)]
    mentioned += [d.owner for d in deadlines]
    mentioned += [e.actor for e in timeline]
    if o.root in index.topology.elements:
        mentioned.append(index.path(o.root))
    mentioned += [e.payload for e in timeline]
    return Names.from_json(names_json(mentioned, index.topology), lang)
