"""The JSON shapes the API serves (docs/api.md), built from stored rows. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from outaged.correlate.health import Health
from outaged.outages import reasons
from outaged.outages.lifecycle import allowed_actions
from outaged.outages.model import EVIDENCE_SHOWN, iso
from outaged.probes.probers import ElementProbes, ProberStatus
from outaged.records.actions import INTERNAL
from outaged.records.deadlines import at_risk, next_due
from outaged.records.model import Deadline, Entry
from outaged.store.base import OutageRow
from outaged.topology.graph import GraphIndex


def outage_json(
    row: OutageRow, deadlines: list[Deadline], index: GraphIndex, now: float
) -> dict[str, Any]:
    o, r = row.outage, row.record
    root = index.topology.elements.get(o.root)
    upcoming = next_due({d.name: d for d in deadlines}) if r.active else None
    return {
        "id": o.id,
        "root": o.root,
        "root_name": root.name if root is not None else "",
        "root_kind": root.kind.value if root is not None else None,
        "area": row.area,
        "path": index.path(o.root) if root is not None else [o.root],
        "state": r.state.value,
        "network_status": o.status.value,
        "severity": o.severity.value,
        "assignee": r.assignee,
        "occurred_at": iso(o.occurred_at),
        "first_report_at": iso(o.first_report_at),
        "opened_at": iso(o.opened_at),
        "dispatched_at": iso(r.dispatched_at),
        "acknowledged_at": iso(r.acknowledged_at),
        "arrived_at": iso(r.arrived_at),
        "diagnosed_at": iso(r.diagnosed_at),
        "repair_reported_at": iso(r.repair_reported_at),
        "verified_at": iso(r.verified_at),
        "callback_at": iso(r.callback_at),
        "closed_at": iso(r.closed_at),
        "network_restored_at": iso(o.restored_at),
        "response_s": None if r.acknowledged_at is None else r.acknowledged_at - o.opened_at,
        "restore_by": iso(o.restore_by),
        "on_site_by": _on_site_by(deadlines),
        "scope": {
            "whole": o.scope.whole,
            "elements": o.scope.elements,
            "subscribers": o.scope.subscribers,
            "parts": list(o.scope.parts),
            "communities": list(o.scope.communities_touched),
        },
        "confidence": round(o.confidence, 2),
        "degraded": o.degraded,
        "flapping": o.flapping,
        "reason": o.reason,
        "reason_parts": reasons.to_json(o.why),
        "evidence": list(o.evidence),
        "evidence_count": max(o.evidence_count, len(o.evidence)),
        "cause": o.cause,
        "possible_cause": o.possible_cause,
        "lost_redundancy": list(o.lost_redundancy),
        "merged_into": o.merged_into,
        "released_at": iso(o.released_at),
        "follows": list(o.follows),
        "set_aside": list(o.set_aside[:EVIDENCE_SHOWN]),
        "set_aside_count": len(o.set_aside),
        "diagnosis_note": r.diagnosis_note,
        "external_message": r.external_message,
        "external_message_en": r.external_message_en,
        "eta": iso(r.eta),
        "eta_note": r.eta_note,
        "eta_overdue": r.eta is not None and r.active and now > r.eta,
        "calls": r.calls,
        "updated_at": iso(r.updated_at),
        "method": r.method,
        "result": r.result,
        "prevention": r.prevention,
        "cancel_reason": r.cancel_reason,
        "next_deadline": None
        if upcoming is None
        else {"name": upcoming.name, "due": iso(upcoming.due), "late": now > upcoming.due},
        "at_risk": [
            {"name": d.name, "due": iso(d.due), "owner": d.owner, "missed": now > d.due}
            for d in (at_risk(deadlines, now) if r.active else ())
        ],
    }


def _on_site_by(deadlines: list[Deadline]) -> str | None:
    found = [d.due for d in deadlines if d.name == "on_site"]
    return iso(found[0]) if found else None


def outage_detail(
    row: OutageRow,
    deadlines: list[Deadline],
    timeline: list[Entry],
    index: GraphIndex,
    now: float,
) -> dict[str, Any]:
    body = outage_json(row, deadlines, index, now)
    state = row.record.state
    body["allowed_actions"] = [a.value for a in allowed_actions(state) if a not in INTERNAL]
    body["steps"] = steps(timeline)
    body["deadlines"] = [deadline_json(d, row, now) for d in sorted(deadlines, key=_order)]
    body["timeline"] = [entry_json(e) for e in timeline]
    return body


def _order(d: Deadline) -> tuple[float, str]:
    return (d.due, d.name)


def deadline_json(d: Deadline, row: OutageRow, now: float) -> dict[str, Any]:
    return {
        "name": d.name,
        "due": iso(d.due),
        "met_at": iso(d.met_at),
        "status": d.status(now, row.record.state).value,
        "owner": d.owner,
    }


def entry_json(e: Entry) -> dict[str, Any]:
    return {"seq": e.seq, "at": iso(e.at), "actor": e.actor, "kind": e.kind, "payload": e.payload}


STEP_KINDS = frozenset({"progress", "diagnose", "restore"})


def steps(timeline: list[Entry]) -> list[dict[str, Any]]:
    """The progress notes: what people reported doing, oldest first."""
    return [
        {"at": iso(e.at), "actor": e.actor, "note": e.payload["note"]}
        for e in timeline
        if e.kind in STEP_KINDS and e.payload.get("note")
    ]


def element_json(
    element_id: str,
    index: GraphIndex,
    health: Health | None,
    open_outages: list[dict[str, Any]],
) -> dict[str, Any]:
    element = index.element(element_id)
    return {
        "id": element.id,
        "name": element.name,
        "name_en": element.name_en,
        "kind": element.kind.value,
        "area": element.area,
        "parents": list(element.parents),
        "path": index.path(element_id),
        "subscribers": index.subtree_subscribers[element_id],
        "state": "unknown" if health is None else health.state.value,
        "flapping": False if health is None else health.flapping,
        "open_outages": open_outages,
    }


def probers_json(statuses: Mapping[str, ProberStatus]) -> dict[str, Any]:
    return {
        name: {"state": s.state.value, "detail": s.detail, **s.counters}
        for name, s in statuses.items()
    }


def element_probes_json(probes: ElementProbes) -> dict[str, Any]:
    """The last ICMP result and SNMP poll status of an element (null: none yet)."""
    icmp = probes.icmp
    snmp = probes.snmp
    return {
        "icmp": None
        if icmp is None
        else {
            "at": iso(icmp.at),
            "ok": icmp.result.ok,
            "rtt_ms": icmp.result.avg_rtt_ms,
            "loss": icmp.result.loss,
        },
        "snmp": None
        if snmp is None
        else {
            "at": iso(snmp.at),
            "status": snmp.status.value,
            "message": snmp.message,
            "duration_ms": round(snmp.duration_s * 1000.0, 3),
        },
    }
