"""Elements as written, in topology.yaml's `elements` list or an elements CSV:
each field checked, ids and addresses kept unique. Their links are resolve.py's."""

from __future__ import annotations

import csv
import ipaddress
import socket
from collections.abc import Iterator
from operator import itemgetter

from outaged.topology.fields import Draft, Fields, Reader
from outaged.topology.model import PASSIVE_KINDS, Kind
from outaged.topology.yamlsrc import YamlMap

ELEMENT_FIELDS = (
    "id",
    "kind",
    "parents",
    "area",
    "subscribers",
    "address",
    "contract",
    "name",
    "snmp",
    "uplinks",
    "name_en",
)  # also the columns an elements CSV may have

_ELEMENT_KEYS = frozenset(ELEMENT_FIELDS)

_KINDS = {k.value: k for k in Kind}

_CSV_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


class Elements(Reader):
    def yaml_element(self, node: YamlMap, index: int) -> Draft | None:
        before = len(self.problems)
        f = Fields(self, node, f"elements[{index}].", _ELEMENT_KEYS)
        eid = f.ident("id", required=True)
        kind_name = f.ident("kind", required=True)
        kind = None if kind_name is None else _KINDS.get(kind_name)
        if kind_name is not None and kind is None:
            f.bad("kind", _kind_message(kind_name))
        parents = tuple(f.idents("parents"))
        area, snmp, address = f.ident("area"), f.ident("snmp"), f.ident("address")
        subscribers, contract = f.count("subscribers"), f.flag("contract")
        name, name_en = f.text("name") or "", f.text("name_en") or ""
        uplinks = tuple(f.idents("uplinks", numbers=True))
        if eid is None:
            return None
        return Draft(
            eid, kind, parents, area, subscribers, address, contract, name, snmp, uplinks,
            name_en, self.source, node.line, f.prefix, node, len(self.problems) == before,
        )  # fmt: skip

    def csv_elements(self, rel: str, where: tuple[int, str]) -> Iterator[Draft]:
        path = self.base / rel
        source = str(path)
        try:
            f = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 (closed below)
        except OSError as exc:
            self.add(*where, f"cannot read {source}: {exc.strerror or exc}")
            return
        with f:
            reader = csv.reader(f)
            try:
                header = next(reader, None)
                columns = self.csv_header(header, source)
                if columns is None:
                    return
                width = len(columns)
                # Absent columns read the empty cell appended to every row.
                pick = itemgetter(*(columns.get(c, width) for c in ELEMENT_FIELDS))
                for row in reader:
                    if len(row) != width:
                        if row:  # a blank line is allowed
                            got = f"expected {width} columns, found {len(row)}"
                            self.add(reader.line_num, "", got, source)
                        continue
                    row.append("")
                    draft = self.csv_element(pick(row), source, reader.line_num)
                    if draft is not None:
                        yield draft
            except (csv.Error, UnicodeDecodeError) as exc:
                self.add(reader.line_num + 1, "", f"unreadable CSV: {exc}", source)

    def csv_header(self, header: list[str] | None, source: str) -> dict[str, int] | None:
        if not header:
            self.add(1, "", f"empty file; expected a header: {','.join(ELEMENT_FIELDS)}", source)
            return None
        columns: dict[str, int] = {}
        for i, name in enumerate(header):
            if name not in _ELEMENT_KEYS:
                self.add(1, name, f"unknown column (expected {','.join(ELEMENT_FIELDS)})", source)
            elif name in columns:
                self.add(1, name, "duplicate column", source)
            columns[name] = i
        missing = [c for c in ("id", "kind") if c not in columns]
        if missing:
            self.add(1, "", f"header lacks column(s): {', '.join(missing)}", source)
        return None if missing or len(columns) != len(header) else columns

    def csv_element(self, cells: tuple[str, ...], source: str, line: int) -> Draft | None:
        before = len(self.problems)
        eid, kind_name, parents, area, subs, address, contract, name, snmp, uplinks, name_en = cells
        kind = _KINDS.get(kind_name)
        if kind is None:
            self.add(line, "kind", _kind_message(kind_name), source)
        subscribers = None
        if subs:
            if subs.isascii() and subs.isdigit():
                subscribers = int(subs)
            else:
                self.add(line, "subscribers", f"expected a whole number >= 0, got {subs!r}", source)
        flag = None
        if contract:
            flag = _CSV_BOOLS.get(contract.lower())
            if flag is None:
                self.add(line, "contract", f"expected true or false, got {contract!r}", source)
        if not eid:
            self.add(line, "id", "missing", source)
            return None
        return Draft(
            eid, kind, tuple(parents.split(";")) if parents else (), area or None, subscribers,
            address or None, flag, name, snmp or None,
            tuple(uplinks.split(";")) if uplinks else (), name_en, source, line, "", None,
            len(self.problems) == before,
        )  # fmt: skip

    def keep(self, draft: Draft | None) -> None:
        """Register an element: unique id, and a valid, unique address if it has one."""
        if draft is None:
            return
        first = self.drafts.get(draft.id)
        if first is not None:
            src, line, _ = first.where("id")
            self.flag(draft, "id", f"duplicate element id {draft.id!r} (first at {src}:{line})")
            return
        self.drafts[draft.id] = draft
        if draft.address is None:
            return
        if draft.kind in PASSIVE_KINDS:
            message = f"a {draft.kind} element is passive (not probed) and has no address"
            self.flag(draft, "address", message)
            return
        address = _canonical_address(draft.address)
        if address is None:
            self.flag(draft, "address", f"{draft.address!r} is not an IPv4 or IPv6 address")
            return
        owner = self.addresses.setdefault(address, draft.id)
        if owner != draft.id:
            self.flag(draft, "address", f"address {address} is already {owner!r}'s")
        draft.address = address


def _canonical_address(text: str) -> str | None:
    try:
        socket.inet_pton(socket.AF_INET, text)  # strict dotted quad: already canonical
        return text
    except OSError:
        pass  # IPv6, or not an address: ipaddress is slower but says which
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _kind_message(name: str) -> str:
    return f"unknown kind {name!r} (expected one of: {', '.join(_KINDS)})"
