"""Typed core objects to and from the JSON kept in the store's text columns."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from outaged.classify.scope import Scope
from outaged.errors import StoreError
from outaged.outages import reasons
from outaged.outages.model import Outage, Status
from outaged.signals import (
    Category,
    InterfaceStatus,
    Maintenance,
    ManualFault,
    ProbeResult,
    Reboot,
    Report,
    Signal,
    Trap,
    TrapKind,
)
from outaged.topology.model import Severity

SIGNAL_TYPES: dict[str, type[Signal]] = {
    "report": Report,
    "probe": ProbeResult,
    "trap": Trap,
    "interface": InterfaceStatus,
    "reboot": Reboot,
    "manual": ManualFault,
    "maintenance": Maintenance,
}
_KIND = {cls: kind for kind, cls in SIGNAL_TYPES.items()}


def signal_kind(signal: Signal) -> str:
    return _KIND[type(signal)]


def dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def signal_to_text(signal: Signal) -> str:
    return dump(dataclasses.asdict(signal))


def signal_from_text(kind: str, text: str) -> Signal:
    try:
        fields = json.loads(text)
        if kind == "report":
            fields["category"] = Category(fields["category"])
        elif kind == "trap":
            fields["trap"] = TrapKind(fields["trap"])
        signal: Signal = SIGNAL_TYPES[kind](**fields)
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"stored {kind} signal is unreadable: {exc}") from exc
    return signal


def outage_to_text(outage: Outage) -> str:
    fields = dataclasses.asdict(outage)
    fields["why"] = reasons.to_json(outage.why)
    return dump(fields)


def _why(stored: Any) -> reasons.Why:
    """The phrases of a stored outage; one stored before they existed has none."""
    return reasons.from_json(stored)


def outage_from_text(text: str) -> Outage:
    try:
        fields = json.loads(text)
        scope = fields["scope"]
        for name in ("parts", "communities_hit", "communities_touched"):
            scope[name] = tuple(scope[name])
        fields["scope"] = Scope(**scope)
        fields["status"] = Status(fields["status"])
        fields["severity"] = Severity(fields["severity"])
        basis = fields.get("severity_basis")
        fields["severity_basis"] = None if basis is None else Severity(basis)
        fields["evidence"] = tuple(fields["evidence"])
        fields["lost_redundancy"] = tuple(fields["lost_redundancy"])
        fields["why"] = _why(fields.get("why"))
        for name in ("set_aside", "follows"):  # absent from records stored before them
            fields[name] = tuple(fields.get(name, ()))
        fields["held"] = tuple((e, r, float(t)) for e, r, t in fields.get("held", ()))
        return Outage(**fields)
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"stored outage is unreadable: {exc}") from exc
