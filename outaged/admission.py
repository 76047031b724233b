"""Before an item of a decision step changes anything: can the store hold what
it carries, and is it a repeat of an Idempotency-Key already used.

Both answer the caller through the step (`step.done`, `step.twins`) and leave
memory and the store as they were; outaged.pipeline asks them for every item.
"""

from __future__ import annotations

import logging

from outaged.errors import NotFoundError, SignalError
from outaged.steps import Act, Check, Delivery, IdempotencyConflict, Intake, Item, Replayed, Step
from outaged.store import storable

log = logging.getLogger("outaged.pipeline")


def storable_item(item: Item, step: Step) -> bool:
    """Whether the store can hold what `item` carries; if not, it is refused
    alone (422 naming the field; an outage id past SQLite's range is unknown)
    before it changes anything."""
    if isinstance(item, Delivery | Check):
        return True
    key = item.idem.key if item.idem is not None else None
    if isinstance(item, Act):
        if not 1 <= item.outage_id <= storable.INT_MAX:
            step.done.append((item.reply, NotFoundError(f"unknown outage {item.outage_id}")))
            return False
        found = storable.action_problems(item.request.fields, item.actor, key)
    else:
        found = storable.intake_problems(item.signals, item.ext_ids, item.actor, key)
    if not found:
        return True
    error = SignalError(found)
    if item.reply is None:
        log.warning("signal dropped: the store cannot hold it: %s", error)
    else:
        step.done.append((item.reply, error))
    return False


def replayed(item: Intake | Act, step: Step) -> bool:
    """Answer a repeated Idempotency-Key from its first use instead of acting again."""
    if item.idem is None or item.reply is None:
        return False
    key, digest = item.idem.key, item.idem.request_sha256
    found = step.seen_keys.get(key)
    twin = step.pending.get(key)
    first = found.request_sha256 if found is not None else None
    if twin is not None and twin.idem is not None:
        first = twin.idem.request_sha256
    if first is None:
        step.pending[key] = item
        return False
    if first != digest:
        error = IdempotencyConflict(f"Idempotency-Key {key!r} was used for a different request")
        step.done.append((item.reply, error))
    elif found is not None:
        step.done.append((item.reply, Replayed(found.status, found.body)))
    elif twin is not None:
        step.twins.append((item.reply, twin))
    return True
