"""The common single report (`POST /reports` with a subscriber and a category or an
error code, nothing odd) made a Report without the general validator. Pure.

`lean_report` answers only when the body is one it can vouch for: exactly what
`read_json`, `parse_items` and `parse_signal` would accept, and the same Report
they would make (tests/test_api_lean.py compares both on random and odd bodies).
For anything else it answers None and the request takes the full path, which
names every problem as it always has; so an error never comes from here.
"""

from __future__ import annotations

import json
from typing import Any

from outaged.api.items import ticket_id
from outaged.intake import MAX_ID_TEXT, MAX_INT32, Limits, received, text_problem
from outaged.signals import CODE_CATEGORY, Category, Report
from outaged.topology.model import Topology

# What the lean path reads: a report's own fields, less `at` (a sender's time needs
# the full time parser) and `element` (it needs the subscriber cross-check), plus `id`.
FIELDS = frozenset({"subscriber", "category", "code", "kind", "id"})
_CATEGORIES: dict[str, Category] = {c.value: c for c in Category}


def lean_report(
    raw: bytes, topology: Topology, clock: float, limits: Limits
) -> tuple[Report, str | None] | None:
    """The report and its ticket id if `raw` is a plain single report, else None."""
    try:
        obj: Any = json.loads(raw)  # the parser read_json uses: the same object
    except (ValueError, RecursionError):
        return None
    if type(obj) is not dict or not obj.keys() <= FIELDS:
        return None
    if obj.get("kind", "report") != "report":
        return None
    subscriber = obj.get("subscriber")
    if type(subscriber) is not str or not subscriber or text_problem(subscriber, MAX_ID_TEXT):
        return None
    element = topology.subscribers.get(subscriber)
    if element is None:
        return None
    code = obj.get("code")
    if code is not None and (type(code) is not int or not 0 <= code <= MAX_INT32):
        return None
    raw_category = obj.get("category")
    if raw_category is None:
        category = CODE_CATEGORY.get(code) if code is not None else None
    elif type(raw_category) is str:
        category = _CATEGORIES.get(raw_category)
    else:
        return None
    if category is None:
        return None
    raw_id = obj.get("id")
    ext_id = None if raw_id is None else ticket_id(raw_id)  # the full path's own check
    if raw_id is not None and ext_id is None:
        return None
    at = received(clock)
    if at < clock - limits.horizon_s or at > clock + limits.skew_s:
        return None
    return Report(at, element, category, subscriber, code), ext_id
