"""Verification from the network (issue 10 §4), the pure part.

When a repair is reported the daemon re-probes, at once, the outage's root and
the elements it cut off (its evidence) that have an address and that the
probes saw down; `verdict` reads
the answers. All answered: restored (verified automatically, or proposed to
the NOC when `auto` is off). Any still silent: back to work, with a notice to
whoever has it. Nothing to probe (no address, ICMP off): proposed to the NOC,
which verifies by hand.

`showing_fault` is what a person's `verify` is checked against: an element
whose last probe failed while it is down is the network still showing the
fault, and verifying then needs `force` and a `reason` (audited).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from outaged.correlate.health import Health
from outaged.outages.model import Outage

MAX_TARGETS = 256  # a re-probe is one burst, not a city-wide sweep


@dataclass(frozen=True, slots=True)
class VerifyConfig:
    auto: bool = True  # restored on re-probe: verified by the daemon; else proposed to the NOC
    count: int = 3  # echo requests per element; one reply is enough
    timeout_s: float = 1.0

    def __post_init__(self) -> None:
        if self.count < 1 or self.timeout_s <= 0:
            raise ValueError(f"invalid verification settings {self}")


@dataclass(frozen=True, slots=True)
class Verdict:
    checked: tuple[str, ...]  # elements re-probed
    down: tuple[str, ...]  # of those, the ones that did not answer

    @property
    def restored(self) -> bool:
        return bool(self.checked) and not self.down

    def to_json(self) -> dict[str, list[str]]:
        return {"checked": list(self.checked), "still_down": list(self.down)}


def elements(outage: Outage) -> list[str]:
    """The root first, then what it cut off (as far as the outage lists it)."""
    return list(dict.fromkeys((outage.root, *outage.evidence)))


def targets(
    outage: Outage, addresses: Mapping[str, str], health: Mapping[str, Health]
) -> dict[str, str]:
    """element -> address of what to re-probe (bounded): the elements with an
    address that the network saw down in this outage (down now, or changed
    state since it began). An outage only customers reported is not one the
    probes can confirm: nothing to re-probe, the NOC verifies."""
    found: dict[str, str] = {}
    for e in elements(outage):
        h = health.get(e)
        if e not in addresses or h is None:
            continue
        if h.is_evidence or (h.transitions and h.transitions[-1] >= outage.occurred_at):
            found[e] = addresses[e]
    return dict(list(found.items())[:MAX_TARGETS])


def verdict(answers: Mapping[str, bool]) -> Verdict:
    """From element -> answered."""
    checked = tuple(answers)
    return Verdict(checked, tuple(e for e in checked if not answers[e]))


def showing_fault(outage: Outage, health: Mapping[str, Health]) -> list[str]:
    """Elements of the outage the network still shows down right now."""
    return [
        e
        for e in elements(outage)
        if (h := health.get(e)) is not None and h.is_evidence and h.goods == 0
    ]


def refusal(down: Sequence[str], fields: Mapping[str, str]) -> str | None:
    """Why a person's verify is refused, or None (nothing down, or forced with a reason)."""
    if not down:
        return None
    if fields.get("force") == "true" and fields.get("reason"):
        return None
    shown = ", ".join(down[:5]) + (f" and {len(down) - 5} more" if len(down) > 5 else "")
    return (
        f"the network still shows the fault ({shown} down): verify only with "
        "force and a reason (outagectl verify N --force --reason TEXT)"
    )
