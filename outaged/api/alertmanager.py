"""POST /api/v1/alertmanager: Alertmanager's webhook (payload version 4) as signals.

SPEC §2 "external alert": the NOC's own monitoring says an element is down. Each
alert names its element by a label (`api.alertmanager_label`, default
`outaged_element`), or else by its `instance` label, whose host is matched
against the topology's element addresses. A firing alert is a manual fault on
the element (it opens or joins an outage, as a person who saw it would); a
resolved one clears it. Alerts that name no known element are refused one by
one with the reason, and counted (`outaged_alertmanager_alerts_total`); the
others go on. Authenticated like every write: a token allowed to post signals
(Alertmanager's `http_config.authorization`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from outaged.api.inputs import HttpError
from outaged.errors import Problem
from outaged.intake import Limits, check_limits, parse_time
from outaged.signals import ManualFault
from outaged.topology.graph import GraphIndex

DEFAULT_LABEL = "outaged_element"
MAX_ALERTS = 1000
_PORT = re.compile(r"^\[(?P<v6>[^\]]+)\](:\d+)?$|^(?P<host>[^:]+)(:\d+)?$")


@dataclass(frozen=True, slots=True)
class Refused:
    index: int
    alertname: str
    reason: str
    result: str  # the metric's label: unknown_element, no_element_label, bad_status

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "alertname": self.alertname, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Parsed:
    signals: list[ManualFault]
    refused: list[Refused]


def host_of(instance: str) -> str | None:
    """`10.0.0.1:9100` -> 10.0.0.1, `[::1]:9100` -> ::1, normalised; None if no IP."""
    found = _PORT.match(instance.strip())
    if found is None:
        return None
    text = found["v6"] or found["host"] or ""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def parse_webhook(
    body: Mapping[str, Any],
    index: GraphIndex,
    addresses: Callable[[], Mapping[str, str]],
    label: str,
    actor: str,
    now: float,
    limits: Limits,
) -> Parsed:
    """The signals of a payload; a payload that is not Alertmanager's is a 422."""
    _check_envelope(body)
    elements = index.topology.elements
    signals: list[ManualFault] = []
    refused: list[Refused] = []
    for number, alert in enumerate(body["alerts"]):
        where = f"alerts[{number}]"
        labels = _labels(alert, where)
        name = labels.get("alertname", "")
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            refused.append(Refused(number, name, "status must be firing or resolved", "bad_status"))
            continue
        element = labels.get(label)
        if element is None:
            host = host_of(labels.get("instance", ""))
            element = addresses().get(host) if host is not None else None
            if element is None:
                why = (
                    f"no {label!r} label, and its instance {labels.get('instance')!r} is "
                    "no element's address"
                    if "instance" in labels
                    else f"no {label!r} label and no instance label: which element is it?"
                )
                refused.append(Refused(number, name, why, "no_element_label"))
                continue
        if element not in elements:
            why = f"{label} {element!r} is not an element of the topology"
            refused.append(Refused(number, name, why, "unknown_element"))
            continue
        at = _when(alert, "startsAt" if status == "firing" else "endsAt", now, limits, element)
        summary = alert.get("annotations", {}).get("summary", "")
        note = f"Alertmanager: {name}" + (
            f": {summary}" if isinstance(summary, str) and summary else ""
        )
        signals.append(
            ManualFault(at, element, note=note[:1000], actor=actor, cleared=status == "resolved")
        )
    return Parsed(signals, refused)


def _check_envelope(body: Mapping[str, Any]) -> None:
    problems: list[Problem] = []
    if body.get("version") != "4":
        problems.append(
            Problem("api", None, "version", "expected Alertmanager's payload version '4'")
        )
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        problems.append(Problem("api", None, "alerts", "expected a list of alerts"))
    elif len(alerts) > MAX_ALERTS:
        raise HttpError(413, f"{len(alerts)} alerts in one payload; at most {MAX_ALERTS}")
    if problems:
        raise HttpError(422, f"{problems[0].field}: {problems[0].message}", problems)


def _labels(alert: Any, where: str) -> dict[str, str]:
    labels = alert.get("labels") if isinstance(alert, dict) else None
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        message = "expected an object of string labels"
        raise HttpError(
            422, f"{where}.labels: {message}", [Problem("api", None, f"{where}.labels", message)]
        )
    return labels


def _when(alert: dict[str, Any], key: str, now: float, limits: Limits, element: str) -> float:
    """The alert's own time when it is a sane one (the fault began then), else now."""
    try:
        at = parse_time(alert.get(key))
    except ValueError:
        return now
    if check_limits(ManualFault(at, element), now, limits):
        return now  # Alertmanager's zero time, or a clock far off
    return at
