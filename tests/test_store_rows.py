"""A step's signals go into SQLite in multi-row INSERTs (outaged/store/sqlite.py
`_insert_rows`): every row once, in order, whatever the count; a bad row still
refuses the whole step."""

from __future__ import annotations

from pathlib import Path

import pytest

from outaged.errors import UnstorableError
from outaged.signals import Category, Report
from outaged.store.base import Batch, StoredSignal
from outaged.store.sqlite import SqliteStore


def _signals(first: int, count: int) -> list[StoredSignal]:
    return [
        StoredSignal(seq, Report(1000.0 + seq, "b1", Category.DOWN, f"s{seq}"), 2000.0, f"T{seq}")
        for seq in range(first, first + count)
    ]


async def test_every_row_of_every_count_is_stored_once_in_order(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "o.db")
    await store.open()
    try:
        seq, expected = 1, []
        for count in (1, 2, 3, 63, 64, 65, 127, 200, 0, 5):
            batch = Batch(signals=_signals(seq, count))
            await store.commit(batch)
            expected += batch.signals
            seq += count
        stored = await store.signals_since(0.0)
        assert [(s.seq, s.signal, s.ext_id) for s in stored] == [
            (s.seq, s.signal, s.ext_id) for s in expected
        ]
    finally:
        await store.close()


async def test_a_row_the_store_refuses_refuses_the_whole_step(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "o.db")
    await store.open()
    try:
        await store.commit(Batch(signals=_signals(1, 3)))
        again = _signals(4, 70) + _signals(2, 1)  # seq 2 exists: the primary key refuses it
        with pytest.raises(UnstorableError):
            await store.commit(Batch(signals=again))
        assert [s.seq for s in await store.signals_since(0.0)] == [1, 2, 3]
    finally:
        await store.close()
