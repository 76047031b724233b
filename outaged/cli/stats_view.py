"""`outagectl stats`: counts by severity, cause and area; mean times; deadlines met."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import tzinfo

from rich.console import Group
from rich.table import Table
from rich.text import Text

from outaged.cli.api_json import Names, Stats
from outaged.cli.i18n import Lang, label, translate
from outaged.cli.render import NO_NAMES, add_row, fmt_duration, fmt_time, grid, in_lang


def _count_table(
    title: str,
    counts: Mapping[str, int],
    lang: Lang,
    show: Callable[[str], str],
    by_key: bool = False,
) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(translate("ctl.col.key", lang))
    table.add_column(translate("ctl.col.count", lang), justify="right")
    order = sorted(counts.items(), key=lambda kv: kv[0] if by_key else (-kv[1], kv[0]))
    for key, count in order:
        add_row(table, show(key), str(count))
    return table


def stats_view(s: Stats, lang: Lang, tz: tzinfo | None, names: Names = NO_NAMES) -> Group:
    names = in_lang(names, lang)
    share = "—" if s.share_met is None else f"{s.share_met:.1%}"
    decided = s.met + s.late + s.missed
    times = grid(
        [
            (translate(f"ctl.stats.to_{key}", lang), fmt_duration(value, lang))
            for key, value in (
                ("dispatch", s.mean_dispatch_s),
                ("arrive", s.mean_arrive_s),
                ("restore", s.mean_restore_s),
            )
        ]
    )
    span = f"{fmt_time(s.since, tz, lang)} – {fmt_time(s.until, tz, lang)}"

    def severity(key: str) -> str:
        return label("severity", key, lang)

    def cause(key: str) -> str:
        return label("cause", key, lang)

    return Group(
        Text(translate("ctl.stats.title", lang, span=span), style="bold"),
        Text(translate("ctl.stats.total", lang, n=s.outages)),
        _count_table(translate("ctl.stats.by_severity", lang), s.by_severity, lang, severity, True),
        _count_table(translate("ctl.stats.by_cause", lang), s.by_cause, lang, cause),
        _count_table(translate("ctl.stats.by_area", lang), s.by_area, lang, names.area),
        Text(translate("ctl.stats.times", lang), style="bold underline"),
        times,
        Text(translate("ctl.stats.deadlines_met", lang, share=share, met=s.met, total=decided)),
    )
