"""Chinese street addresses split into what agents type: 小区名, 楼号, 单元, 室.

"华苑小区3号楼2单元501室" -> Address("华苑小区", "3", "2", "501"). Any part may be
missing, in the directory's data as in an agent's query ("华苑 3栋 501").
"""

from __future__ import annotations

import re
import sys
from typing import NamedTuple

_NUMBERS = re.compile(r"(\d+)")
_DASHED = re.compile(r"(\d+)\s*-\s*(\d+)\s*-\s*(\d+)\s*$")  # "1-2-301": 楼-单元-室
_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_FULLWIDTH = re.compile("[０-９]")  # str.translate costs more than this check
_SEPARATORS = " \t,，、·.-"
_SPACE = re.compile(r"[\s,，、·.-]+")
_BUILDING = frozenset({"号楼", "號樓", "栋", "棟", "幢", "座", "楼", "樓"})
_UNIT = frozenset({"单元", "單元", "门", "門"})
_ROOM = frozenset({"室", "号", "號", "户", ""})


class Address(NamedTuple):  # a tuple: a million are built at load
    place: str  # community (and street) text, spaces removed; "" if none
    building: str = ""
    unit: str = ""
    room: str = ""


def parse(text: str) -> Address:
    """Split one address, reading the numbered parts from the end (a street number
    inside the place, "迎宾路88号华苑小区", stays in the place). Numbers lose
    leading zeros so "03" finds "3"."""
    if _FULLWIDTH.search(text):
        text = text.translate(_DIGITS)
    if "-" in text:
        text = _DASHED.sub(r"\1号楼\2单元\3室", text)
    parts = _NUMBERS.split(text)  # text, number, text, number, ..., text
    building = unit = room = ""
    i = len(parts) - 2
    while i > 0:
        number, suffix = parts[i].lstrip("0") or "0", parts[i + 1].strip(_SEPARATORS)
        if suffix in _UNIT and not (unit or building):
            unit = number
        elif (suffix in _BUILDING or (suffix in ("号", "號") and (unit or room))) and not building:
            building = number
        elif suffix in _ROOM and not (room or unit or building):
            room = number
        else:
            break
        i -= 2
    place = "".join(parts[: i + 2])
    if _SPACE.search(place):
        place = _SPACE.sub("", place)
    intern = sys.intern  # a million rows share a few hundred numbers
    return Address(place, intern(building), intern(unit), intern(room))


def bigrams(text: str) -> frozenset[str]:
    """Character pairs: how a place name typed in part ("华苑") meets the full one."""
    if len(text) < 2:
        return frozenset({text}) if text else frozenset()
    return frozenset(text[i : i + 2] for i in range(len(text) - 1))
