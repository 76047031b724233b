"""The directory: subscribers by id, by phone and by address keywords, ranked.

Pure and built once from a topology (at start and on reload), like the graph
index. Addresses are grouped by place (小区名): a query scans the few thousand
distinct places, not the million subscribers, then filters inside the places
that match by building, unit and room.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from outaged.bulk import collector_paused
from outaged.directory.address import Address, bigrams, parse
from outaged.topology.model import Topology

MAX_RESULTS = 20
MIN_PLACE_SCORE = 0.5  # share of the query's character pairs the place must hold
_NOT_DIGIT = re.compile(r"\D+")


def phone_key(text: str) -> str:
    """Digits only, without the +86 / 0086 country prefix."""
    if len(text) == 11 and text.isdigit():  # the common case, a million times at load
        return text
    digits = _NOT_DIGIT.sub("", text)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix) :]
    return digits


@dataclass(frozen=True, slots=True)
class Match:
    subscriber: str
    score: float  # 1.0: every part the query named matched exactly
    address: str = ""
    phone: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Found:
    matches: tuple[Match, ...]  # best first, at most the limit asked
    total: int  # how many matched in all


@dataclass(slots=True)
class _Place:
    name: str
    size: int  # character pairs in the name
    # (building, unit, room, subscriber) for every subscriber at this place
    rows: list[tuple[str, str, str, str]]


class Directory:
    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self._phones: dict[str, str | tuple[str, ...]] = {}
        self._places: dict[str, _Place] = {}
        self._pairs: dict[str, list[_Place]] = {}  # character pair -> places holding it
        with collector_paused():
            self._build(topology)

    def _build(self, topology: Topology) -> None:
        for sub, (address, phone, _name) in topology.subscriber_details.items():
            if phone:
                self._add_phone(phone_key(phone), sub)
            if address:
                self._add_address(parse(address), sub)

    @property
    def places(self) -> int:
        return len(self._places)

    def _add_phone(self, key: str, sub: str) -> None:
        known = self._phones.get(key)
        if known is None:
            self._phones[key] = sub
        else:  # a family's lines, a business's accounts: one phone, several subscribers
            self._phones[key] = (*((known,) if isinstance(known, str) else known), sub)

    def _add_address(self, address: Address, sub: str) -> None:
        place = self._places.get(address.place)
        if place is None:
            pairs = bigrams(address.place)
            place = self._places[address.place] = _Place(address.place, len(pairs), [])
            for pair in pairs:
                self._pairs.setdefault(pair, []).append(place)
        place.rows.append((address.building, address.unit, address.room, sub))

    def _match(self, sub: str, score: float) -> Match:
        address, phone, name = self.topology.subscriber_details.get(sub, ("", "", ""))
        return Match(sub, score, address, phone, name)

    def by_id(self, subscriber: str) -> Found:
        if subscriber not in self.topology.subscribers:
            return Found((), 0)
        return Found((self._match(subscriber, 1.0),), 1)

    def by_phone(self, phone: str) -> Found:
        known = self._phones.get(phone_key(phone))
        subs = () if known is None else (known,) if isinstance(known, str) else known
        return Found(tuple(self._match(s, 1.0) for s in subs[:MAX_RESULTS]), len(subs))

    def by_address(self, text: str, limit: int = MAX_RESULTS) -> Found:
        """Keywords of an address; parts the query leaves out match anything, parts it
        names must agree (a subscriber whose address lacks a named part ranks lower)."""
        query = parse(text)
        if not query.place:
            return Found((), 0)
        scored: list[tuple[float, str]] = []
        for name, place in self._candidates(query.place):
            scored += _within(query, place, name)
        scored.sort(key=lambda found: (-found[0], found[1]))
        return Found(tuple(self._match(s, score) for score, s in scored[:limit]), len(scored))

    def _candidates(self, wanted: str) -> list[tuple[float, _Place]]:
        """Places whose name holds the query (through the rarest of its character
        pairs: every such place holds that pair), else the places sharing the most
        pairs with it (a character left out or mistyped)."""
        pairs = bigrams(wanted)
        postings = [self._pairs.get(pair, []) for pair in pairs]
        if not postings:
            return []
        rarest = min(postings, key=len)
        exact = [p for p in rarest if wanted in p.name]
        if exact or len(wanted) < 2:
            return [(1.0 if wanted == p.name else 0.95, p) for p in exact]
        shared: dict[int, tuple[_Place, int]] = {}
        for places in postings:
            for place in places:
                held = shared.get(id(place))
                shared[id(place)] = (place, 1 if held is None else held[1] + 1)
        best = max((count for _, count in shared.values()), default=0)
        if best / len(pairs) < MIN_PLACE_SCORE:
            return []
        return [(0.9 * best / len(pairs), p) for p, count in shared.values() if count == best]


def _within(query: Address, place: _Place, place_score: float) -> list[tuple[float, str]]:
    named = [(i, part) for i, part in enumerate((query.building, query.unit, query.room)) if part]
    found: list[tuple[float, str]] = []
    for row in place.rows:
        score = place_score
        for i, part in named:
            have = row[i]
            if have != part:
                if have:
                    break  # it names another building, unit or room
                score -= 0.1  # the address does not say: maybe
        else:
            found.append((round(score, 3), row[3]))
    return found
