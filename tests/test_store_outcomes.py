"""Queued requests' outcomes in the store (outaged/store/outcomes.py), on SQLite and
PostgreSQL: pending while the inbox row exists, decided in the commit that deletes
it, unknown otherwise; pruned by age in batches."""

from __future__ import annotations

from outaged.config import RetentionConfig
from outaged.store.base import Batch, QueuedOutcome
from outaged.store.retention import Pruner
from tests.stores import Backend

T0 = 1_790_000_000.0
INBOX = (
    "INSERT INTO ha_inbox (id, received_at, via, kind, actor, payload) VALUES (?, ?, ?, ?, ?, ?)"
)


def _id(n: int) -> str:
    return f"{n:032x}"


async def test_pending_then_decided_in_one_commit_then_unknown(backend: Backend) -> None:
    store = backend.store()
    await store.open()
    backend.write(INBOX, [(_id(1), T0, "n2", "action", "ops", "{}")])
    assert await store.queued(_id(1)) is True
    refused = QueuedOutcome(_id(1), "action", 409, '{"error": "no"}', T0 + 1)
    await store.commit(Batch(inbox=[_id(1)], outcomes=[refused]))
    assert await store.queued(_id(1)) == refused and refused.refused
    assert backend.count("SELECT COUNT(*) FROM ha_inbox") == 0
    again = QueuedOutcome(_id(1), "action", 200, "{}", T0 + 2)  # a re-decision keeps the first
    await store.commit(Batch(outcomes=[again]))
    assert await store.queued(_id(1)) == refused
    assert await store.queued(_id(2)) is False
    await store.close()


async def test_outcomes_are_pruned_by_age_with_idempotency_keys(backend: Backend) -> None:
    store = backend.store()
    await store.open()
    done = [QueuedOutcome(_id(i), "signals", 202, "{}", T0 + i * 3600) for i in range(10)]
    await store.commit(Batch(outcomes=done))
    assert await store.prune_outcomes(T0 + 4 * 3600, 3) == 3
    policy = RetentionConfig(idempotency_s=5 * 3600, batch_rows=2)
    pruner = Pruner(store, policy, lookback_s=0.0, clock=lambda: T0 + 10 * 3600)
    pruned = await pruner.prune(T0 + 10 * 3600)
    assert pruned.outcomes == 2  # decided before T0 + 5 h: ids 3 and 4
    assert await store.queued(_id(4)) is False
    assert await store.queued(_id(5)) == done[5]
    await store.close()
