"""Both stores behind one test fixture: `backend` (tests/conftest.py) runs a test
once on SQLite (a file in its tmp_path) and once on PostgreSQL (a fresh database
on the session's real server, tests/postgres.py).

    async def test_x(backend: Backend) -> None:
        store = backend.store()          # not yet open
        backend.count("SELECT COUNT(*) FROM signals")   # read behind the store's back
        backend.config                   # a daemon Config section for it
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from outaged.config import StoreConfig
from outaged.store.base import Store
from outaged.store.postgres import PostgresStore
from outaged.store.sqlite import BUSY_TIMEOUT_MS, SqliteStore

BACKENDS = ("sqlite", "postgresql")
WRITTEN = "signals, outages, outage_events, deadlines, idempotency, outbox"


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    path: Path  # SQLite's file (absolute)
    url: str | None = None  # PostgreSQL's database

    def store(self, lock_wait_ms: int = BUSY_TIMEOUT_MS) -> Store:
        """A new store on this database (not yet open); `lock_wait_ms` is how long a
        write waits behind another session's lock (busy_timeout / lock_timeout)."""
        if self.url is not None:
            return PostgresStore(self.url, lock_timeout_ms=lock_wait_ms)
        return SqliteStore(self.path, busy_timeout_ms=lock_wait_ms)

    @property
    def config(self) -> StoreConfig:
        if self.url is not None:
            return StoreConfig(backend="postgresql", url=self.url)
        return StoreConfig(path=self.path)

    def yaml(self) -> str:
        """The `store:` section of a daemon config file."""
        if self.url is not None:
            return f"store:\n  url: '{self.url}'\n"
        return f"store:\n  path: {self.path}\n"

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of `sql` (`?` placeholders), on a connection of its own."""
        if self.url is not None:
            with psycopg.connect(self.url, autocommit=True) as db:
                return db.execute(sql.replace("?", "%s"), args).fetchall()
        with closing(sqlite3.connect(self.path)) as db:
            return db.execute(sql, args).fetchall()

    def write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """`sql` (`?` placeholders) once per row, in one transaction of its own."""
        if self.url is not None:
            with psycopg.connect(self.url) as pgdb:
                pgdb.cursor().executemany(sql.replace("?", "%s"), rows)
            return
        with closing(sqlite3.connect(self.path)) as lite, lite:
            lite.executemany(sql, rows)

    def count(self, sql: str, *args: Any) -> int:
        return int(self.query(sql, *args)[0][0])

    def lock(self) -> Callable[[], None]:
        """Another session's write lock on the store, held until the returned
        function is called; reads go on (SQLite WAL, PostgreSQL EXCLUSIVE mode)."""
        holder: psycopg.Connection[Any] | sqlite3.Connection
        if self.url is not None:
            holder = psycopg.connect(self.url)
            holder.execute(f"LOCK TABLE {WRITTEN} IN EXCLUSIVE MODE")
        else:
            holder = sqlite3.connect(self.path, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")

        def unlock() -> None:
            holder.rollback()
            holder.close()

        return unlock

    def poison(self, ticket: str) -> None:
        """Make the database itself refuse a report with this ticket id (a trigger
        aborts its insert, as a constraint would): one row refused inside a commit
        that holds others."""
        if self.url is not None:
            with psycopg.connect(self.url, autocommit=True) as db:
                db.execute(
                    "CREATE OR REPLACE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.ext_id = '{ticket}' THEN RAISE EXCEPTION 'poisoned row' "
                    "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$ "
                    "LANGUAGE plpgsql"
                )
                db.execute(
                    "CREATE OR REPLACE TRIGGER poison BEFORE INSERT ON signals "
                    "FOR EACH ROW EXECUTE FUNCTION poison()"
                )
            return
        with closing(sqlite3.connect(self.path)) as lite, lite:
            lite.execute(
                "CREATE TRIGGER IF NOT EXISTS poison BEFORE INSERT ON signals "
                f"WHEN NEW.ext_id = '{ticket}' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
            )
