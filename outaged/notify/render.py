"""Notification text from Jinja2 templates: a subject, a plain body and an HTML body.

Templates live in `templates/<lang>/` inside the package: `<event>.subject`,
`<event>.txt` (falling back to `default.*`) and one `layout.html` per language
that wraps the plain body; a storm digest (digest.py) has its own
`digest.subject`, `digest.txt` and `digest.html`, its `items` each an
outage's summary with its `event` and `event_label`. Languages are those of
the CLI: zh-CN and en. An operator's directory (`notify.templates`, checked
by templates_check.py) overrides any of them file by file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from outaged.cli.i18n import label
from outaged.notify.base import Message
from outaged.notify.digest import EVENT as DIGEST
from outaged.zones import localize, moment, offset

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"
ALIASES = {"assign": "dispatch", "reopen": "dispatch"}  # "it is yours now" all three
EVENTS = (
    "dispatch",
    "assign",
    "reopen",
    "leadership",
    "noc",
    "service_centre",
    "external_message",
    "verify_failed",
    "verify_proposed",
    "maint_before",
    "maint_after",
    "digest",
    "reminder",
    "escalation",
    "reassigned",
    "severity_changed",
)
# what a template may use: outaged/notify/summary.py, plus these
TEMPLATE_VARIABLES = (
    "id",
    "severity",
    "root",
    "root_name",
    "path",
    "area",
    "reason",
    "cause",
    "whole",
    "subscribers",
    "communities",
    "communities_more",
    "occurred_at",
    "restore_by",
    "state",
    "assignee",
    "external_message",
    "deadlines",
    "ack",
    "recipient",
    "event",
    "event_label",
    "items",  # a digest's: the summaries above, one per notification
    "count",
    "outages",
    # planned work's (outaged/dispatch/planned.py), with `recipient`
    "window",
    "element",
    "element_name",
    "start",
    "end",
    "note",
    "declared_by",
    "late",
    # the clock's messages (reminder, escalation, reassigned; outaged.records.ledger)
    "deadline",
    "deadline_due",
    "owner",
    "late",
    "scheduled_at",
    "level",
    "steps",
    "previous",
    "answer_by",
    "old_severity",  # severity_changed
)
LAYOUTS = {"digest": "digest.html", "maint_before": "maintenance.html"}
LAYOUTS["maint_after"] = LAYOUTS["maint_before"]

EVENT_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "dispatch": "dispatched to you",
        "assign": "assigned to you",
        "reopen": "reopened and dispatched to you",
        "leadership": "for the leadership",
        "noc": "NOC: please help judge",
        "service_centre": "in your service area",
        "external_message": "unified external message",
        "verify_failed": "repair reported, but the network still shows the fault",
        "verify_proposed": "NOC: please verify the repair",
        "maint_before": "planned work starts soon",
        "maint_after": "planned work ended",
        "digest": "storm digest",
        "reminder": "reminder: a step is due soon",
        "escalation": "escalation: a step was missed",
        "reassigned": "reassigned: not acknowledged in time",
        "severity_changed": "severity changed",
    },
    "zh-CN": {
        "dispatch": "已派单",
        "assign": "已改派给您",
        "reopen": "已重新打开并派单",
        "leadership": "领导通报",
        "noc": "请网管中心协助判断",
        "service_centre": "涉及贵服务中心",
        "external_message": "统一对外口径",
        "verify_failed": "已报修复，但网络仍显示故障",
        "verify_proposed": "请网管中心核实修复",
        "maint_before": "割接即将开始",
        "maint_after": "割接已结束",
        "digest": "故障风暴汇总",
        "reminder": "时限提醒",
        "escalation": "超时升级通报",
        "reassigned": "超时未接单，已改派",
        "severity_changed": "故障等级变更",
    },
}


def _step(name: str, lang: str) -> str:
    """A deadline's name in words (the CLI's catalogue)."""
    return label("deadline", name, "en" if lang == "en" else "zh-CN")


def _owner(name: str, lang: str) -> str:
    """Who owes a step: a person's name as is, a role (noc, dispatcher, ...) in words."""
    return label("owner", name, "en" if lang == "en" else "zh-CN")


def template_name(event: str) -> str:
    """The shipped template an event's message is written with (its own, an alias, default)."""
    folder = resources.files("outaged.notify") / "templates" / DEFAULT_LANG
    for name in (event, ALIASES.get(event, event)):
        if (folder / f"{name}.txt").is_file():
            return name
    return "default"


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


class Renderer:
    def __init__(self, folder: Path | None = None, tz: tzinfo | None = UTC) -> None:
        self.tz = tz
        shipped = jinja2.PackageLoader("outaged.notify", "templates")
        loader: jinja2.BaseLoader = shipped
        if folder is not None:
            loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(folder), shipped])
        self.env = self._env = jinja2.Environment(
            loader=loader,
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(["html"]),
            keep_trailing_newline=False,
        )
        self._env.filters["time"] = self._time
        self._env.filters["step"] = _step
        self._env.filters["owner"] = _owner

    def _time(self, ts: float | None) -> str:
        if ts is None:
            return "-"
        at = moment(ts)
        if at is None:
            return "-"
        local = localize(at, self.tz)  # None: the machine's zone
        return f"{local:%Y-%m-%d %H:%M} {offset(local)}"

    def _pick(self, lang: str, event: str, suffix: str) -> jinja2.Template:
        names = [f"{lang}/{event}.{suffix}"]
        if event in ALIASES:
            names.append(f"{lang}/{ALIASES[event]}.{suffix}")
        names.append(f"{lang}/default.{suffix}")
        return self._env.select_template(names)

    def render(self, message: Message) -> Rendered:
        lang = message.lang if message.lang in LANGS else DEFAULT_LANG
        labels = EVENT_LABELS[lang]
        context: dict[str, Any] = {
            **message.context,
            "event": message.event,
            "event_label": labels.get(message.event, message.event),
        }
        layout = LAYOUTS.get(message.event, "layout.html")
        if message.event == DIGEST:
            context["items"] = [
                {**item, "event_label": labels.get(item["event"], item["event"])}
                for item in context["items"]
            ]
        subject = " ".join(self._pick(lang, message.event, "subject").render(context).split())
        text = self._pick(lang, message.event, "txt").render(context).strip() + "\n"
        html = self._env.get_template(f"{lang}/{layout}").render(
            {**context, "subject": subject, "body": text}
        )
        return Rendered(subject, text, html)
