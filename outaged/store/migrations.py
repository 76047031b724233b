"""Numbered schema migrations. Append, never edit: version N is the Nth entry.

The SQL is kept portable (SQLite and PostgreSQL): no autoincrement (the daemon
assigns every id and sequence number itself), DOUBLE PRECISION POSIX times,
TEXT JSON payloads. One difference is mapped, not written twice: INTEGER is
64-bit in SQLite and 32-bit in PostgreSQL, so `postgres()` gives each
statement its PostgreSQL form (BIGINT); both stores number versions alike
in a `schema_version` table.
"""

from __future__ import annotations

import re

_T = "DOUBLE PRECISION"


def postgres(statement: str) -> str:
    """The PostgreSQL form of a migration statement."""
    return re.sub(r"\bINTEGER\b", "BIGINT", statement)


MIGRATIONS: list[tuple[str, ...]] = [
    # 1: outages, their timelines and deadlines, signals, tokens, idempotency keys
    (
        f"""CREATE TABLE outages (
            id INTEGER PRIMARY KEY,
            root TEXT NOT NULL,
            area TEXT NOT NULL,
            severity TEXT NOT NULL,
            network_status TEXT NOT NULL,
            state TEXT NOT NULL,
            assignee TEXT,
            occurred_at {_T} NOT NULL,
            opened_at {_T} NOT NULL,
            first_report_at {_T},
            network_restored_at {_T},
            dispatched_at {_T},
            acknowledged_at {_T},
            arrived_at {_T},
            diagnosed_at {_T},
            repair_reported_at {_T},
            verified_at {_T},
            callback_at {_T},
            closed_at {_T},
            cause TEXT,
            diagnosis_note TEXT,
            external_message TEXT,
            method TEXT,
            result TEXT,
            prevention TEXT,
            cancel_reason TEXT,
            core TEXT NOT NULL
        )""",
        "CREATE INDEX outages_state ON outages (state)",
        "CREATE INDEX outages_opened ON outages (opened_at)",
        f"""CREATE TABLE outage_events (
            outage_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            at {_T} NOT NULL,
            actor TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            PRIMARY KEY (outage_id, seq)
        )""",
        f"""CREATE TABLE deadlines (
            outage_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            due {_T} NOT NULL,
            met_at {_T},
            PRIMARY KEY (outage_id, name)
        )""",
        f"""CREATE TABLE signals (
            seq INTEGER PRIMARY KEY,
            at {_T} NOT NULL,
            received_at {_T} NOT NULL,
            kind TEXT NOT NULL,
            element TEXT NOT NULL,
            ext_id TEXT UNIQUE,
            actor TEXT,
            until_at {_T},
            payload TEXT NOT NULL
        )""",
        "CREATE INDEX signals_at ON signals (at)",
        "CREATE INDEX signals_kind ON signals (kind)",
        f"""CREATE TABLE tokens (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            sha256 TEXT NOT NULL UNIQUE,
            created_at {_T} NOT NULL,
            revoked_at {_T}
        )""",
        f"""CREATE TABLE idempotency (
            key TEXT PRIMARY KEY,
            request_sha256 TEXT NOT NULL,
            status INTEGER NOT NULL,
            body TEXT NOT NULL,
            created_at {_T} NOT NULL
        )""",
    ),
    # 2: idempotency keys are pruned by age (outaged/store/retention.py)
    ("CREATE INDEX idempotency_created ON idempotency (created_at)",),
    # 3: the notification outbox, written with the decision that queued each message
    (
        f"""CREATE TABLE outbox (
            id TEXT PRIMARY KEY,
            outage_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            event TEXT NOT NULL,
            recipient TEXT NOT NULL,
            channel TEXT NOT NULL,
            address TEXT NOT NULL,
            lang TEXT NOT NULL,
            context TEXT NOT NULL,
            created_at {_T} NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_at {_T} NOT NULL,
            sent_at {_T},
            last_error TEXT,
            UNIQUE (outage_id, event, recipient, channel, seq)
        )""",
        "CREATE INDEX outbox_state ON outbox (state)",
        "CREATE INDEX outbox_group ON outbox (outage_id, seq)",
    ),
    # 4: the call centre's bulletin: English message, expected restore time, calls counted
    (
        "ALTER TABLE outages ADD COLUMN external_message_en TEXT",
        f"ALTER TABLE outages ADD COLUMN eta {_T}",
        "ALTER TABLE outages ADD COLUMN eta_note TEXT",
        "ALTER TABLE outages ADD COLUMN calls INTEGER NOT NULL DEFAULT 0",
        f"ALTER TABLE outages ADD COLUMN updated_at {_T}",
    ),
    # 5: deadlines carry who owes them and what the daemon did about them
    (
        "ALTER TABLE deadlines ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
        f"ALTER TABLE deadlines ADD COLUMN set_at {_T}",
        f"ALTER TABLE deadlines ADD COLUMN reminded_at {_T}",
        f"ALTER TABLE deadlines ADD COLUMN missed_at {_T}",
        "ALTER TABLE deadlines ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0",
    ),
    # 6: several instances on PostgreSQL (outaged/ha): the leader's lease, the members'
    # heartbeats, what any instance took in for the leader to decide, and which
    # leader's epoch claimed an outbox row. Times are the database's clock.
    (
        f"""CREATE TABLE ha_lease (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            acquired_at {_T} NOT NULL,
            renewed_at {_T} NOT NULL,
            expires_at {_T} NOT NULL
        )""",
        f"""CREATE TABLE ha_members (
            name TEXT PRIMARY KEY,
            api TEXT NOT NULL,
            started_at {_T} NOT NULL,
            heartbeat_at {_T} NOT NULL,
            expires_at {_T} NOT NULL
        )""",
        f"""CREATE TABLE ha_inbox (
            id TEXT PRIMARY KEY,
            received_at {_T} NOT NULL,
            via TEXT NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT NOT NULL,
            payload TEXT NOT NULL
        )""",
        "CREATE INDEX ha_inbox_order ON ha_inbox (received_at, id)",
        "ALTER TABLE outbox ADD COLUMN claimed_epoch INTEGER",
    ),
    # 7: what the leader decided for each queued request (outaged.ha.inbox), written in
    # the commit that decided it and read by any instance (GET /api/v1/queued/{id});
    # pruned by age like Idempotency-Key answers
    (
        f"""CREATE TABLE ha_outcomes (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            status INTEGER NOT NULL,
            body TEXT NOT NULL,
            decided_at {_T} NOT NULL
        )""",
        "CREATE INDEX ha_outcomes_decided ON ha_outcomes (decided_at)",
    ),
    # 8: a counter bumped in the same transaction as every token added or revoked
    # (`outaged token`, another process): a daemon keeps verified tokens in memory
    # while the counter it reads per request has not moved (outaged/store/sqlite.py)
    (
        "CREATE TABLE token_generation (n INTEGER NOT NULL)",
        "INSERT INTO token_generation (n) VALUES (0)",
    ),
    # 9: the learned report baselines (outaged.correlate.baselines), checkpointed in a
    # decision step's commit about once a minute, so a restart re-reads only the
    # calls after it (outaged/store/learned.py)
    (
        f"""CREATE TABLE learned (
            id INTEGER PRIMARY KEY,
            seq INTEGER NOT NULL,
            start_at {_T} NOT NULL,
            now_at {_T} NOT NULL,
            folded_at {_T} NOT NULL,
            since {_T} NOT NULL,
            payload TEXT NOT NULL
        )""",
        f"""CREATE TABLE learned_counts (
            element TEXT NOT NULL,
            cls TEXT NOT NULL,
            learned {_T} NOT NULL,
            at {_T} NOT NULL,
            PRIMARY KEY (element, cls)
        )""",
    ),
]
