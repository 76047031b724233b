"""Storm digests: a recipient's pending messages of one channel as one message.

Grouped the way Alertmanager groups alerts, with no `group_wait`: the first
message to a recipient goes at once; whatever is due for that recipient (same
channel and address) when the channel's worker next picks up work goes as one
digest; and after a recipient was reached, what arrives for them within
`interval_s` (Alertmanager's `group_interval`) waits for the end of it and
goes as one digest too. A storm of 200 outages is then a few mails per person
instead of 200, and a lone outage is never held back.

A digest is not stored: its parts are the outbox rows, each settled with the
digest's result, so "notified" still means delivered per row and a failed
digest is retried part by part (and bundled again when due).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from outaged.notify.base import Failed, Message, Result, Sent

EVENT = "digest"
MAX_PARTS = 100  # messages in one digest; a longer storm makes several
CHANNELS = frozenset({"email", "webhook"})  # the log is not flooded by a storm


@dataclass(frozen=True, slots=True)
class DigestPolicy:
    enabled: bool = True
    interval_s: float = 10.0  # after a recipient was reached, bundle for this long

    def __post_init__(self) -> None:
        if self.interval_s < 0:
            raise ValueError(f"invalid digest policy {self}")


def key(message: Message) -> tuple[str, str]:
    """Who a digest goes to: one person at one address."""
    return (message.recipient, message.address)


def bundle(due: Sequence[Message]) -> list[tuple[Message, list[Message]]]:
    """(what to send, the rows it stands for), in the order of each recipient's
    first due message; a recipient with one message gets it as it is."""
    groups: dict[tuple[str, str], list[Message]] = {}
    for m in due:  # only outages' notifications are bundled (not planned work's)
        groups.setdefault(key(m) if m.outage else (m.id, ""), []).append(m)
    out: list[tuple[Message, list[Message]]] = []
    for parts in groups.values():
        for start in range(0, len(parts), MAX_PARTS):
            chunk = parts[start : start + MAX_PARTS]
            out.append((chunk[0] if len(chunk) == 1 else digest(chunk), chunk))
    return out


def digest(parts: Sequence[Message]) -> Message:
    first = parts[0]
    items = [{**p.context, "event": p.event, "message": p.id} for p in parts]
    context = {
        "items": items,
        "count": len(parts),
        "outages": sorted({p.outage for p in parts}),
        "recipient": first.context.get("recipient", {"id": first.recipient}),
    }
    return Message(
        outage=first.outage,
        seq=first.seq,
        event=EVENT,
        recipient=first.recipient,
        channel=first.channel,
        address=first.address,
        lang=first.lang,
        context=context,
        created_at=min(p.created_at for p in parts),
        next_at=first.next_at,
        id=f"{EVENT}.{first.id}.{len(parts)}",
    )


def parts_of(message: Message) -> list[str]:
    """The row ids a digest stands for ([] for an ordinary message)."""
    if message.event != EVENT:
        return []
    return [str(item["message"]) for item in message.context.get("items", [])]


def for_part(result: Result, part: Message) -> Result:
    """The digest's outcome as the outcome of one of its rows."""
    if isinstance(result, Sent):
        return Sent(part.id)
    return Failed(part.id, result.reason, result.detail)
