"""The evidence summary's pieces that the incremental election leans on."""

from __future__ import annotations

import heapq
from dataclasses import replace
from itertools import islice

from hypothesis import given
from hypothesis import strategies as st

from outaged.correlate.election import Evidence, Root
from outaged.correlate.summary import SHOWN, Summary, _smallest, combine

_ids = st.integers(0, 3 * SHOWN).map(lambda n: f"b-{n:04d}")
_lists = st.lists(
    st.lists(_ids, min_size=1, max_size=SHOWN, unique=True).map(lambda xs: tuple(sorted(xs))),
    min_size=1,
    max_size=2 * SHOWN + 5,
)


@given(_lists)
def test_smallest_equals_a_full_merge(lists: list[tuple[str, ...]]) -> None:
    assert _smallest(lists) == tuple(islice(heapq.merge(*lists), SHOWN))


def test_smallest_with_many_single_lists_takes_the_first_shown() -> None:
    lists: list[tuple[str, ...]] = [(f"e-{n:05d}",) for n in reversed(range(3 * SHOWN))]
    assert _smallest(lists) == tuple(f"e-{n:05d}" for n in range(SHOWN))


def _leaf(element: str, at: float) -> Summary:
    return Summary(1, at, None, False, (element,), (), True)


def test_combine_counts_and_keeps_the_first() -> None:
    found = combine([_leaf("b", 5.0), _leaf("a", 3.0), _leaf("c", 9.0)])
    assert found is not None
    assert (found.count, found.first_at, found.smallest) == (3, 3.0, ("a", "b", "c"))


def test_a_roots_memo_is_not_part_of_it() -> None:
    """Roots compare and print by what they say, whatever was worked out from them;
    a root made from another (joined) starts with nothing worked out."""
    own = Evidence("m", 1.0, True, False, ("down",))
    a, b = Root("m", own, ()), Root("m", own, ())
    a.memo["summary"] = None
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    assert replace(a, joined=(b,)).memo == {}
