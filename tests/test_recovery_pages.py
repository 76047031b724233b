"""A restart re-reads the stored window in pages (`Store.signals_since` with
`after_seq` and `limit`): the pages together are the whole window, and recovery
read page by page leaves the engine as one read would."""

from __future__ import annotations

from pathlib import Path

import pytest

from outaged import recovery
from outaged.recovery import recover
from outaged.signals import Category, ManualFault, ProbeResult, Report, Signal
from outaged.store.base import Batch, Store, StoredSignal
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from tests.citygen import write_city
from tests.stores import Backend

T0 = 1_790_000_000.0


def _signals() -> list[Signal]:
    old = T0 - 7200  # before the window: only the uncleared manual fault counts
    signals: list[Signal] = [
        Report(old, "m1-c2-b4", Category.DOWN, "m1-c2-b4-001"),
        ManualFault(old + 1, "m1-c1", "fibre cut"),
    ]
    for i in range(30):
        at = T0 + 60 * i
        signals.append(ProbeResult(at, "m1-c2", i % 7 > 2, None))
        signals.append(Report(at + 1, "m1-c2-b4", Category.DOWN, f"m1-c2-b4-{i:03d}"))
    return signals


async def _stored(backend: Backend) -> Store:
    store = backend.store()
    await store.open()
    rows = [StoredSignal(seq, s, s.at) for seq, s in enumerate(_signals(), start=1)]
    await store.commit(Batch(signals=rows))
    return store


async def test_pages_of_signals_since_make_up_the_window(backend: Backend) -> None:
    store = await _stored(backend)
    whole = await store.signals_since(T0)
    pages, after = [], 0
    while page := await store.signals_since(T0, after_seq=after, limit=7):
        assert len(page) <= 7 and all(s.seq > after for s in page)
        pages.extend(page)
        after = page[-1].seq
    assert [s.seq for s in pages] == [s.seq for s in whole]
    assert [s.signal for s in pages] == [s.signal for s in whole]
    assert isinstance(whole[0].signal, ManualFault)  # older than the window, still in force
    assert len(whole) == 61
    await store.close()


async def test_recovery_in_small_pages_rebuilds_the_same_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: Backend
) -> None:
    index = GraphIndex.build(load_topology(write_city(tmp_path / "city")))
    store = await _stored(backend)
    now = T0 + 1800
    whole = await recover(store, index, now)
    monkeypatch.setattr(recovery, "PAGE", 4)
    paged = await recover(store, index, now)
    assert (paged.stored_signals, paged.reingested) == (whole.stored_signals, 61)
    one, other = whole.ledger.engine, paged.ledger.engine
    assert one.manual == other.manual and "m1-c1" in one.manual
    assert one.health == other.health and one.health["m1-c2"].transitions
    decided = one.evaluate(now)
    assert decided and other.evaluate(now) == decided  # the report windows too
    await store.close()
