"""The probe answers folded in without the general path (`health.steady`,
`health.still_down`) leave an element's health as `observe`'s general path
does, and a replay of stored rows (`recovery.Replay` on
`Store.replay_rows_since`) leaves the engine as ingesting every decoded signal."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from outaged.correlate import health as health_module
from outaged.correlate.health import Health, observe
from outaged.outages.engine import Engine
from outaged.recovery import Replay
from outaged.signals import Category, ProbeResult, Report, Signal
from outaged.store.base import Batch, StoredSignal
from outaged.store.codec import signal_from_row
from outaged.topology.graph import GraphIndex
from outaged.topology.load import load_topology
from outaged.topology.model import Thresholds
from tests.citygen import write_city
from tests.stores import Backend

T0 = 1_790_000_000.0


def _answers(rng: random.Random, n: int) -> list[bool]:
    """Runs of good and failed answers, long and short: down, back, flapping."""
    out: list[bool] = []
    ok = rng.random() < 0.5
    while len(out) < n:
        out += [ok] * rng.choice((1, 1, 2, 3, 4, 8))
        ok = not ok
    return out[:n]


@pytest.mark.parametrize("seed", range(20))
def test_folded_answers_leave_health_as_the_general_path(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    th = Thresholds(flap_window_s=600.0)
    folded, general = Health(), Health()
    most = [0, 0]  # longest failed and good runs
    fast = {"steady": health_module.steady, "still_down": health_module.still_down}
    for i, ok in enumerate(_answers(rng, 300)):
        at, rtt = T0 + 30 * i, (rng.choice((0.5, 1.25, 3.0)) if ok else None)
        changed = observe(folded, ok, at, rtt, th)
        for name in fast:  # every answer through the general path
            monkeypatch.setattr(health_module, name, lambda *args: False)
        assert observe(general, ok, at, rtt, th) == changed, i
        for name, function in fast.items():
            monkeypatch.setattr(health_module, name, function)
        assert folded == general, i
        most = [max(most[0], folded.fails), max(most[1], folded.goods)]
    assert most[0] > th.down_after and most[1] > th.up_after  # runs past down and up, folded


def _signals(rng: random.Random) -> list[Signal]:
    probed = ["m1-c1", "m1-c2", "m1-c3", "m1"]
    runs = {e: _answers(rng, 120) for e in probed}
    signals: list[Signal] = []
    for i in range(120):
        at = T0 + 30 * i
        for e in probed:
            ok = runs[e][i]
            signals.append(ProbeResult(at + rng.random(), e, ok, 1.5 if ok else None))
        if rng.random() < 0.3:
            b = f"m1-c{rng.randint(1, 3)}-b{rng.randint(1, 4)}"
            signals.append(Report(at + 5, b, Category.DOWN, f"{b}-{rng.randint(1, 30):03d}"))
    return signals


@pytest.mark.parametrize("seed", range(3))
async def test_replayed_rows_leave_the_engine_as_ingesting_each_signal(
    seed: int, tmp_path: Path, backend: Backend
) -> None:
    index = GraphIndex.build(load_topology(write_city(tmp_path / "city")))
    signals = _signals(random.Random(seed))
    store = backend.store()
    await store.open()
    await store.commit(Batch(signals=[StoredSignal(i, s, s.at) for i, s in enumerate(signals, 1)]))
    full = await store.signal_rows_since(T0)
    rows = await store.replay_rows_since(T0)
    assert rows == [r[:5] for r in full] and len(rows) == len(signals)
    replayed, ingested = Engine(index, first_id=1), Engine(index, first_id=1)
    Replay(replayed, T0, None).feed(rows)
    for row in full:
        ingested.ingest(signal_from_row(*row[1:5]))
    assert replayed.health == ingested.health
    assert any(h.fails > 3 for h in ingested.health.values())  # down runs were folded
    now = signals[-1].at + 1
    assert replayed.evaluate(now) == ingested.evaluate(now)
    await store.close()
