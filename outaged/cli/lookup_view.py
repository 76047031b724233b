"""`outagectl lookup`: each matched subscriber, where it hangs, and what to tell the
caller. Reads the /api/v1/lookup answer (docs/api.md)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from rich.text import Text

from outaged.cli.api_json import Names
from outaged.cli.i18n import Lang, label, translate
from outaged.cli.render import fmt_short


def _when(text: str | None, tz: tzinfo | None, now: datetime) -> str:
    return "" if not text else fmt_short(datetime.fromisoformat(text), tz, now)


def lookup_text(data: Any, lang: Lang, tz: tzinfo | None, now: datetime, names: Names) -> Text:
    matches = data.get("matches") or []
    out = Text(translate("ctl.lookup.found", lang, shown=len(matches), total=data.get("total", 0)))
    for m in matches:
        out.append("\n\n")
        who = " ".join(str(x) for x in (m["subscriber"], m.get("name"), m.get("phone")) if x)
        out.append(who, style="bold")
        if m.get("address"):
            out.append(f"  {m['address']}")
        path = " > ".join(names.element(e) for e in m.get("path") or [])
        out.append("\n" + translate("ctl.lookup.path", lang, path=path))
        outage = m.get("outage")
        if outage is not None:
            eta = _when(outage.get("eta"), tz, now)
            key = "ctl.lookup.eta_" + (outage.get("eta_source") or "none")
            eta_text = translate(key, lang, eta=eta)
            if outage.get("eta_overdue"):
                eta_text += translate("ctl.lookup.overdue", lang)
            line = translate(
                "ctl.lookup.outage",
                lang,
                id=outage["id"],
                severity=outage["severity"],
                state=label("state", outage["state"], lang),
                root=names.element(outage["root"]),
                eta=eta_text,
                updated=_when(outage.get("updated_at"), tz, now),
            )
            out.append("\n" + line, style="red")
            out.append("\n" + m["say"][lang], style="bold")
        else:
            out.append("\n" + translate("ctl.lookup.no_outage", lang))
        for w in m.get("planned_work") or []:
            key = "ctl.lookup.planned_now" if w.get("ongoing") else "ctl.lookup.planned_soon"
            out.append(
                "\n"
                + translate(
                    key,
                    lang,
                    element=names.element(w["element"]),
                    start=_when(w["start"], tz, now),
                    end=_when(w["end"], tz, now),
                    note=w.get("note") or "",
                )
            )
    return out
