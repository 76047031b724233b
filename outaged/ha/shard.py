"""Which live member probes which element: rendezvous (highest random weight) hashing.

Each (member, element) pair gets a weight from a hash; an element goes to the
member with the highest weight. When a member joins, only the elements it now
wins move (to it); when one leaves, only its elements move: nothing else
changes hands. Pure: the same members and elements give the same answer on
every instance, so each can compute its own share without asking the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


def weight(member: str, element: str) -> int:
    digest = hashlib.blake2b(f"{member}\0{element}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(members: Sequence[str], element: str) -> str:
    """The member that probes `element` (members must not be empty)."""
    return max(members, key=lambda m: (weight(m, element), m))


def assign(members: Iterable[str], elements: Iterable[str]) -> dict[str, list[str]]:
    """Member -> the elements it probes, each element once; every member is a key."""
    live = sorted(set(members))
    shares: dict[str, list[str]] = {m: [] for m in live}
    if not live:
        return shares
    for element in elements:
        shares[owner(live, element)].append(element)
    return shares


def share(me: str, members: Iterable[str], elements: Iterable[str]) -> list[str]:
    """The elements `me` probes (all of them when it is the only live member)."""
    live = set(members) | {me}
    return assign(live, elements)[me]
