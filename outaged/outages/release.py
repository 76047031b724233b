"""Outages that people ended (cancel, close): the engine lets go of them.

A dispatcher who cancels an outage as a false alarm, or closes it, has judged the
evidence there was at that moment. From then on the engine does not follow the
outage: nothing that comes later re-roots, raises, restores or reopens it, and what
comes later is judged afresh (a new outage, which `follows` the ended one).

So that the same false alarm does not reopen at the next evaluation, the evidence
the outage still held when it was released is set aside:

* customer reports made inside its area up to the release no longer count: calls
  count afresh from the release (also when they are re-ingested after a restart, or
  arrive late with an earlier time);
* an element inside its area that was down (probes, all uplinks) or reported by a
  person at the release stays aside until it is seen clear (probed up, an uplink
  up, the manual fault withdrawn) or a person reports it again. A cancel cannot make
  a down element up, but it says that this "down" is not a fault (a probe path, a
  decommissioned node); the next failure after it came back is new and counts.

While an element is set aside the outage is RELEASED, which the store recovers after
a restart like an open outage; then it is RESTORED, and stays in memory (for links
and the report mute) for the relapse window, like a restored outage. Pure: no I/O,
no clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from outaged.outages.model import EVIDENCE_SHOWN, Event, Outage, Status
from outaged.outages.reasons import Phrase, Why
from outaged.topology.graph import GraphIndex
from outaged.topology.model import Thresholds


@dataclass(slots=True)
class _Ended:
    """A released outage the engine still needs: for what it sets aside, its report
    mute and links from new outages."""

    root: str
    area: tuple[str, ...]  # the tops of its area
    released_at: float
    aside: set[str]  # empty once RESTORED
    restored_at: float | None  # None while RELEASED
    outage: Outage


class Releases:
    def __init__(self, index: GraphIndex, th: Thresholds) -> None:
        self.index = index
        self.th = th
        self._ended: dict[int, _Ended] = {}
        self._aside: dict[str, int] = {}  # element -> how many ended outages set it aside
        self._changed: set[int] = set()  # set-asides that shrank, not yet recorded
        self._touched: set[str] = set()  # set-aside elements whose state changed since
        self._newest = float("-inf")  # the latest release in memory

    # ---- what the engine keeps ------------------------------------------

    def track(self, outage: Outage) -> None:
        """Follow the engine's record of an outage (called for every write)."""
        self.drop(outage.id)
        if outage.released_at is None:
            return
        held = outage.status is Status.RELEASED
        ended = _Ended(
            outage.root,
            area_of(self.index, outage),
            outage.released_at,
            set(outage.set_aside) if held else set(),
            None if held else (outage.restored_at or outage.released_at),
            outage,
        )
        self._ended[outage.id] = ended
        self._newest = max(self._newest, ended.released_at)
        for element in ended.aside:
            self._aside[element] = self._aside.get(element, 0) + 1

    def drop(self, outage_id: int) -> None:
        """Forget an outage (written anew, or gone from memory)."""
        ended = self._ended.pop(outage_id, None)
        if ended is not None:
            for element in ended.aside:
                self._unset(element)

    def _unset(self, element: str) -> None:
        left = self._aside[element] - 1
        if left:
            self._aside[element] = left
        else:
            del self._aside[element]

    def holds(self, outage_id: int) -> bool:
        """It still sets evidence aside."""
        ended = self._ended.get(outage_id)
        return ended is not None and ended.restored_at is None

    def keeps(self, outage_id: int, now: float) -> bool:
        """Still needed in memory: it sets evidence aside, or its fault cleared within
        the relapse window (new outages link it; its calls may still be in a window)."""
        ended = self._ended.get(outage_id)
        return ended is not None and (
            ended.restored_at is None or ended.restored_at >= now - self.th.relapse_window_s
        )

    def is_aside(self, element: str) -> bool:
        return element in self._aside

    def aside(self) -> frozenset[str]:
        """Every element set aside now."""
        return frozenset(self._aside) if self._aside else frozenset()

    @property
    def any_ended(self) -> bool:
        """An ended outage is followed (so `follows` may answer something)."""
        return bool(self._ended)

    def touch(self, element: str) -> None:
        """Something about an element changed (probes, uplinks, manual): a set-aside
        one is looked at again at the next review. One never touched since the
        release (or since a restart) stays aside: nothing new was seen of it."""
        if element in self._aside:
            self._touched.add(element)

    # ---- signals ---------------------------------------------------------

    def muted(self, element: str, at: float, counted_at: Callable[[], Iterable[str]]) -> bool:
        """A report made at `element` at `at` from before a release in its area."""
        if at > self._newest:  # nearly always: a call after every release
            return False
        earlier = [e for e in self._ended.values() if at <= e.released_at]
        if not earlier:
            return False
        places = [element, *counted_at()]
        return any(self._inside(e.area, place) for e in earlier for place in places)

    def renewed(self, element: str, at: float) -> bool:
        """A person reports a fault again after the release: it counts in full."""
        found = False
        for oid, ended in self._ended.items():
            if element in ended.aside and at > ended.released_at:
                ended.aside.discard(element)
                self._unset(element)
                self._changed.add(oid)
                found = True
        return found

    def _inside(self, area: tuple[str, ...], element: str) -> bool:
        dominates = self.index.dominates
        return any(dominates(top, element) for top in area)

    # ---- time ------------------------------------------------------------

    def review(
        self, now: float, seen_clear: Callable[[str], bool]
    ) -> list[tuple[Event, Outage, Why]]:
        """Elements seen clear leave the set-aside; an outage with nothing left aside
        is RESTORED."""
        out: list[tuple[Event, Outage, Why]] = []
        cleared = {e for e in self._touched if e in self._aside and seen_clear(e)}
        self._touched.clear()
        for oid, ended in list(self._ended.items()):
            if ended.restored_at is not None:
                continue
            clear = sorted(cleared & ended.aside)
            for element in clear:
                ended.aside.discard(element)
                self._unset(element)
            outage = ended.outage
            if not ended.aside:
                done = dataclasses.replace(
                    outage, status=Status.RESTORED, restored_at=now, set_aside=()
                )
                out.append((Event.RESTORED, done, (Phrase.of("aside_gone"),)))
            elif clear or oid in self._changed:
                kept = dataclasses.replace(outage, set_aside=tuple(sorted(ended.aside)))
                out.append((Event.UPDATED, kept, (listed("aside_cleared", clear),)))
        self._changed.clear()
        return out

    @property
    def changed(self) -> bool:
        """`review` has something to look at."""
        return bool(self._changed or self._touched)

    # ---- links -----------------------------------------------------------

    def follows(self, elements: Iterable[str], now: float) -> tuple[int, ...]:
        """Ended outages a new one at `elements` comes after: those still setting
        evidence aside, and those whose fault cleared within the relapse window
        (where a relapse would have reopened them), whose root is at, above or below
        one of the elements."""
        known = self.index.topology.elements
        dominates = self.index.dominates
        tops = list(elements)
        return tuple(
            sorted(
                oid
                for oid, ended in self._ended.items()
                if self.keeps(oid, now)
                and ended.root in known
                and any(dominates(e, ended.root) or dominates(ended.root, e) for e in tops)
            )
        )


def area_of(index: GraphIndex, outage: Outage) -> tuple[str, ...]:
    """The tops of what an outage covered: its root and listed (or joined) parts,
    without those inside another."""
    tops = {outage.root, *outage.scope.parts}
    return tuple(
        sorted(
            t
            for t in tops
            if t in index.topology.elements
            and not any(o != t and index.dominates(o, t) for o in tops)
        )
    )


def listed(key: str, elements: Iterable[str]) -> Phrase:
    """A phrase naming elements: the first EVIDENCE_SHOWN of them, and how many."""
    items = list(elements)
    return Phrase.of(key, parts=tuple(items[:EVIDENCE_SHOWN]), n=len(items))
