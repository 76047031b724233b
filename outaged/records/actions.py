"""Dispatcher actions as requests: which fields each takes, parsed with clear problems."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from outaged.errors import Problem, SignalError
from outaged.outages.lifecycle import Action
from outaged.topology.model import Severity, Topology

REPORT_FIELDS = ("method", "result", "prevention")
MESSAGE_FIELDS = ("external_message", "external_message_en")  # zh-CN and English

# action -> (required fields, optional fields); every value is a non-empty string
FIELDS: dict[Action, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Action.ASSIGN: (("assignee",), ("note",)),
    Action.ACK: ((), ("note",)),
    Action.ARRIVE: ((), ("note",)),
    Action.DIAGNOSE: (("cause",), ("note", *MESSAGE_FIELDS, *REPORT_FIELDS)),
    Action.PROGRESS: (("note",), ()),
    Action.RESTORE: ((), ("note", *REPORT_FIELDS)),
    Action.VERIFY: ((), ("note", "force", "reason")),  # force: "true", with a reason
    Action.VERIFY_FAILED: ((), ("note",)),
    Action.CALLBACK_DONE: ((), ("note",)),
    Action.CLOSE: ((), ("note", *REPORT_FIELDS)),
    Action.REOPEN: ((), ("note",)),
    Action.CANCEL: (("reason",), ("note",)),
    Action.NOTE: (("note",), (*MESSAGE_FIELDS, *REPORT_FIELDS)),  # a report after close
    Action.ETA: (("at",), ("note", *MESSAGE_FIELDS)),  # `at`: ISO 8601 once past the edge
    Action.SEVERITY: (("severity", "reason"), ("note",)),
}
# The furthest ahead an ETA may be: a repair estimate beyond a month is a typo (a
# year 9999, a wrong month), and callers would be read a date nobody meant.
ETA_AHEAD_S = 30 * 86400.0
SEVERITIES = tuple(s.value for s in Severity)
# The daemon's own actions: never requested from outside.
INTERNAL = frozenset({Action.DISPATCH, Action.MERGE})


@dataclass(frozen=True, slots=True)
class ActionRequest:
    action: Action
    fields: dict[str, str] = field(default_factory=dict)


def parse_action(
    obj: Mapping[str, object],
    topology: Topology,
    *,
    source: str = "api",
    line: int | None = None,
    ignore: tuple[str, ...] = (),
) -> ActionRequest:
    """Validate `{"action": ..., fields...}`; raise SignalError naming every bad field."""
    problems: list[Problem] = []

    def problem(name: str, message: str) -> None:
        problems.append(Problem(source, line, name, message))

    raw = obj.get("action")
    names = ", ".join(a.value for a in FIELDS)
    try:
        action = Action(str(raw))
    except ValueError:
        problem("action", f"unknown action {raw!r}; one of {names}")
        raise SignalError(problems) from None
    if action in INTERNAL:
        problem("action", f"{action.value!r} is done by the daemon itself; one of {names}")
        raise SignalError(problems)
    required, optional = FIELDS[action]
    fields: dict[str, str] = {}
    for name, value in obj.items():
        if name == "action" or name in ignore:
            continue
        if name not in required and name not in optional:
            allowed = ", ".join((*required, *optional)) or "none"
            problem(name, f"not a field of {action.value} (fields: {allowed})")
        elif not isinstance(value, str) or not value.strip():
            problem(name, f"expected a non-empty string, got {value!r}")
        else:
            fields[name] = value.strip()
    for name in required:
        if name not in obj:
            problem(name, f"missing (required for {action.value})")
    if action is Action.VERIFY and "force" in fields:
        if fields["force"] != "true":
            problem("force", f'expected "true", got {fields["force"]!r}')
        elif "reason" not in fields:
            problem("reason", "required with force (why verify while the network shows the fault)")
    assignee = fields.get("assignee")
    if assignee is not None and assignee not in topology.people:
        problem("assignee", f"unknown person {assignee!r}")
    level = fields.get("severity")
    if level is not None and level not in SEVERITIES:
        problem("severity", f"unknown severity {level!r}; one of {', '.join(SEVERITIES)}")
    if problems:
        raise SignalError(problems)
    return ActionRequest(action, fields)
