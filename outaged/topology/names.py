"""Display names for the ids in an answer: what clients show instead of `hy-03`. Pure."""

from __future__ import annotations

from typing import Any

from outaged.topology.model import Topology


def names_json(body: Any, topology: Topology) -> dict[str, dict[str, dict[str, str]]]:
    """Display names of every element, area and person a response mentions.

    The ids stay where they are; this map lets a client show `华苑小区3号楼` or
    `Huayuan Estate building 3` instead of `hy-03` without a second request.
    """
    found: dict[str, dict[str, dict[str, str]]] = {"elements": {}, "areas": {}, "people": {}}
    tables = (
        ("elements", topology.elements),
        ("areas", topology.areas),
        ("people", topology.people),
    )
    stack = [body]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            for table, known in tables:
                thing = known.get(value)
                if thing is not None and value not in found[table]:
                    found[table][value] = {"name": thing.name, "name_en": thing.name_en}
    return found
