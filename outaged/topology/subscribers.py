"""The subscribers CSV: which element serves each subscriber, and the optional
address, phone and name columns. A fast path for a sound file; a slow one names
the lines of a file that is not."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from outaged.topology.fields import Reader, listing

SUBSCRIBER_COLUMNS = ("subscriber", "element")

SUBSCRIBER_DETAILS = ("address", "phone", "name")  # optional columns after the two


class Subscribers(Reader):
    def read_subscribers(
        self, rel: str, key_line: int
    ) -> tuple[dict[str, str], dict[str, tuple[str, str, str]]]:
        """subscriber -> element, and subscriber -> (address, phone, name) when the
        file has any of those columns (rows with all three empty are left out)."""
        path = self.base / rel
        source = str(path)
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f)
                header = next(reader, None)
                columns = self.subscriber_header(header, source)
                if columns is None:
                    return {}, {}
                if len(columns) == len(SUBSCRIBER_COLUMNS):
                    try:
                        subscribers = dict(reader)  # the fast path: one C loop
                        rows = reader.line_num - 1
                    except ValueError:  # a row without exactly two cells
                        subscribers, rows = {}, -1
                    details: dict[str, tuple[str, str, str]] = {}
                else:
                    subscribers, details, rows = _with_details(list(reader), columns)
                if rows != len(subscribers) or "" in subscribers or "" in subscribers.values():
                    f.seek(0)
                    subscribers = self.subscriber_rows(csv.reader(f), source, len(columns))
                    details = {}
        except OSError as exc:
            self.add(key_line, "subscribers_csv", f"cannot read {source}: {exc.strerror or exc}")
            return {}, {}
        except (csv.Error, UnicodeDecodeError) as exc:
            self.add(None, "", f"unreadable CSV: {exc}", source)
            return {}, {}
        return subscribers, details

    def subscriber_header(self, header: list[str] | None, source: str) -> list[str] | None:
        expected = ",".join(SUBSCRIBER_COLUMNS)
        if header is None or header[:2] != list(SUBSCRIBER_COLUMNS):
            got = "nothing" if header is None else ",".join(header)
            optional = ",".join(SUBSCRIBER_DETAILS)
            message = f"expected the header {expected} (then any of {optional}), got {got}"
            self.add(1, "", message, source)
            return None
        extra = header[2:]
        bad = [c for c in extra if c not in SUBSCRIBER_DETAILS]
        twice = sorted({c for c in extra if extra.count(c) > 1})
        if bad or twice:
            message = (
                f"unknown column {bad[0]!r} (optional: {', '.join(SUBSCRIBER_DETAILS)})"
                if bad
                else f"column {twice[0]!r} appears twice"
            )
            self.add(1, bad[0] if bad else twice[0], message, source)
            return None
        return header

    def subscriber_rows(self, reader: Any, source: str, width: int) -> dict[str, str]:
        """The slow path, taken only when something is wrong: find the lines."""
        next(reader)
        subscribers: dict[str, str] = {}
        lines: dict[str, int] = {}
        for row in reader:
            line = reader.line_num
            if len(row) != width:
                if row:
                    self.add(line, "", f"expected {width} columns, found {len(row)}", source)
                continue
            sub, element = row[0], row[1]
            if not sub or not element:
                self.add(line, "subscriber" if not sub else "element", "empty cell", source)
            elif sub in lines:
                message = f"duplicate subscriber {sub!r} (first at line {lines[sub]})"
                self.add(line, "subscriber", message, source)
            else:
                subscribers[sub] = element
                lines[sub] = line
        return subscribers

    def unknown_elements(self, subscribers: dict[str, str], source: str) -> None:
        """Rare, so the file is read again to find the lines."""
        unknown = {e for e in set(subscribers.values()) if e not in self.drafts}
        rows: dict[str, list[str]] = {}
        with open(source, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            for row in reader:
                if len(row) >= 2 and row[1] in unknown and subscribers.get(row[0]) == row[1]:
                    rows.setdefault(row[1], []).append(str(reader.line_num))
        for element, lines in rows.items():
            first = int(lines[0])
            more = f" (lines {listing(lines)})" if len(lines) > 1 else ""
            self.add(first, "element", f"unknown element {element!r}{more}", source)


def _with_details(
    rows: list[list[str]], columns: list[str]
) -> tuple[dict[str, str], dict[str, tuple[str, str, str]], int]:
    """The fast path with optional columns: C-level maps over the rows. The row
    count comes back as -1 when a row has the wrong width (the slow path names it)."""
    width = len(columns)
    if any(len(row) != width for row in rows):
        return {}, {}, -1
    subscribers = dict(map(itemgetter(0, 1), rows))
    picks = [columns.index(c) if c in columns else width for c in SUBSCRIBER_DETAILS]
    pick = itemgetter(*picks)
    for row in rows:
        row.append("")  # the cell of an absent column
    details = {row[0]: cells for row in rows if any(cells := pick(row))}
    return subscribers, details, len(rows)


def share_ids(subscribers: dict[str, str], drafts: Mapping[str, object]) -> None:
    """Point every subscriber at its element's own id string, not a copy per CSV row
    (10^6 subscribers: ~60 MB of duplicate strings)."""
    own = {e: e for e in drafts}
    for sub, element in subscribers.items():
        subscribers[sub] = own.get(element, element)
