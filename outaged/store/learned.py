"""The SQL of the learned report baselines' checkpoint, for both stores.

One row in `learned` (the decision step's last signal seq, the baselines' clock
and the city's counts as JSON) and one per (element, report class) in
`learned_counts`, written in the commit of the decision step that exported them
(outaged.correlate.baselines `Baselines.export`): only the element rows that
changed, or all of them (`whole`, replacing what was there). `?` placeholders.
"""

from __future__ import annotations

import json
from typing import Any

from outaged.correlate.baselines import Snapshot
from outaged.store.base import Learned

UPSERT_STATE = (
    "INSERT INTO learned (id, seq, start_at, now_at, folded_at, since, payload) "
    "VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, "
    "start_at = excluded.start_at, now_at = excluded.now_at, folded_at = excluded.folded_at, "
    "since = excluded.since, payload = excluded.payload"
)
CLEAR_COUNTS = "DELETE FROM learned_counts WHERE 1 = ?"
DELETE_COUNT = "DELETE FROM learned_counts WHERE element = ? AND cls = ?"
UPSERT_COUNT = (
    "INSERT INTO learned_counts (element, cls, learned, at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (element, cls) DO UPDATE SET learned = excluded.learned, at = excluded.at"
)
SELECT_STATE = "SELECT seq, start_at, now_at, folded_at, since, payload FROM learned WHERE id = 1"
SELECT_COUNTS = "SELECT element, cls, learned, at FROM learned_counts"


def rows(learned: Learned | None) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The statements writing the checkpoint, in order, each with its rows."""
    if learned is None:
        return []
    s = learned.baselines
    payload = json.dumps(
        {
            "hour_time": list(s.hour_time),
            "hour_count": {c: list(h) for c, h in s.hour_count.items()},
            "city": {c: list(v) for c, v in s.city.items()},
        }
    )
    state = (learned.seq, s.start, s.now, s.folded, s.since, payload)
    gone = [key for key, row in s.own.items() if row is None]
    kept = [(e, c, row[0], row[1]) for (e, c), row in s.own.items() if row is not None]
    return [
        (UPSERT_STATE, [state]),
        (CLEAR_COUNTS, [(1,)] if s.whole else []),
        (DELETE_COUNT, gone),
        (UPSERT_COUNT, kept),
    ]


def found(state: list[tuple[Any, ...]], counts: list[tuple[Any, ...]]) -> Learned | None:
    """The checkpoint read back (None: none was written yet)."""
    if not state:
        return None
    ((seq, start, now, folded, since, payload),) = state
    data = json.loads(payload)
    snapshot = Snapshot(
        float(start),
        float(now),
        float(folded),
        float(since),
        tuple(float(t) for t in data["hour_time"]),
        {str(c): tuple(float(x) for x in h) for c, h in data["hour_count"].items()},
        {str(c): (float(v[0]), float(v[1])) for c, v in data["city"].items()},
        {(str(e), str(c)): (float(n), float(at)) for e, c, n, at in counts},
        True,
    )
    return Learned(int(seq), snapshot)
