"""What every outagectl screen shares: times and durations in the user's zone and
language, table helpers, and rendering to text. The screens are list_view.py,
detail_view.py (with timeline_view.py), stats_view.py, status_view.py,
lookup_view.py and queued_view.py; the JSON they show is api_json.py's.

Pure: every function takes the language, the user's time zone and `now`, and
returns a rich renderable or a string; nothing here reads a clock or a socket.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, tzinfo
from io import StringIO

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from outaged import zones
from outaged.cli.api_json import Names, OutageView
from outaged.cli.i18n import Lang, translate

NO_NAMES = Names()


def fmt_time(at: datetime | None, tz: tzinfo | None, lang: Lang) -> str:
    """Full local time with its zone, `2026-11-22 16:01:10 +08:00`."""
    if at is None:
        return translate("field.none", lang)
    return zones.local_time(at, tz)


def times_in(tz: tzinfo | None, now: datetime, lang: Lang) -> str:
    """The caption saying which zone the times of a table are in."""
    return translate("ctl.times_in", lang, zone=zones.zone_name(tz, now))


def fmt_short(at: datetime, tz: tzinfo | None, now: datetime) -> str:
    """`16:01` today (in `tz`), `11-21 16:01` on another day, with the year in another."""
    return zones.short_time(at, now, tz)


def fmt_duration(seconds: float | None, lang: Lang) -> str:
    """The two largest non-zero units: `2h 5m`, `3d`, `45s`; zh-CN `2小时5分`."""
    if seconds is None:
        return translate("field.none", lang)
    total = round(abs(seconds))
    counts = [("d", total // 86400), ("h", total % 86400 // 3600), ("m", total % 3600 // 60)]
    counts.append(("s", total % 60))
    first = next((i for i, (_, n) in enumerate(counts) if n), len(counts) - 1)
    shown = [(u, n) for u, n in counts[first : first + 2] if n] or [("s", 0)]
    sep = "" if lang == "zh-CN" else " "
    return sep.join(translate(f"unit.{u}", lang, n=n) for u, n in shown)


def time_left(due: datetime, now: datetime, lang: Lang) -> Text:
    """`12m left`, or `5m late` in red once `due` has passed."""
    delta = (due - now).total_seconds()
    if delta < 0:
        return Text(translate("dur.late", lang, d=fmt_duration(delta, lang)), style="bold red")
    return Text(translate("dur.left", lang, d=fmt_duration(delta, lang)))


def add_row(table: Table, *cells: RenderableType) -> None:
    """Strings become Text: a note like "[/]" or ":fire:" is data, not rich markup."""
    table.add_row(*(Text(c) if isinstance(c, str) else c for c in cells))


def in_lang(names: Names, lang: Lang) -> Names:
    return names if names.lang == lang else dataclasses.replace(names, lang=lang)


def root_shown(o: OutageView, names: Names) -> str:
    """The root's display name; the API's `root_name` when no names came with it."""
    if o.root in names.elements:
        return names.element(o.root)
    if names.wide:
        return f"{o.root} {o.root_name}" if o.root_name else o.root
    return o.root_name or o.root


def listing_table(title: str, lang: Lang, tz: tzinfo | None, now: datetime) -> Table:
    """A listing's table: its title, and the zone its times are in as the caption."""
    return Table(
        title=title,
        title_justify="left",
        caption=times_in(tz, now, lang),
        caption_justify="left",
    )


def grid(rows: Iterable[tuple[str, RenderableType]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in rows:
        add_row(grid, key, value)
    return grid


def listing(items: Iterable[str], lang: Lang) -> str:
    return translate("punct.list", lang).join(items) or translate("field.none", lang)


def to_text(renderable: RenderableType, width: int = 120, color: bool = False) -> str:
    """Render to a string: plain for tests and pipes, ANSI colours when `color`."""
    out = StringIO()
    console = Console(
        file=out,
        width=width,
        color_system="standard" if color else None,
        force_terminal=color,
        highlight=False,
    )
    console.print(Text(renderable) if isinstance(renderable, str) else renderable)
    return out.getvalue()
