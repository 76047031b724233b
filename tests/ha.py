"""Helpers for the tests of several instances on one PostgreSQL (outaged/ha)."""

from __future__ import annotations

import re

import psycopg

from outaged.store.migrations import MIGRATIONS


def schema(dsn: str) -> None:
    """The store's schema in the database `dsn` names."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statements in MIGRATIONS:
            for statement in statements:
                conn.execute(re.sub(r"\bINTEGER\b", "BIGINT", statement))
