"""`outagectl status` and `outagectl reload` as text, in zh-CN or en.

From GET /api/v1/status and POST /api/v1/reload (outaged/api/ops.py); times in
the daemon's display zone unless the user chose one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from outaged.cli.api_json import parse_time
from outaged.cli.i18n import Lang, label, translate
from outaged.cli.render import fmt_duration, fmt_time


def _time(text: Any, tz: tzinfo | None, lang: Lang) -> str:
    return fmt_time(parse_time(text) if isinstance(text, str) else None, tz, lang)


def status_text(data: Mapping[str, Any], lang: Lang, tz: tzinfo | None) -> str:
    def t(key: str, **fmt: object) -> str:
        return translate(f"ctl.status.{key}", lang, **fmt)

    topo = data["topology"]
    lines = [
        t(
            "daemon",
            version=data["version"],
            state=label("ctl.status.state", str(data["status"]), lang),
            uptime=fmt_duration(float(data["uptime_s"]), lang),
            since=_time(data["started_at"], tz, lang),
        ),
        t(
            "topology",
            source=topo["source"],
            elements=topo["elements"],
            subscribers=topo["subscribers"],
            people=topo["people"],
        ),
    ]
    reload = data.get("reload")
    if reload is not None:
        lines.append(reload_line(reload, lang, tz))
    probers = [
        t(
            "prober",
            name=label("ctl.status.prober_name", name, lang),
            state=label("ctl.status.prober", str(p["state"]), lang),
            elements=p.get("counters", {}).get("elements", 0),
        )
        for name, p in data["probers"].items()
    ]
    lines.append(t("probers", list=translate("punct.list", lang).join(probers)))
    outbox = data["outbox"]
    oldest = outbox.get("oldest_age_s")
    lines.append(
        t("outbox", pending=outbox["pending"])
        if oldest is None
        else t("outbox_waiting", pending=outbox["pending"], oldest=fmt_duration(oldest, lang))
    )
    decisions = data["decisions"]
    if decisions.get("failing"):
        lines.append(
            t("steps_failing", n=decisions["failed_steps"], why=decisions.get("last_failure"))
        )
    else:
        lines.append(t("steps_ok"))
    counts = data["open_outages"]
    shown = translate("punct.list", lang).join(f"{sev} {n}" for sev, n in counts.items())
    lines.append(t("open", total=sum(counts.values()), by=shown))
    ha = data.get("ha")
    if ha is not None:
        lines += ha_lines(ha, lang)
    return "\n".join(lines)


def ha_lines(ha: Mapping[str, Any], lang: Lang) -> list[str]:
    """Several instances: who leads under which epoch, and each live member."""
    role = label("ctl.status.ha_role", "leader" if ha["leading"] else "standby", lang)
    if ha.get("leader") is None:
        head = translate("ctl.status.ha_none", lang, me=ha["me"], role=role, epoch=ha["epoch"])
    else:
        age = fmt_duration(float(ha.get("lease_age_s") or 0.0), lang)
        head = translate(
            "ctl.status.ha",
            lang,
            me=ha["me"],
            role=role,
            leader=ha["leader"],
            epoch=ha["epoch"],
            age=age,
        )
    members = [
        translate(
            "ctl.status.ha_member",
            lang,
            name=m["name"],
            api=m["api"],
            age=fmt_duration(float(m["heartbeat_age_s"]), lang),
            probes=m["probes"],
        )
        for m in ha["members"]
    ]
    return [head, *members]


def reload_line(reload: Mapping[str, Any], lang: Lang, tz: tzinfo | None) -> str:
    at = _time(reload["at"], tz, lang)
    if reload["ok"]:
        return translate("ctl.status.reload_ok", lang, at=at)
    problems = "; ".join(str(p) for p in reload.get("problems", []))
    return translate("ctl.status.reload_failed", lang, at=at, problems=problems)


def reload_text(result: Mapping[str, Any], lang: Lang) -> str:
    """What `outagectl reload` prints on success."""
    kept = result.get("removed_under_open_outages") or []
    text = translate("ctl.reload.done", lang)
    for orphan in kept:
        text += "\n" + translate(
            "ctl.reload.kept", lang, id=orphan["outage"], elements=", ".join(orphan["elements"])
        )
    return text
